#!/usr/bin/env python3
"""examples/c/lvs_check as a user runs it, on copies of the SPDK-made stores (fixtures/lvs):
each store (the dirty one too) checks with exit 0 and "0 problems"; a copy with one used-cluster
bit flipped exits 1 and names the problem; a file with no store exits 1 (super_block); a path
that is not there exits 2.

  test_lvs_check_tool.py LVS_CHECK WORKDIR"""
import os
import struct
import subprocess
import sys

FIXTURE_DIRS = [os.environ.get("NB_FIXTURES", ""),
                os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "fixtures"),
                "/work/shared/fixtures"]


def fixtures():
    for d in FIXTURE_DIRS:
        if d and os.path.isdir(os.path.join(d, "lvs")):
            return os.path.join(d, "lvs")
    sys.exit("fixtures/lvs not found (set NB_FIXTURES)")


def run(tool, path):
    p = subprocess.run([tool, path], capture_output=True, text=True, timeout=120)
    print(f"$ lvs_check {os.path.basename(path)} -> {p.returncode}\n{p.stdout}{p.stderr}", end="")
    return p.returncode, p.stdout


def main():
    tool, work = sys.argv[1], sys.argv[2]
    os.makedirs(work, exist_ok=True)
    lvs = fixtures()
    failures = []
    for name in ("lvsA", "lvsA-dirty", "lvsB", "pool0"):
        img = os.path.join(work, name + ".img")
        with open(img, "wb") as out:
            subprocess.run(["xz", "-dc", os.path.join(lvs, name + ".img.xz")], stdout=out, check=True)
        rc, text = run(tool, img)
        if rc != 0 or not text.rstrip().endswith(": 0 problems"):
            failures.append(f"{name}: exit {rc}, expected 0 and no problem")

    img = os.path.join(work, "lvsA.img")
    with open(img, "r+b") as f:
        super_block = f.read(4096)
        cluster_mask_start = struct.unpack_from("<I", super_block, 40)[0]
        at = cluster_mask_start * 4096 + 5  # the mask's bits follow its 5-byte header
        f.seek(at)
        bits = f.read(1)[0]
        f.seek(at)
        f.write(bytes([bits ^ 2]))  # cluster 1
    kind = "cluster_not_marked" if bits & 2 else "cluster_leaked"
    rc, text = run(tool, img)
    if rc != 1 or not any(line.startswith(kind + ": cluster 1 ") for line in text.splitlines()):
        failures.append(f"flipped cluster bit: exit {rc}, expected 1 and a {kind} line for cluster 1")

    blank = os.path.join(work, "blank.img")
    with open(blank, "wb") as f:
        f.truncate(8 << 20)
    rc, text = run(tool, blank)
    if rc != 1 or "super_block: " not in text:
        failures.append(f"blank file: exit {rc}, expected 1 and a super_block line")

    rc, _ = run(tool, os.path.join(work, "no-such-file.img"))
    if rc != 2:
        failures.append(f"missing file: exit {rc}, expected 2")

    for f in failures:
        print("FAIL:", f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
