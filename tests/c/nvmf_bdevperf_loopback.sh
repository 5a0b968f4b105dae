#!/usr/bin/env bash
# Ours against ours over loopback NVMe/TCP: nbdev_tgt on two reactors (-m 0x3, so two poll
# groups) exporting a malloc bdev, bdevperf on two reactors verifying through our nvmf://
# initiator with four I/O queues (four jobs, each its own thread and queue, two per core):
# 4 KiB (data in the capsule) and 1 MiB (split at the target's 128 KiB MDTS, each piece by
# R2T/H2CData, more data asked for than the target's 4 MiB of buffers per queue holds), QD 128
# both, digests off and on. Then nvmf_get_stats must show the I/O queues spread over both poll
# groups, each having completed I/O; and the target stops cleanly. (1 MiB at QD 128 keeps the
# whole 128 MiB of each job's range in flight: it needs bdevperf's skipping of offsets still
# outstanding, as SPDK's does; without it verify "failed" on a correct device.)
#
#   tests/c/nvmf_bdevperf_loopback.sh NBDEV_TGT BDEVPERF NBDEV_RPC WORKDIR [SECONDS=2]
set -euo pipefail
TGT=$1
PERF=$2
RPC=(python3 "$3")
W=$4
SECS=${5:-2}
rm -rf "$W"
mkdir -p "$W"
NQN=nqn.2026-12.io.nativebdev:perf-loopback
PID=
cleanup() { [ -n "$PID" ] && kill -INT "$PID" 2>/dev/null && wait "$PID" 2>/dev/null; true; }
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; echo "--- target log" >&2; tail -n 40 "$W/tgt.log" >&2; exit 1; }

# 512 MiB: four verify jobs of 128 x 1 MiB each.
cat >"$W/cfg.json" <<JSON
{"subsystems": [
 {"subsystem": "bdev", "config": [{"method": "bdev_malloc_create",
   "params": {"name": "Malloc0", "num_blocks": 1048576, "block_size": 512}}]},
 {"subsystem": "nvmf", "config": [
  {"method": "nvmf_create_transport", "params": {"trtype": "TCP"}},
  {"method": "nvmf_create_subsystem", "params": {"nqn": "$NQN", "allow_any_host": true}},
  {"method": "nvmf_subsystem_add_ns", "params": {"nqn": "$NQN", "namespace": {"bdev_name": "Malloc0"}}}]}]}
JSON
"$TGT" -m 0x3 -r "$W/rpc.sock" -c "$W/cfg.json" >"$W/tgt.log" 2>&1 &
PID=$!
for _ in $(seq 200); do
  "${RPC[@]}" -s "$W/rpc.sock" nvmf_get_subsystems >/dev/null 2>&1 && break
  sleep 0.05
done
# Port 0: the kernel picks a free one; nvmf_get_subsystems says which.
"${RPC[@]}" -s "$W/rpc.sock" nvmf_subsystem_add_listener "$NQN" -t tcp -a 127.0.0.1 -s 0 >/dev/null ||
  fail "add_listener"
PORT=$("${RPC[@]}" -s "$W/rpc.sock" nvmf_get_subsystems "$NQN" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["listen_addresses"][0]["trsvcid"])')
[ "$PORT" -gt 0 ] || fail "no port"

# Four jobs on one bdev, 128 MiB each, alternating the two cores.
{
  echo "[global]"
  for i in 0 1 2 3; do
    printf '[job%d]\nfilename=N0\ncpumask=0x%d\noffset=%d\nlength=262144\n' $i $((1 << (i % 2))) $((i * 262144))
  done
} >"$W/jobs.ini"

runs=0
for size in 4096 1048576; do
  qd=128
  for dig in "" "&hdgst=1&ddgst=1"; do
    uri="nvmf://127.0.0.1:$PORT/$NQN?nsid=1&name=N0&num_io_queues=4$dig"
    echo "== verify, $size bytes, QD $qd, 4 I/O queues, digests $([ -n "$dig" ] && echo on || echo off)"
    if ! "$PERF" -m 0x3 -q "$qd" -o "$size" -w verify -t "$SECS" -j "$W/jobs.ini" -b "$uri" >"$W/perf.log" 2>&1; then
      cat "$W/perf.log" >&2
      fail "bdevperf verify at $size bytes${dig:+ with digests}"
    fi
    grep -E "^ *Job|^Total" "$W/perf.log" || true
    total=$(awk '/^Total/ {print $3; exit}' "$W/perf.log")
    python3 -c "import sys; sys.exit(0 if float('$total') > 0 else 1)" || fail "no IOPS at $size bytes"
    runs=$((runs + 1))
  done
done

"${RPC[@]}" -s "$W/rpc.sock" nvmf_get_stats >"$W/stats.json" || fail "nvmf_get_stats"
cat "$W/stats.json"
python3 - "$W/stats.json" "$runs" <<'PY' || fail "poll groups"
import json, sys
groups = json.load(open(sys.argv[1]))["poll_groups"]
runs = int(sys.argv[2])
assert len(groups) == 2, f"{len(groups)} poll groups with two reactors"
io = [g["io_qpairs"] for g in groups]
assert all(n > 0 for n in io), f"I/O queues per poll group {io}: not spread"
assert sum(io) >= 4 * runs, f"{sum(io)} I/O queues for {runs} runs of 4"
assert all(g["completed_nvme_io"] > 0 for g in groups), "a poll group completed no I/O"
assert all(g["current_io_qpairs"] == 0 for g in groups), "I/O queues left after the hosts went"
assert sum(g["admin_qpairs"] for g in groups) == groups[0]["admin_qpairs"], "admin queues off the target thread"
print(f"poll groups: io_qpairs {io}, completed {[g['completed_nvme_io'] for g in groups]}")
PY

kill -INT "$PID"
rc=0
wait "$PID" || rc=$?
PID=
[ "$rc" = 0 ] || fail "nbdev_tgt exited with $rc"
echo "PASS"
