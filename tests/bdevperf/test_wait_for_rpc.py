#!/usr/bin/env python3
"""bdevperf -z as SPDK's test scripts drive it: started with no bdev, it serves the library's
RPC methods on its -r socket; bdevs are made over that socket (scripts/nbdev-rpc, the way
`rpc.py -s SOCK bdev_malloc_create 64 512` does), then each bdevperf.py perform_tests runs the
jobs over the bdevs there are then and is answered with the results; a second perform_tests
during a run is refused, bdevperf keeps serving after a run, and stops at spdk_kill_instance.

  test_wait_for_rpc.py BDEVPERF NBDEV_RPC WORK_DIR"""
import json
import os
import socket
import subprocess
import sys
import threading
import time

from rpc_client import check, failures, read_reply, request

bdevperf, nbdev_rpc, work = sys.argv[1], sys.argv[2], os.path.abspath(sys.argv[3])
os.makedirs(work, exist_ok=True)
sock = os.path.join(work, "bdevperf.sock")
def connect():
    c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    c.settimeout(60)
    c.connect(sock)
    return c


def nbdev(*args):
    p = subprocess.run([sys.executable, nbdev_rpc, "-s", sock, "-t", "30"] + list(args), capture_output=True,
                       text=True, timeout=40)
    return p.returncode, (p.stdout + p.stderr).strip()


if os.path.exists(sock):
    os.unlink(sock)
p = subprocess.Popen([bdevperf, "-z", "-r", sock, "-q", "8", "-o", "4096", "-w", "randread", "-t", "1"],
                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
deadline = time.time() + 20
while not os.path.exists(sock) and time.time() < deadline and p.poll() is None:
    time.sleep(0.02)
check(os.path.exists(sock) and p.poll() is None, "-z: bdevperf listens on its -r socket")
try:
    conn = connect()
    r = request(conn, "bdev_get_bdevs", 1)
    check(r.get("result") == [], "-z: no bdev to start with (no default Malloc0 with -z)", r)
    r = request(conn, "perform_tests", 2)
    check(r.get("error", {}).get("code") == -32603 and "No such device" in r["error"].get("message", ""),
          "-z: perform_tests with no bdev is an error, and bdevperf keeps serving", r)

    rc, out = nbdev("bdev_malloc_create", "16", "512")
    check(rc == 0 and out == "Malloc0", "nbdev-rpc bdev_malloc_create 16 512 over bdevperf's socket", out)
    rc, out = nbdev("bdev_null_create", "Null0", "16", "4096")
    check(rc == 0 and out == "Null0", "nbdev-rpc bdev_null_create over bdevperf's socket", out)
    r = request(conn, "rpc_get_methods", 3)
    methods = r.get("result", [])
    check("perform_tests" in methods and "bdev_malloc_create" in methods and "bdev_nvme_attach_controller" in methods,
          "rpc_get_methods lists the library's methods and perform_tests", r)

    # A run over both bdevs; a second perform_tests meanwhile is refused as SPDK refuses it.
    t0 = time.time()
    conn.sendall(json.dumps({"jsonrpc": "2.0", "method": "perform_tests", "id": 4}, indent=2).encode())
    time.sleep(0.3)
    with connect() as other:
        busy = request(other, "perform_tests", 5)
        stats = request(other, "bdev_get_iostat", 6, {"name": "Malloc0"})
    reply = read_reply(conn, "perform_tests")
    took = time.time() - t0
    check(busy.get("error", {}).get("code") == -32603 and
          busy["error"].get("message") == "Operation now in progress",
          "perform_tests during a run: -32603 Operation now in progress", busy)
    check(stats.get("result", {}).get("bdevs", [{}])[0].get("name") == "Malloc0",
          "other methods are served during a run (bdev_get_iostat)", stats)
    check(reply.get("id") == 4, "the perform_tests reply comes when the run is over", reply)
    res = reply.get("result", {})
    names = sorted(j.get("job") for j in res.get("results", []))
    check(names == ["Malloc0", "Null0"] and res.get("core_count") == 1 and took >= 0.9 and
          all(j.get("status") == "finished" and j.get("iops", 0) > 0 and j.get("workload") == "randread"
              for j in res["results"]),
          "perform_tests runs a job on each bdev made over RPC and answers SPDK's results", reply)
    conn.close()

    # Again, with SPDK's perform_tests parameters, on a fresh connection; and a bad run.
    with connect() as c:
        bad = request(c, "perform_tests", 8, {"queue_depth": 0})
        check(bad.get("error", {}).get("code") == -32700 and
              bad["error"].get("message") == "Invalid parameters provided",
              "perform_tests with queue_depth 0: -32700 Invalid parameters provided", bad)
        rc, out = nbdev("bdev_null_delete", "Null0")
        check(rc == 0, "nbdev-rpc bdev_null_delete", out)
        # bdevperf.py's perform_tests arguments, through nbdev-rpc.
        rc, out = nbdev("perform_tests", "-t", "1", "-w", "randwrite", "-q", "4", "-o", "8k")
        try:
            r = {"result": json.loads(out)}
        except ValueError:
            r = {"output": out}
        jobs = r.get("result", {}).get("results", [])
        check(len(jobs) == 1 and jobs[0].get("job") == "Malloc0" and jobs[0].get("workload") == "randwrite" and
              jobs[0].get("queue_depth") == 4 and jobs[0].get("io_size") == 8192,
              "a second run (nbdev-rpc perform_tests -t 1 -w randwrite -q 4 -o 8k) over the bdevs there are now", r)
        stats = request(c, "bdev_get_iostat", 10, {"name": "Malloc0"})
        s = stats.get("result", {}).get("bdevs", [{}])[0]
        check(s.get("num_write_ops", 0) > 0 and s.get("num_read_ops", 0) > 0,
              "the bdev's statistics count both runs' I/O", stats)
        k = request(c, "spdk_kill_instance", 11, {"sig_name": "SIGTERM"})
        check(k.get("result") is True, "spdk_kill_instance SIGTERM is answered", k)
    out, _ = p.communicate(timeout=60)
    check(p.returncode == 0 and not os.path.exists(sock),
          "bdevperf -z stops at spdk_kill_instance: exit 0, socket removed", out)
    check(out.count("Running I/O for") == 2 and "Waiting for the perform_tests RPC" in out,
          "two runs were made, each printing SPDK's table", out)
finally:
    if p.poll() is None:
        p.kill()
        p.wait()

print(f"{len(failures)} failures")
sys.exit(1 if failures else 0)
