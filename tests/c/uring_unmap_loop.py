#!/usr/bin/env python3
"""A uring bdev on a loop device unmaps and zeroes what it advertises: bdevperf's unmap and
write_zeroes workloads run without a failed I/O (an advertised unmap the device refuses fails
every one: EOPNOTSUPP, as on a brd ram disk of Linux 6.1), the unmapped range reads back as
zeroes and the backing file's blocks are given back (the loop driver punches holes for a
discard). On Linux 6.12 and later the unmap goes out as io_uring's BLOCK_URING_CMD_DISCARD,
before as fallocate's hole punch (loop devices take write zeroes). Needs root and losetup:
exit 77 (skipped) without.

  uring_unmap_loop.py BDEVPERF WORK_DIR"""
import json
import os
import shutil
import subprocess
import sys

bdevperf, work = sys.argv[1], os.path.abspath(sys.argv[2])
if os.geteuid() != 0 or not shutil.which("losetup"):
    print("skip: needs root and losetup")
    sys.exit(77)
os.makedirs(work, exist_ok=True)
img = os.path.join(work, "loop.img")
size = 32 << 20
with open(img, "wb") as f:
    block = bytes((i * 7 + 1) & 0xff or 1 for i in range(1 << 20))
    for _ in range(size >> 20):
        f.write(block)
    f.flush()
    os.fsync(f.fileno())
p = subprocess.run(["losetup", "-f", "--show", img], capture_output=True, text=True)
if p.returncode != 0:
    print("skip: losetup -f failed:", p.stderr.strip())
    sys.exit(77)
dev = p.stdout.strip()
failures = []


def check(cond, what, out=""):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)
        print(str(out)[-3000:])


def run(workload):
    r = subprocess.run([bdevperf, "-q", "8", "-o", "65536", "-w", workload, "-t", "1", "-b",
                        f"uring://{dev}?name=L0", "--results-json", "-"], capture_output=True, text=True, timeout=60)
    line = next((x for x in r.stdout.splitlines() if x.startswith('{"results"')), "{}")
    return r.returncode, json.loads(line), r.stdout + r.stderr


try:
    q = f"/sys/block/{os.path.basename(dev)}/queue"
    limits = {n: open(f"{q}/{n}").read().strip() for n in ("discard_max_bytes", "write_zeroes_max_bytes")}
    print(f"{dev}: {limits}, kernel {os.uname().release}")
    def discards():  # /sys/block/X/stat field 12: discard requests completed
        return int(open(f"/sys/block/{os.path.basename(dev)}/stat").read().split()[11])

    before, discards_before = os.stat(img).st_blocks, discards()
    rc, res, out = run("unmap")
    job = (res.get("results") or [{}])[0]
    check(rc == 0 and job.get("io_failed") == 0 and job.get("iops", 0) > 0,
          f"bdevperf -w unmap on uring://{dev}: every unmap succeeds", out)
    after = os.stat(img).st_blocks
    major, minor = (int(x) for x in os.uname().release.split(".")[:2])
    sent = discards() - discards_before
    if (major, minor) >= (6, 12):
        check(sent > 0, f"Linux {major}.{minor}: the unmaps reached the device as discards ({sent})")
    else:
        check(sent == 0, f"Linux {major}.{minor}: the unmaps went out as write zeroes (fallocate), no discard")
    check(after < before // 4, f"the loop device's backing file gave its blocks back ({before} -> {after} blocks)")
    fd = os.open(dev, os.O_RDONLY)
    try:
        data = os.pread(fd, 4 << 20, 0)
    finally:
        os.close(fd)
    check(data == bytes(len(data)), "the unmapped range reads back as zeroes")
    rc, res, out = run("write_zeroes")
    job = (res.get("results") or [{}])[0]
    check(rc == 0 and job.get("io_failed") == 0 and job.get("iops", 0) > 0,
          f"bdevperf -w write_zeroes on uring://{dev}: every write zeroes succeeds", out)
finally:
    subprocess.run(["losetup", "-d", dev])

print(f"{len(failures)} failures")
sys.exit(1 if failures else 0)
