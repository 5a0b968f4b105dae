#!/usr/bin/env python3
"""scripts/nbdev-rpc sends what SPDK's rpc.py sends: every command line of fixtures/rpc/INDEX
that nbdev-rpc knows is run with --dry-run and its request compared, byte for byte, with the
one rpc.py v25.09 sent (fixtures/rpc/NNN.request.json). Commands it does not know yet are
counted and listed; at least MIN_KNOWN must be known."""
import json
import os
import shlex
import subprocess
import sys

MIN_KNOWN = 48

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.dirname(os.path.dirname(here))
script = os.path.join(root, "scripts", "nbdev-rpc")
# The workplace's shared fixtures: beside the checkout, or where CI's fresh clone finds them.
fixtures = next((d for d in (sys.argv[1] if len(sys.argv) > 1 else None,
                             os.environ.get("NB_FIXTURES") and os.path.join(os.environ["NB_FIXTURES"], "rpc"),
                             os.path.join(root, "..", "shared", "fixtures", "rpc"), "/work/shared/fixtures/rpc")
                 if d and os.path.isdir(d)), None)
if fixtures is None:
    sys.exit("fixtures/rpc not found (set NB_FIXTURES)")

known, unknown, failures = 0, [], []
with open(os.path.join(fixtures, "INDEX")) as f:
    lines = [l.rstrip("\n").split("\t", 1) for l in f if l.strip()]
for number, cmdline in lines:
    if cmdline.startswith("RAW"):
        continue
    args = shlex.split(cmdline)
    if args[0] in ("save_config", "load_config"):
        continue  # client-side compositions of several requests
    proc = subprocess.run([sys.executable, script, "--dry-run"] + args, capture_output=True, text=True)
    if proc.returncode != 0 and "invalid choice" in proc.stderr:
        unknown.append(args[0])
        continue
    known += 1
    with open(os.path.join(fixtures, number + ".request.json")) as f:
        theirs = f.read()
    ours = proc.stdout
    if json.loads(ours) != json.loads(theirs):
        failures.append(f"{number} {cmdline}:\n  ours:   {json.dumps(json.loads(ours))}\n"
                        f"  rpc.py: {json.dumps(json.loads(theirs))}")
    elif ours.strip() != theirs.strip():
        failures.append(f"{number} {cmdline}: same request, different bytes")

print(f"{known} commands compared, {len(set(unknown))} not known yet: {' '.join(sorted(set(unknown)))}")
for f in failures:
    print("FAIL", f)
if failures or known < MIN_KNOWN:
    sys.exit(1)
print("all requests match rpc.py's")
