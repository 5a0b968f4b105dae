#!/usr/bin/env bash
# The Rust perf example against examples/c/bdevperf in one run: 4 KiB random reads on a null
# bdev, one core, alternated ROUNDS times, each for SECONDS; prints every figure and the
# medians, each also as a ratio to bdevperf's. Hold /tmp/nb-heavy.lock around it.
#   bindings/rust/bench.sh [BUILD_DIR] [DEPTH] [ROUNDS] [SECONDS]
# Reactor-driven, as bdevperf (its job started by a message onto a thread pinned to the reactor
# of core 0): perf on the raw declarations (--raw), with the safe crate's callbacks (default)
# and with its futures (--async). Host-driven (--host: this OS thread polls, pinned to core 0
# with taskset): --raw and callbacks.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=$(realpath "${1:-$root/build}"); depth=${2:-32}; rounds=${3:-5}; secs=${4:-3}
export PATH="$PATH:$HOME/.cargo/bin" CARGO_NET_OFFLINE=true CARGO_TARGET_DIR="$build/cargo" NB_BUILD="$build"
(cd "$root/bindings/rust" && cargo build -q --release --examples)
perf=$build/cargo/release/examples/perf
uri='null:///Null0?size_mb=64'
names=(bdevperf raw callback async host-raw host-callback)
declare -A runs
one() {
  case $1 in
    bdevperf) "$build/examples/c/bdevperf" -q "$depth" -o 4096 -w randread -t "$secs" -m 0x1 -b "$uri" 2>/dev/null |
      awk '/^Total/ {print $3}' ;;
    raw) "$perf" -q "$depth" -t "$secs" -m 0x1 --raw -b "$uri" 2>/dev/null | awk '/^IOPS:/ {print $2}' ;;
    callback) "$perf" -q "$depth" -t "$secs" -m 0x1 -b "$uri" 2>/dev/null | awk '/^IOPS:/ {print $2}' ;;
    async) "$perf" -q "$depth" -t "$secs" -m 0x1 --async -b "$uri" 2>/dev/null | awk '/^IOPS:/ {print $2}' ;;
    host-raw) taskset -c 0 "$perf" -q "$depth" -t "$secs" --host --raw -b "$uri" 2>/dev/null | awk '/^IOPS:/ {print $2}' ;;
    host-callback) taskset -c 0 "$perf" -q "$depth" -t "$secs" --host -b "$uri" 2>/dev/null | awk '/^IOPS:/ {print $2}' ;;
  esac
}
declare -A ratios
for r in $(seq "$rounds"); do
  line="round $r:"
  for n in "${names[@]}"; do
    v=$(one "$n"); runs[$n]="${runs[$n]:-} $v"; line+="  $n $v"
    [ "$n" = bdevperf ] && c=$v || ratios[$n]="${ratios[$n]:-} $(echo "scale=3; $v / $c" | bc)"
  done
  echo "$line"
done
median() { printf '%s\n' $1 | sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
mc=$(median "${runs[bdevperf]}")
line="median IOPS: bdevperf $mc"
for n in "${names[@]:1}"; do
  m=$(median "${runs[$n]}"); line+="  $n $m ($(echo "scale=3; $m / $mc" | bc))"
done
echo "$line"
# The load of a shared machine drifts between rounds: the ratio within each round (the two
# runs seconds apart) is the steadier figure.
line="median of the rounds' ratios to bdevperf:"
for n in "${names[@]:1}"; do line+="  $n $(median "${ratios[$n]}")"; done
echo "$line"
