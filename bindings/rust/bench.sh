#!/usr/bin/env bash
# The Rust perf example against examples/c/bdevperf in one run: 4 KiB random reads on a null
# bdev, one core, alternated ROUNDS times (bdevperf, perf with callbacks, perf --async), each
# for SECONDS; prints every figure and the medians. Hold /tmp/nb-heavy.lock around it.
#   bindings/rust/bench.sh [BUILD_DIR] [DEPTH] [ROUNDS] [SECONDS]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=$(realpath "${1:-$root/build}"); depth=${2:-32}; rounds=${3:-5}; secs=${4:-3}
export PATH="$PATH:$HOME/.cargo/bin" CARGO_NET_OFFLINE=true CARGO_TARGET_DIR="$build/cargo" NB_BUILD="$build"
(cd "$root/bindings/rust" && cargo build -q --release --examples)
perf=$build/cargo/release/examples/perf
uri='null:///Null0?size_mb=64'
c=(); cb=(); as=()
for r in $(seq "$rounds"); do
  c+=("$("$build/examples/c/bdevperf" -q "$depth" -o 4096 -w randread -t "$secs" -m 0x1 -b "$uri" 2>/dev/null | awk '/^Total/ {print $3}')")
  # bdevperf's reactor is pinned to core 0: so is perf.
  cb+=("$(taskset -c 0 "$perf" -q "$depth" -t "$secs" -b "$uri" 2>/dev/null | awk '/^IOPS:/ {print $2}')")
  as+=("$(taskset -c 0 "$perf" -q "$depth" -t "$secs" --async -b "$uri" 2>/dev/null | awk '/^IOPS:/ {print $2}')")
  echo "round $r: bdevperf ${c[-1]}  rust-callback ${cb[-1]}  rust-async ${as[-1]}"
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
mc=$(median "${c[@]}"); mcb=$(median "${cb[@]}"); mas=$(median "${as[@]}")
echo "median IOPS: bdevperf $mc  rust-callback $mcb ($(echo "scale=3; $mcb / $mc" | bc))  rust-async $mas ($(echo "scale=3; $mas / $mc" | bc))"
