#!/usr/bin/env python3
"""bdevperf with each of SPDK bdevperf's options, as SPDK documents them: an SPDK user's
`bdevperf -c cfg.json -q 128 -o 4096 -w randread -t 5` loads that config (and leaves the
file as it was), -T/-C/-f/-S/-P/-F/-U/-l/-ll/-j/-H/-z mean what they mean in SPDK (-z: serve RPC
on the -r socket; at bdevperf.py's perform_tests, run and reply with the results), and the options
this bdevperf lacks are refused by name.

  test_spdk_options.py BDEVPERF WORK_DIR"""
import hashlib
import json
import os
import re
import socket
import subprocess
import sys
import time

from rpc_client import check, failures, request

bdevperf, work = sys.argv[1], os.path.abspath(sys.argv[2])
os.makedirs(work, exist_ok=True)
def run(*args):
    p = subprocess.run([bdevperf] + list(args), capture_output=True, text=True, timeout=120)
    return p.returncode, p.stdout + p.stderr


def jobs(out):
    return re.findall(r"^Job: (\S+) \(Core Mask (0x[0-9a-f]+)", out, re.M)


def digest(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


cfg = os.path.join(work, "cfg.json")
with open(cfg, "w") as f:
    json.dump({"subsystems": [{"subsystem": "bdev", "config": [
        {"method": "bdev_set_options", "params": {"bdev_io_pool_size": 65535}},
        {"method": "bdev_malloc_create", "params": {"name": "Malloc0", "num_blocks": 32768, "block_size": 512}},
        {"method": "bdev_null_create", "params": {"name": "Null0", "num_blocks": 32768, "block_size": 4096}},
        {"method": "bdev_wait_for_examine"}]}]}, f, indent=2)
before = digest(cfg)

# -c and --json load the config (both names, SPDK's), and never write the file.
for opt in ("-c", "--json"):
    rc, out = run(opt, cfg, "-q", "8", "-o", "4096", "-w", "randread", "-t", "1")
    check(rc == 0 and sorted(j[0] for j in jobs(out)) == ["Malloc0", "Null0"],
          f"{opt} CONFIG: a job on each bdev of the config", out)
check(digest(cfg) == before, "the config file is unchanged after both runs")

# -T: only that bdev.
rc, out = run("-c", cfg, "-q", "8", "-o", "4096", "-w", "randread", "-t", "1", "-T", "Null0")
check(rc == 0 and [j[0] for j in jobs(out)] == ["Null0"], "-T BDEV: only that bdev", out)

# Without -C one job per bdev, the cores in turn; -C: every core on every bdev.
ncpu = os.cpu_count() or 1
if ncpu >= 2:
    rc, out = run("-c", cfg, "-q", "8", "-o", "4096", "-w", "randread", "-t", "1", "-m", "0x3")
    check(rc == 0 and sorted(j[1] for j in jobs(out)) == ["0x1", "0x2"], "-m 0x3: one job per bdev, one per core",
          out)
    rc, out = run("-c", cfg, "-q", "8", "-o", "4096", "-w", "randread", "-t", "1", "-m", "0x3", "-C")
    check(rc == 0 and len(jobs(out)) == 4, "-C: a job per core per bdev", out)
else:
    print("skip -m 0x3 / -C: one CPU")

# A job stops at its first failed I/O; -f carries on.
fault = ["--fault", "inject://Null0?op=read&every=50"]
results = os.path.join(work, "results.json")


def result():
    with open(results) as f:
        return json.load(f)["results"][0]


rc, out = run("-q", "4", "-o", "4096", "-w", "randread", "-t", "2", "-b", "null:///Null0?size_mb=64",
              "--results-json", results, *fault)
res = result()
check(rc != 0 and res["status"] == "failed" and res["io_failed"] >= 1 and res["runtime"] < 1.5,
      "no -f: the job stops at its first failure", out)
rc, out = run("-q", "4", "-o", "4096", "-w", "randread", "-t", "2", "-f", "-b", "null:///Null0?size_mb=64",
              "--results-json", results, *fault)
res = result()
check(res["status"] == "finished" and res["io_failed"] > 10 and res["runtime"] >= 1.9, "-f: it runs on", out)

# -S PERIOD prints IOPS every PERIOD seconds; -P needs -S.
rc, out = run("-q", "8", "-o", "4096", "-w", "randread", "-t", "3", "-S", "1", "-P", "2", "-b", "null:///N?size_mb=64")
check(rc == 0 and len(re.findall(r"^\s+[0-9.]+ IOPS,", out, re.M)) >= 2, "-S 1 -P 2: a line a second", out)
rc, out = run("-q", "8", "-o", "4096", "-w", "randread", "-t", "1", "-P", "2")
check(rc == 1 and "-P option must be specified with -S option" in out, "-P without -S is refused as in SPDK", out)

# -F THETA: zipf offsets; a negative theta is refused.
rc, out = run("-q", "8", "-o", "4096", "-w", "randread", "-t", "1", "-F", "0.9", "-b", "null:///N?size_mb=64")
check(rc == 0 and re.search(r"^Total\s+:\s+[1-9]", out, re.M), "-F 0.9: zipf random reads run", out)
check(run("-q", "8", "-o", "4096", "-w", "randread", "-t", "1", "-F", "-1")[0] != 0, "-F -1 is refused")

# -U: every block of every write is unique: the file shows no two equal written blocks.
img = os.path.join(work, "unique.img")
with open(img, "wb") as f:
    f.truncate(4 << 20)
rc, out = run("-q", "4", "-o", "8192", "-w", "write", "-t", "1", "-U", "-b", f"aio://{img}?name=U0")
with open(img, "rb") as f:
    data = f.read()
blocks = [data[i:i + 512] for i in range(0, len(data), 512)]
written = [b for b in blocks if b != bytes(512)]
check(rc == 0 and len(written) == len(blocks) and len(set(written)) == len(written),
      f"-U: all {len(blocks)} blocks written and all different", out)

# -l and -ll: latency percentiles, -ll at every SPDK cut-off.
rc, out = run("-q", "8", "-o", "4096", "-w", "randread", "-t", "1", "-l", "-b", "null:///N?size_mb=64")
check(rc == 0 and "Latency percentiles (us): p50" in out, "-l: percentiles", out)
rc, out = run("-q", "8", "-o", "4096", "-w", "randread", "-t", "1", "-ll", "-b", "null:///N?size_mb=64")
check(rc == 0 and "99.99900%" in out and " 1.00000%" in out, "-ll: every cut-off", out)

# -j JOBFILE: SPDK's job file; bs/iodepth/rw from [global].
jobfile = os.path.join(work, "jobs.conf")
with open(jobfile, "w") as f:
    f.write("[global]\nbs=4096\niodepth=8\nrw=randread\n\n[job0]\nfilename=Malloc0\noffset=0\nlength=8192\n\n"
            "[job1]\nfilename=Null0\ncpumask=0x1\n")
rc, out = run("-c", cfg, "-j", jobfile, "-t", "1")
check(rc == 0 and "Using job config with 2 jobs" in out and sorted(j[0] for j in jobs(out)) == ["Malloc0", "Null0"],
      "-j JOBFILE: a job per section", out)
with open(jobfile, "a") as f:
    f.write("\n[job2]\nfilename=Null0\nbs=512\n")
rc, out = run("-c", cfg, "-j", jobfile, "-t", "1")
check(rc != 0 and "one value for every job" in out, "-j: a per-job bs is refused by name", out)

# -H (non-hugepage buffers) is accepted; SPDK options this bdevperf lacks are refused by name.
check(run("-q", "8", "-o", "4096", "-w", "randread", "-t", "1", "-H", "-b", "null:///N?size_mb=64")[0] == 0,
      "-H is accepted")
rc, out = run("-q", "8", "-o", "4096", "-w", "randread", "-t", "1", "-Z")
check(rc == 2 and "zcopy" in out, "-Z is refused by name", out)


# -z: bdevperf waits on its -r socket until bdevperf.py perform_tests comes, runs then, and answers
# with SPDK's results object; perform_tests' parameters (SPDK's names) override the command line's.
def wait_test(params, *args):
    sock = os.path.join(work, "bdevperf.sock")
    p = subprocess.Popen([bdevperf, "-z", "-r", sock, "-b", "malloc:///Mz?size_mb=16"] + list(args),
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 20
    while not os.path.exists(sock) and time.time() < deadline and p.poll() is None:
        time.sleep(0.02)
    time.sleep(1.0)  # well past start-up: a bdevperf that did not wait would be running by now
    waited = p.poll() is None
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    conn.settimeout(60)
    conn.connect(sock)
    other = request(conn, "bdev_get_bdevs", 1)
    t0 = time.time()
    reply = request(conn, "perform_tests", 2, params)
    took = time.time() - t0
    # As SPDK's, bdevperf -z keeps serving after a run, until a signal.
    request(conn, "spdk_kill_instance", 3, {"sig_name": "SIGTERM"})
    out, _ = p.communicate(timeout=60)
    return waited, other, reply, took, p.returncode, out


waited, other, reply, took, rc, out = wait_test(None, "-q", "8", "-o", "4096", "-w", "randread", "-t", "1")
check(waited and "Running I/O" not in out.split("Waiting for the perform_tests RPC")[0],
      "-z: bdevperf waits for perform_tests instead of running", out)
check([b.get("name") for b in other.get("result", [])] == ["Mz"],
      "-z: the socket serves the library's other methods too (bdev_get_bdevs)", json.dumps(other))
res = reply.get("result", {})
job = res.get("results", [{}])[0]
check(reply.get("id") == 2 and res.get("core_count") == 1 and job.get("job") == "Mz" and
      job.get("workload") == "randread" and job.get("status") == "finished" and job.get("iops", 0) > 0 and
      0.9 <= job.get("runtime", 0) < 3 and took >= 0.9 and rc == 0,
      "-z: perform_tests runs the jobs and replies with SPDK's results when they are done", json.dumps(reply) + out)
waited, other, reply, took, rc, out = wait_test(
    {"time_in_sec": 2, "workload_type": "randwrite", "queue_depth": 4, "io_size": "8192"}, "-t", "1")
job = reply.get("result", {}).get("results", [{}])[0]
check(job.get("workload") == "randwrite" and job.get("queue_depth") == 4 and job.get("io_size") == 8192 and
      job.get("runtime", 0) >= 1.9 and took >= 1.9 and rc == 0,
      "-z: perform_tests' time_in_sec, workload_type, queue_depth and io_size set the run", json.dumps(reply) + out)

print(f"{len(failures)} failures")
sys.exit(1 if failures else 0)
