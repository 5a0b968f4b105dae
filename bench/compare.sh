#!/usr/bin/env bash
# Before/after: the bdevperf rows of bench.sh for two builds of the library, alternated in the
# same session (this machine drifts by ±30% over minutes: alternating shares the drift), with
# the median of each side and the ratio after/before. Each side is a build directory with
# nativebdev/libnativebdev.so.0 and examples/c/bdevperf.
#   bench/compare.sh BEFORE_DIR AFTER_DIR [ROUNDS] [SECONDS]
set -euo pipefail
BEFORE=${1:?before build dir}; AFTER=${2:?after build dir}
ROUNDS=${3:-3}; SECS=${4:-5}
FILE=${BENCH_FILE:-/tmp/nb-compare.img}
rm -f "$FILE"; fallocate -l 2G "$FILE"

iops() { # dir args...
  local dir=$1; shift
  LD_LIBRARY_PATH="$dir/nativebdev" "$dir/examples/c/bdevperf" -t "$SECS" "$@" 2>/dev/null |
    awk '/^Total/ {printf "%.0f\n", $3}'
}
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

row() { # label args...
  local label=$1; shift
  local b=() a=()
  for ((r = 0; r < ROUNDS; r++)); do
    if ((r % 2 == 0)); then b+=("$(iops "$BEFORE" "$@")"); a+=("$(iops "$AFTER" "$@")")
    else a+=("$(iops "$AFTER" "$@")"); b+=("$(iops "$BEFORE" "$@")"); fi
  done
  local mb ma
  mb=$(printf '%s\n' "${b[@]}" | median); ma=$(printf '%s\n' "${a[@]}" | median)
  printf '%-34s before %10s  after %10s  after/before %.3f   (before: %s; after: %s)\n' "$label" "$mb" "$ma" \
    "$(echo "$ma / $mb" | bc -l)" "${b[*]}" "${a[*]}"
}

echo "== bdevperf, 1 core, 4 KiB, ${SECS} s, ${ROUNDS} alternating rounds, medians"
row "null randread QD128"          -q 128 -o 4096 -w randread -b "null:///Null0?size_mb=1024"
row "null randread QD1"            -q 1 -o 4096 -w randread -b "null:///Null0?size_mb=1024"
row "loopback over null QD128"     -q 128 -o 4096 -w randread -b "null:///Null0?size_mb=1024" \
                                   -b "loopback:///Null0?name=L0" -T L0
for mb in 32 1024; do
  row "malloc ${mb}M randread QD128"  -q 128 -o 4096 -w randread  -b "malloc:///Malloc0?size_mb=$mb"
  row "malloc ${mb}M randwrite QD128" -q 128 -o 4096 -w randwrite -b "malloc:///Malloc0?size_mb=$mb"
done
row "uring randread QD32 (fallocated)" -q 32 -o 4096 -w randread -m 0x1 -b "uring://$FILE"
row "aio randread QD32 (fallocated)"   -q 32 -o 4096 -w randread -m 0x1 -b "aio://$FILE"
rm -f "$FILE"
