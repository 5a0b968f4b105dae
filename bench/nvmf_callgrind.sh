#!/usr/bin/env bash
# Instructions per I/O on each side of NVMe/TCP (issue 11): bdevperf over our initiator against
# our target (nbdev_tgt), a null bdev behind it, loopback; each side under callgrind in its turn
# while the other runs natively, so the side measured is the bottleneck and is not idle. Each
# figure is a difference of two runs (SHORT and LONG seconds) over the difference of the I/O
# counts the target's null bdev reports (bdev_get_iostat), so start-up, connect and teardown
# cancel. The target's counts are taken between `callgrind_control -z` before a run and `-d`
# after it. User-space instructions only: callgrind does not see the kernel's side of a send or
# a receive. LIB_DIR: a libnativebdev.so to use instead of BUILD_DIR's (a publish with
# -p:StripSymbols=false gives callgrind_annotate the C# method names).
#
#   bench/nvmf_callgrind.sh BUILD_DIR [SHORT=2] [LONG=5] [LIB_DIR]   (KEEP=1: keep the callgrind files)
set -euo pipefail
BUILD=$(cd "$1" && pwd)
SHORT=${2:-2}
LONG=${3:-5}
LIB=${4:-}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
TGT=$BUILD/examples/c/nbdev_tgt
PERF=$BUILD/examples/c/bdevperf
RPC="python3 $ROOT/scripts/nbdev-rpc"
command -v valgrind >/dev/null || { echo "valgrind not installed" >&2; exit 2; }
W=$(mktemp -d /tmp/nb-nvmfcg.XXXXXX)
[ -n "${KEEP:-}" ] && echo "callgrind files in $W"
PID=
cleanup() { [ -n "$PID" ] && kill -INT "$PID" 2>/dev/null; wait 2>/dev/null; [ -n "${KEEP:-}" ] || rm -rf "$W"; }
trap cleanup EXIT
[ -n "$LIB" ] && export LD_LIBRARY_PATH=$LIB
NQN=nqn.2026-12.io.nativebdev:callgrind
PORT=$((24000 + RANDOM % 8000))
cat >"$W/cfg.json" <<JSON
{"subsystems": [
 {"subsystem": "bdev", "config": [{"method": "bdev_null_create",
   "params": {"name": "Null0", "num_blocks": 2097152, "block_size": 512}}]},
 {"subsystem": "nvmf", "config": [
  {"method": "nvmf_create_transport", "params": {"trtype": "TCP"}},
  {"method": "nvmf_create_subsystem", "params": {"nqn": "$NQN", "allow_any_host": true}},
  {"method": "nvmf_subsystem_add_ns", "params": {"nqn": "$NQN", "namespace": {"bdev_name": "Null0"}}},
  {"method": "nvmf_subsystem_add_listener", "params": {"nqn": "$NQN",
   "listen_address": {"trtype": "tcp", "adrfam": "ipv4", "traddr": "127.0.0.1", "trsvcid": "$PORT"}}}]}]}
JSON
URI="nvmf://127.0.0.1:$PORT/$NQN"

start_target() { # [valgrind args...]
  "$@" "$TGT" -m 0x1 -r "$W/rpc.sock" -c "$W/cfg.json" >>"$W/tgt.log" 2>&1 &
  PID=$!
  for _ in $(seq 600); do
    $RPC -s "$W/rpc.sock" nvmf_get_subsystems 2>/dev/null | grep -q "\"trsvcid\": \"$PORT\"" && return
    sleep 0.1
  done
  echo "nbdev_tgt did not come up (see $W/tgt.log)" >&2
  exit 1
}
stop_target() { kill -INT "$PID"; wait "$PID" || true; PID=; }
reads() {
  $RPC -s "$W/rpc.sock" bdev_get_iostat -b Null0 |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["bdevs"][0]["num_read_ops"])'
}
ir() { awk '/^(summary|totals):/ {print $2; exit}' "$1"; }
perf() { # SECONDS QD BYTES [prefix...]
  local t=$1 qd=$2 bytes=$3
  shift 3
  "$@" "$PERF" -m 0x2 -q "$qd" -o "$bytes" -w randread -t "$t" -b "$URI" >"$W/perf.log" 2>&1 ||
    { cat "$W/perf.log" >&2; exit 1; }
}
per_io() { # IR_SHORT IR_LONG IOS_SHORT IOS_LONG
  echo "$1 $2 $3 $4" | awk '{printf "%.0f instructions per I/O (%d I/Os, %d I/Os)", ($2 - $1) / ($4 - $3), $3, $4}'
}

initiator() { # QD BYTES
  local i=() n=() t r0
  start_target
  for t in "$SHORT" "$LONG"; do
    r0=$(reads)
    perf "$t" "$1" "$2" valgrind --tool=callgrind --callgrind-out-file="$W/ini.$t"
    n+=($(($(reads) - r0)))
    i+=("$(ir "$W/ini.$t")")
  done
  stop_target
  per_io "${i[0]}" "${i[1]}" "${n[0]}" "${n[1]}"
}

target() { # QD BYTES
  local i=() n=() t r0
  start_target valgrind --tool=callgrind --callgrind-out-file="$W/tgt.%p"
  for t in "$SHORT" "$LONG"; do
    r0=$(reads)
    rm -f "$W"/tgt.*.[0-9]*
    callgrind_control -z "$PID" >/dev/null 2>&1
    perf "$t" "$1" "$2"
    callgrind_control -d "$PID" >/dev/null 2>&1
    n+=($(($(reads) - r0)))
    i+=("$(ir "$(ls "$W"/tgt."$PID".* | sort | tail -1)")")
  done
  stop_target
  per_io "${i[0]}" "${i[1]}" "${n[0]}" "${n[1]}"
}

echo "== NVMe/TCP instructions per I/O (callgrind, user space), null bdev, loopback, ${SHORT} s and ${LONG} s runs"
echo "initiator (bdevperf), 4 KiB randread QD128:   $(initiator 128 4096)"
echo "target (nbdev_tgt),   4 KiB randread QD128:   $(target 128 4096)"
echo "initiator (bdevperf), 128 KiB randread QD32:  $(initiator 32 131072)"
echo "target (nbdev_tgt),   128 KiB randread QD32:  $(target 32 131072)"
