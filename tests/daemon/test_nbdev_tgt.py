#!/usr/bin/env python3
"""nbdev_tgt as its users run it: started with an SPDK config, driven with scripts/nbdev-rpc,
its config saved and loaded by a second daemon, stopped by SIGTERM, SIGINT and
spdk_kill_instance (exit 0, socket removed); a failing config stops it with status 1 and the
entry named; --wait-for-rpc loads the config only on framework_start_init; a nexus driven over
the socket (faulted, brought back, its rebuild paused and resumed, its history) and saved, and
a second daemon bringing it back.

  test_nbdev_tgt.py NBDEV_TGT SCRIPTS_DIR WORK_DIR"""
import json
import os
import signal
import subprocess
import sys
import time

tgt, scripts, work = sys.argv[1], sys.argv[2], os.path.abspath(sys.argv[3])
rpc = os.path.join(scripts, "nbdev-rpc")
os.makedirs(work, exist_ok=True)
sock = os.path.join(work, "tgt.sock")
failures = []


def check(cond, what, detail=""):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)
        print(detail)


def call(*args, expect_ok=True):
    p = subprocess.run([sys.executable, rpc, "-s", sock, "-t", "10"] + list(args), capture_output=True,
                       text=True, timeout=30)
    if expect_ok and p.returncode != 0:
        print(f"  nbdev-rpc {' '.join(args)}: {p.returncode} {p.stderr.strip()}")
    return p


def start(*args):
    if os.path.exists(sock):
        os.unlink(sock)
    p = subprocess.Popen([tgt, "-r", sock] + list(args), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         text=True)
    deadline = time.time() + 20
    while time.time() < deadline and p.poll() is None:
        if os.path.exists(sock) and call("spdk_get_version", expect_ok=False).returncode == 0:
            return p
        time.sleep(0.02)
    return p


def stop(p, how):
    if how == "rpc":
        call("spdk_kill_instance", "SIGTERM")
    else:
        p.send_signal(how)
    try:
        out, _ = p.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        p.kill()
        out, _ = p.communicate()
    return p.returncode, out


def bdev_names():
    p = call("bdev_get_bdevs")
    return sorted(b["name"] for b in json.loads(p.stdout)) if p.returncode == 0 else None


config = os.path.join(work, "start.json")
with open(config, "w") as f:
    json.dump({"subsystems": [
        {"subsystem": "iobuf", "config": [{"method": "iobuf_set_options", "params": {"small_pool_count": 8192}}]},
        {"subsystem": "bdev", "config": [
            {"method": "bdev_set_options", "params": {"bdev_io_pool_size": 65535}},
            {"method": "bdev_passthru_create", "params": {"base_bdev_name": "Malloc0", "name": "PT0"}},
            {"method": "bdev_malloc_create", "params": {"name": "Malloc0", "num_blocks": 8192, "block_size": 512}},
            {"method": "bdev_wait_for_examine"}]}]}, f)

# 1. Start with a config, add a bdev by RPC, save the config, stop by SIGTERM.
p = start("-c", config, "-m", "0x1")
check(p.poll() is None, "starts with -c and serves RPC")
check(bdev_names() == ["Malloc0", "PT0"], "the config's bdevs exist (passthru listed before its base)")
check(call("bdev_null_create", "Null0", "16", "4096").stdout.strip() == "Null0", "bdev_null_create by RPC")
check(os.stat(sock).st_mode & 0o777 == 0o600, "the RPC socket is 0600")
saved = os.path.join(work, "saved.json")
check(call("save_config", "-o", saved).returncode == 0, "save_config writes a file")
rc, out = stop(p, signal.SIGTERM)
check(rc == 0, f"SIGTERM: exit 0 (got {rc})")
check("nbdev_tgt: stopped" in out and not os.path.exists(sock), "SIGTERM: stopped, socket removed")
print(out)

# 2. A second daemon loads what the first saved, with metrics; spdk_kill_instance stops it.
port = 19464 + os.getpid() % 1000
p = start("--json", saved, "--metrics", f"127.0.0.1:{port}")
check(bdev_names() == ["Malloc0", "Null0", "PT0"], "the saved config brings back the same bdevs")
import urllib.request
try:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        body = r.read().decode()
        ctype = r.headers.get("Content-Type", "")
except OSError as e:
    body, ctype = f"scrape failed: {e}", ""
check(ctype.startswith("text/plain; version=0.0.4") and 'nbdev_bdev_ops_total{bdev="Null0",op="read"}' in body,
      "--metrics: a Prometheus scrape lists the bdevs", body[:2000])
rc, out = stop(p, "rpc")
check(rc == 0, f"spdk_kill_instance SIGTERM: exit 0 (got {rc})")

# 3. --wait-for-rpc: nothing until framework_start_init; then the config; SIGINT stops it.
p = start("--wait-for-rpc", "-c", config)
check(bdev_names() == [], "--wait-for-rpc: no bdevs before framework_start_init")
check(call("framework_start_init").returncode == 0, "framework_start_init")
check(call("framework_wait_init").returncode == 0, "framework_wait_init")
deadline = time.time() + 10
while time.time() < deadline and bdev_names() != ["Malloc0", "PT0"]:
    time.sleep(0.05)
check(bdev_names() == ["Malloc0", "PT0"], "--wait-for-rpc: the config is loaded after framework_start_init")
check(call("framework_start_init", expect_ok=False).returncode != 0, "a second framework_start_init is refused")
rc, out = stop(p, signal.SIGINT)
check(rc == 0, f"SIGINT: exit 0 (got {rc})")

