#!/usr/bin/env python3
"""SPDK's nbd_start_disk / nbd_stop_disk / nbd_get_disks against nbdev_tgt on a host where the
kernel's nbd driver is not loaded (no /dev/nbdX): every refusal SPDK makes, with SPDK's code
and message, and the daemon answering the next call after each. The devices themselves are
exercised in the QEMU guest (tests/vm/guest/nbd_kernel.sh).

  test_nbd_disk_rpc.py NBDEV_TGT SCRIPTS_DIR WORK_DIR"""
import json
import os
import subprocess
import sys
import time

tgt, scripts, work = sys.argv[1], sys.argv[2], os.path.abspath(sys.argv[3])
rpc = os.path.join(scripts, "nbdev-rpc")
os.makedirs(work, exist_ok=True)
sock = os.path.join(work, "tgt.sock")
failures = []

if os.path.exists("/dev/nbd0"):
    print("skip: this host has /dev/nbd0 (the kernel's nbd driver is loaded); the refusals of a host without "
          "it are not what this test would see")
    sys.exit(0)


def check(cond, what, detail=""):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)
        print(detail)


def raw(method, params=None):
    """The reply object of one request, sent as rpc.py sends it."""
    import socket
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(sock)
    req = {"jsonrpc": "2.0", "method": method, "id": 1}
    if params is not None:
        req["params"] = params
    s.sendall(json.dumps(req, indent=2).encode())
    buf, dec = b"", json.JSONDecoder()
    while True:
        chunk = s.recv(65536)
        if not chunk:
            raise ConnectionError(f"{method}: connection closed")
        buf += chunk
        try:
            reply, _ = dec.raw_decode(buf.decode())
            s.close()
            return reply
        except ValueError:
            continue


def error_is(reply, code, message):
    return reply.get("error", {}).get("code") == code and reply["error"].get("message") == message


if os.path.exists(sock):
    os.unlink(sock)
p = subprocess.Popen([tgt, "-r", sock], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
deadline = time.time() + 20
while time.time() < deadline and not os.path.exists(sock):
    time.sleep(0.02)
time.sleep(0.1)

r = raw("bdev_malloc_create", {"name": "Malloc0", "num_blocks": 2048, "block_size": 512})
check(r.get("result") == "Malloc0", "bdev_malloc_create Malloc0", r)

r = raw("nbd_get_disks")
check(r.get("result") == [], "nbd_get_disks: none (SPDK's recorded reply)", r)
r = raw("nbd_start_disk", {"bdev_name": "Malloc0"})
check(error_is(r, -19, "nbd device not found"), "nbd_start_disk without nbd_device and no /dev/nbdX: -19", r)
r = raw("nbd_start_disk", {"bdev_name": "Malloc0", "nbd_device": "/dev/nbd0"})
check(error_is(r, -2, "No such file or directory"), "nbd_start_disk /dev/nbd0 that does not exist: -2", r)
r = raw("nbd_start_disk", {"bdev_name": "NoSuchBdev", "nbd_device": "/dev/nbd0"})
check(error_is(r, -19, "No such device"), "nbd_start_disk of a missing bdev: -19 No such device", r)
for bad in ("/dev/sda", "/dev/nbd", "/dev/nbd0p1", "/dev/nbdx", "nbd0"):
    r = raw("nbd_start_disk", {"bdev_name": "Malloc0", "nbd_device": bad})
    check(error_is(r, -19, f"illegal nbd device {bad}"), f"nbd_start_disk {bad}: -19 illegal nbd device", r)
r = raw("nbd_start_disk", {"nbd_device": "/dev/nbd0"})
check(r.get("error", {}).get("code") == -32602 and "bdev_name" in r["error"]["message"],
      "nbd_start_disk without bdev_name: -32602 naming it", r)
r = raw("nbd_start_disk", {"bdev_name": 7})
check(r.get("error", {}).get("code") == -32602, "nbd_start_disk with a number for bdev_name: -32602", r)
r = raw("nbd_stop_disk", {"nbd_device": "/dev/nbd0"})
check(error_is(r, -19, "No such device"), "nbd_stop_disk of a device not ours: -19", r)
r = raw("nbd_stop_disk", {})
check(error_is(r, -19, "invalid nbd device"), "nbd_stop_disk without nbd_device: -19 invalid nbd device", r)
r = raw("nbd_get_disks", {"nbd_device": "/dev/nbd0"})
check(error_is(r, -19, "No such device"), "nbd_get_disks of a device not ours: -19", r)
r = raw("nbd_get_disks", {})
check(r.get("result") == [], "nbd_get_disks with empty params: []", r)
r = raw("framework_get_config", {"name": "nbd"})
check(r.get("result") == [], "framework_get_config nbd: [] (no disk was left half-made)", r)
r = raw("rpc_get_methods")
check(all(m in r.get("result", []) for m in ("nbd_start_disk", "nbd_stop_disk", "nbd_get_disks")),
      "rpc_get_methods lists the three nbd disk methods", r)
r = raw("bdev_malloc_delete", {"name": "Malloc0"})
check(r.get("result") is True, "Malloc0 deletes: no descriptor was left open by the failed starts", r)

p.terminate()
try:
    out, _ = p.communicate(timeout=30)
except subprocess.TimeoutExpired:
    p.kill()
    out, _ = p.communicate()
check(p.returncode == 0, "nbdev_tgt exits 0 on SIGTERM", out)

if failures:
    print(f"{len(failures)} failed")
    sys.exit(1)
print("all passed")
