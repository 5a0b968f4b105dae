#!/usr/bin/env bash
# nbdev_tgt's start-up: from exec to its RPC socket accepting a connection (the moment rpc.py
# could talk to it), with no config, as `nbdev_tgt -r SOCK` starts. Each run is a fresh
# process; it is stopped with SIGTERM before the next. Prints the median, min and max of N runs
# (the issue's target: under 50 ms; SPDK's spdk_tgt takes about 0.26 s on this machine kind).
# A peer, when given as a command line with {SOCK} for the socket (e.g. SPDK's
# "spdk_tgt -r {SOCK}"), runs alternately with ours and gets the same figures.
#
#   bench/tgt_start.sh BUILD_DIR [RUNS=21] [PEER_COMMAND]
set -euo pipefail
BUILD=$(cd "$1" && pwd)
RUNS=${2:-21}
PEER=${3:-}
exec /usr/bin/python3 - "$BUILD/examples/c/nbdev_tgt" "$RUNS" "$PEER" <<'PY'
import os, signal, socket, statistics, subprocess, sys, tempfile, time

tgt, runs, peer = sys.argv[1], int(sys.argv[2]), sys.argv[3]
work = tempfile.mkdtemp(prefix="nb-tgtstart.")


def once(argv, sock):
    """Milliseconds from just before exec to the first successful connect()."""
    if os.path.exists(sock):
        os.unlink(sock)
    t0 = time.perf_counter()
    p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    deadline = t0 + 30
    while True:
        try:
            s.connect(sock)
            break
        except (FileNotFoundError, ConnectionRefusedError):
            if time.perf_counter() > deadline or p.poll() is not None:
                p.kill()
                raise SystemExit(f"{argv[0]} did not listen on {sock}")
            time.sleep(0.0001)
    ms = (time.perf_counter() - t0) * 1e3
    s.close()
    p.send_signal(signal.SIGTERM)
    p.wait(timeout=30)
    return ms


sides = {"nbdev_tgt": lambda sock: [tgt, "-r", sock]}
if peer:
    sides["peer"] = lambda sock: peer.replace("{SOCK}", sock).split()
times = {k: [] for k in sides}
once(sides["nbdev_tgt"](os.path.join(work, "warm.sock")), os.path.join(work, "warm.sock"))  # page cache
for i in range(runs):
    for name, argv in sides.items():
        sock = os.path.join(work, f"{name}.sock")
        times[name].append(once(argv(sock), sock))
for name, t in times.items():
    print(f"{name:10s} exec -> RPC socket accepting: median {statistics.median(t):6.1f} ms  "
          f"min {min(t):6.1f}  max {max(t):6.1f}  ({len(t)} runs)")
if peer:
    print(f"ratio nbdev_tgt / peer (medians): {statistics.median(times['nbdev_tgt']) / statistics.median(times['peer']):.2f}")
PY