# 4. A config that fails half-way stops the daemon with status 1, naming the entry.
bad = os.path.join(work, "bad.json")
with open(bad, "w") as f:
    json.dump({"subsystems": [{"subsystem": "bdev", "config": [
        {"method": "bdev_malloc_create", "params": {"name": "M1", "num_blocks": 64, "block_size": 512}},
        {"method": "bdev_malloc_create", "params": {"name": "M2", "num_blocks": 64, "block_size": 3}}]}]}, f)
p = subprocess.run([tgt, "-r", sock, "-c", bad], capture_output=True, text=True, timeout=30)
check(p.returncode == 1, f"a failing config: exit 1 (got {p.returncode})")
check("entry 1 (bdev_malloc_create)" in p.stdout + p.stderr, "a failing config: the entry is named")

# 5. Bad options and an unusable socket path.
check(subprocess.run([tgt, "--log-level", "loud"], capture_output=True).returncode == 2, "bad --log-level: 2")
check(subprocess.run([tgt, "-r", "/nonexistent-dir/x.sock"], capture_output=True, timeout=30).returncode == 1,
      "an RPC path that cannot be bound: exit 1")

# 6. A nexus over the socket: a child faulted and brought back, a rebuild paused and resumed,
#    the history; saved, and a second daemon brings it back.
def nexus():
    q = call("nexus_list", "-b", "NX")
    return json.loads(q.stdout)[0] if q.returncode == 0 else None


def child(n, name):
    return next((c for c in (n or {}).get("children", []) if c["name"] == name), None)


def wait_for(cond, seconds=10):
    deadline = time.time() + seconds
    while time.time() < deadline and not cond():
        time.sleep(0.05)
    return cond()


p = start("-m", "0x1")
check(call("bdev_malloc_create", "-b", "NM1", "4", "512").returncode == 0, "nexus: a malloc child by RPC")
check(call("nexus_create", "NX", "NM1", "malloc:///NM2?size_mb=4").stdout.strip() == "NX", "nexus_create")
n = nexus()
check(n is not None and n["state"] == "online" and len(n["children"]) == 2, "nexus_list: online, two children",
      json.dumps(n))
check(call("nexus_fault_child", "NX", "NM2").returncode == 0 and wait_for(
    lambda: (child(nexus(), "NM2") or {}).get("state") == "faulted"), "nexus_fault_child: NM2 faulted")
check(call("nexus_fault_child", "NX", "NM1", expect_ok=False).returncode != 0, "the last healthy child stays")
check(call("nexus_online_child", "NX", "NM2").returncode == 0, "nexus_online_child")
check(wait_for(lambda: (child(nexus(), "NM2") or {}).get("sync_state") == "synced"), "NM2 is synced again")
# A new child at 64 KiB/s (its 4 MiB would take a minute): paused, then resumed without the limit.
check(call("nexus_set_rebuild_rate", "NX", "65536").returncode == 0, "nexus_set_rebuild_rate: 64 KiB/s")
check(call("nexus_add_child", "NX", "malloc:///NM3?size_mb=4").returncode == 0, "nexus_add_child")
check(call("nexus_rebuild_pause", "NX", "NM3").returncode == 0, "nexus_rebuild_pause")
st = call("nexus_rebuild_stats", "NX", "NM3")
check(st.returncode == 0 and json.loads(st.stdout)["state"] == "paused", "nexus_rebuild_stats: paused", st.stdout)
check(call("nexus_set_rebuild_rate", "NX", "0").returncode == 0 and
      call("nexus_rebuild_resume", "NX", "NM3").returncode == 0, "nexus_rebuild_resume without the limit")
check(wait_for(lambda: (child(nexus(), "NM3") or {}).get("sync_state") == "synced"), "NM3 is synced")
h = call("nexus_rebuild_history", "NX")
records = json.loads(h.stdout)["records"] if h.returncode == 0 else []
check([(r["child"], r["state"], r["is_partial"]) for r in records] ==
      [("NM2", "completed", True), ("NM3", "completed", False)], "nexus_rebuild_history: both rebuilds", h.stdout)
saved_nx = os.path.join(work, "saved-nexus.json")
check(call("save_config", "-o", saved_nx).returncode == 0, "save_config with a nexus")
rc, out = stop(p, signal.SIGTERM)
check(rc == 0, f"nexus daemon: SIGTERM exit 0 (got {rc})", out)
with open(saved_nx) as f:
    text = f.read()
check('"nexus_create"' in text and '"bdev_malloc_create"' in text and '"NM2"' not in text.replace(
    "malloc:///NM2", ""), "the saved config makes NX, and NM2 only through it", text)
p = start("--json", saved_nx)
n = nexus()
check(n is not None and sorted(c["name"] for c in n["children"]) == ["NM1", "NM2", "NM3"] and
      n["state"] == "online", "the saved config brings the nexus back with its three children", json.dumps(n))
check(call("nexus_destroy", "NX").returncode == 0 and wait_for(lambda: bdev_names() == ["NM1"]),
      "nexus_destroy: the children it made go with it")
rc, out = stop(p, "rpc")
check(rc == 0, f"nexus daemon 2: exit 0 (got {rc})", out)

print(f"{len(failures)} failures")
sys.exit(1 if failures else 0)
