#!/usr/bin/env bash
# bdevperf over our NVMe/TCP initiator against our target on loopback, a null bdev behind it,
# one core each side (target: nbdev_tgt on core 0; initiator: bdevperf on core 1): 4 KiB
# randread QD128 IOPS, QD1 average latency, 128 KiB QD32 throughput, each with digests off and
# on. The peer in the same run is the kernel's own cost of the same exchange with no storage
# stack (bench/tcp_rr_peer.c: 72-byte requests answered with a C2HData header and the data,
# QD outstanding, the two ends on the same two cores), and the ceiling: the same two cores
# streaming bytes one way over one loopback connection as fast as the kernel copies them,
# counted in answers of the I/O's size (no stack can move more). Rounds alternate ours and the
# peers (the target runs only during our rounds); medians are printed with the ratios ours/peer
# and ours/ceiling.
#
#   bench/nvmf_tcp.sh BUILD_DIR [ROUNDS=3] [SECONDS=5]
set -euo pipefail
BUILD=$(cd "$1" && pwd)
ROUNDS=${2:-3}
SECS=${3:-5}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
TGT=$BUILD/examples/c/nbdev_tgt
PERF=$BUILD/examples/c/bdevperf
RPC="python3 $ROOT/scripts/nbdev-rpc"
W=$(mktemp -d /tmp/nb-nvmfbench.XXXXXX)
PID=
cleanup() { [ -n "$PID" ] && kill -INT "$PID" 2>/dev/null; wait 2>/dev/null; rm -rf "$W"; }
trap cleanup EXIT
cc -O2 -o "$W/tcp_rr_peer" "$HERE/tcp_rr_peer.c"
NQN=nqn.2026-12.io.nativebdev:bench
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
# The target runs only while our side is measured: its reactor polls core 0 without pause, so a
# peer run beside it would share core 0 with that loop and look slower than it is.
start_target() {
  "$TGT" -m 0x1 -r "$W/rpc.sock" -c "$W/cfg.json" >>"$W/tgt.log" 2>&1 &
  PID=$!
  for _ in $(seq 200); do
    $RPC -s "$W/rpc.sock" nvmf_get_subsystems 2>/dev/null | grep -q "\"trsvcid\": \"$PORT\"" && return
    sleep 0.05
  done
  echo "nbdev_tgt did not come up (see $W/tgt.log)" >&2
  exit 1
}
stop_target() { kill -INT "$PID"; wait "$PID" || true; PID=; }
URI="nvmf://127.0.0.1:$PORT/$NQN"

ours() { # QD BYTES QUERY -> "IOPS MiB/s avg_us"
  start_target
  "$PERF" -m 0x2 -q "$1" -o "$2" -w randread -t "$SECS" -b "$URI${3:+?$3}" |
    awk '/^Total/ {print $3, $4, $7; exit}'
  stop_target
}
peer() { # QD BYTES -> "ops/s MiB/s"
  local p=$((PORT + 1 + RANDOM % 1000))
  taskset -c 0 "$W/tcp_rr_peer" server $p 72 $((24 + $2)) &
  local s=$!
  taskset -c 1 "$W/tcp_rr_peer" client $p 72 $((24 + $2)) "$1" "$SECS"
  wait $s 2>/dev/null || true
}
ceiling() { # BYTES -> "ops/s MiB/s"
  local p=$((PORT + 1 + RANDOM % 1000))
  taskset -c 0 "$W/tcp_rr_peer" stream-server $p 0 $((24 + $1)) &
  local s=$!
  taskset -c 1 "$W/tcp_rr_peer" stream-client $p 0 $((24 + $1)) 1 "$SECS"
  wait $s 2>/dev/null || true
}
median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }

row() { # LABEL QD BYTES QUERY FIELD(1 iops, 2 MiB/s, 3 avg us)
  local label=$1 qd=$2 bytes=$3 query=$4 field=$5 o=() p=() c=() i
  for i in $(seq "$ROUNDS"); do
    o+=("$(ours "$qd" "$bytes" "$query" | awk -v f="$field" '{print $f}')")
    if [ "$field" != 3 ]; then
      p+=("$(peer "$qd" "$bytes" | awk -v f="$field" '{print $f}')")
      c+=("$(ceiling "$bytes" | awk -v f="$field" '{print $f}')")
    fi
  done
  local om pm cm
  om=$(printf '%s\n' "${o[@]}" | median)
  if [ "$field" = 3 ]; then
    printf '%-36s ours %10s us (median of %s: %s)\n' "$label" "$om" "$ROUNDS" "${o[*]}"
    return
  fi
  pm=$(printf '%s\n' "${p[@]}" | median)
  cm=$(printf '%s\n' "${c[@]}" | median)
  printf '%-36s ours %10s  socket peer %10s (%.2f)  stream ceiling %10s (%.2f)   (ours: %s)\n' "$label" "$om" \
    "$pm" "$(echo "$om / $pm" | bc -l)" "$cm" "$(echo "$om / $cm" | bc -l)" "${o[*]}"
}
echo "== NVMe/TCP over loopback, our initiator (core 1) -> our target (core 0) -> null bdev; ${SECS} s, ${ROUNDS} rounds"
row "4 KiB randread QD128 IOPS"            128 4096   ""                1
row "4 KiB randread QD128 IOPS, digests"   128 4096   "hdgst=1&ddgst=1" 1
row "4 KiB randread QD1 avg latency"       1   4096   ""                3
row "4 KiB randread QD1 avg latency, dig." 1   4096   "hdgst=1&ddgst=1" 3
row "128 KiB randread QD32 MiB/s"          32  131072 ""                2
row "128 KiB randread QD32 MiB/s, digests" 32  131072 "hdgst=1&ddgst=1" 2
