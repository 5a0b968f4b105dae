#!/usr/bin/env bash
# A thin lvol over malloc against the bare malloc bdev, in the same session, one core, 4 KiB
# randwrite QD32 (issue 12). Overwrites: bdevperf on a 96 MiB thin volume (4 MiB clusters: its
# 24 clusters are allocated by the run's first writes, a few ms of it) against bdevperf on a bare
# 96 MiB malloc bdev, rounds alternating (the machine drifts, alternating shares the drift),
# medians and the ratio. First writes: bench/lvol_alloc (every write to a cluster not yet
# allocated) against the bare figure of the same session.
#   bench/lvol_thin.sh [BUILD_DIR] [ROUNDS] [SECONDS]
set -euo pipefail
BUILD=${1:-build}; ROUNDS=${2:-5}; SECS=${3:-5}
LIB="$BUILD/nativebdev"
PERF=(-q 32 -o 4096 -w randwrite)
BARE=(-b "malloc:///B0?size_mb=96&blk_size=4096" -T B0)
THIN=(-b "malloc:///B0?size_mb=128&blk_size=4096"
      -b "lvs:///P?mode=create&cluster_size=4M&disk=bdev%3A%2F%2F%2FB0"
      -b "lvol:///v?size=96M&thin=1&lvs=lvs%3A%2F%2F%2FP" -T P/v)

measure() {
  LD_LIBRARY_PATH="$LIB" "$BUILD/examples/c/bdevperf" -t "$SECS" "${PERF[@]}" "$@" 2>/dev/null |
    awk '/^Total/ {printf "%.0f\n", $3}'
}
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

ALLOC="$BUILD/bench/lvol_alloc"
mkdir -p "$BUILD/bench"
cc -O2 -I include bench/lvol_alloc.c -L "$LIB" -lnativebdev -o "$ALLOC"

b=() t=() a=()
for ((r = 0; r < ROUNDS; r++)); do
  if ((r % 2 == 0)); then
    b+=("$(measure "${BARE[@]}")"); t+=("$(measure "${THIN[@]}")")
  else
    t+=("$(measure "${THIN[@]}")"); b+=("$(measure "${BARE[@]}")")
  fi
  a+=("$(LD_LIBRARY_PATH="$LIB" "$ALLOC" 2048 4 400 32 | awk '/IOPS/ {print $0}')")
done
mb=$(printf '%s\n' "${b[@]}" | median); mt=$(printf '%s\n' "${t[@]}" | median)
echo "== thin lvol over malloc vs bare malloc: bdevperf 4K randwrite QD32, 1 core, ${SECS} s, ${ROUNDS} alternating rounds"
printf 'bare malloc   %8s IOPS   (%s)\n' "$mb" "${b[*]}"
printf 'thin, overwrite %6s IOPS   (%s)   thin/bare %.3f\n' "$mt" "${t[*]}" "$(echo "$mt / $mb" | bc -l)"
ai=()
for line in "${a[@]}"; do ai+=("$(echo "$line" | sed -E 's/.*: ([0-9]+) IOPS.*/\1/')"); done
ma=$(printf '%s\n' "${ai[@]}" | median)
printf 'thin, first writes %s IOPS (%s)   first/bare %.4f\n' "$ma" "${ai[*]}" "$(echo "$ma / $mb" | bc -l)"
LD_LIBRARY_PATH="$LIB" "$ALLOC" 2048 4 400 32
