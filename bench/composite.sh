#!/usr/bin/env bash
# The composite bdevs against their bare bases, in the same session: bdevperf on one core, each
# row run alternately bare / composite (the machine drifts, alternating shares the drift),
# medians of each side and the ratio. A nexus over two malloc children against one bare malloc
# (4 KiB randwrite and randread, QD32), raid0 over two mallocs against one (4 KiB and 128 KiB,
# QD32; 64 KiB strips); the nexus's own cost over null children, and over latency-bound children
# (null behind a 100 us delay bdev) against one such child.
#   bench/composite.sh [BUILD_DIR] [ROUNDS] [SECONDS]
set -euo pipefail
BUILD=${1:-build}; ROUNDS=${2:-3}; SECS=${3:-3}
KIDS="malloc%3A%2F%2F%2FNa%3Fsize_mb%3D256,malloc%3A%2F%2F%2FNb%3Fsize_mb%3D256"

measure() { # column args...
  local col=$1; shift
  LD_LIBRARY_PATH="$BUILD/nativebdev" "$BUILD/examples/c/bdevperf" -t "$SECS" "$@" 2>/dev/null |
    awk -v c="$col" '/^Total/ {printf "%.1f\n", $c}'
}
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

row() { # label column "bare args" "composite args" common-args...
  local label=$1 col=$2 bare=$3 comp=$4; shift 4
  local b=() c=()
  for ((r = 0; r < ROUNDS; r++)); do
    if ((r % 2 == 0)); then
      b+=("$(eval measure "$col" "$@" $bare)"); c+=("$(eval measure "$col" "$@" $comp)")
    else
      c+=("$(eval measure "$col" "$@" $comp)"); b+=("$(eval measure "$col" "$@" $bare)")
    fi
  done
  local mb mc
  mb=$(printf '%s\n' "${b[@]}" | median); mc=$(printf '%s\n' "${c[@]}" | median)
  printf '%-34s bare %10s  composite %10s  ratio %.3f   (bare: %s; composite: %s)\n' "$label" "$mb" "$mc" \
    "$(echo "$mc / $mb" | bc -l)" "${b[*]}" "${c[*]}"
}

BARE="-b malloc:///M0?size_mb=256"
NEXUS="-b 'nexus:///N0?children=$KIDS' -T N0"
RAID="-b malloc:///Ra?size_mb=256 -b malloc:///Rb?size_mb=256 -b 'raid0:///R0?strip_size_kb=64&base_bdevs=Ra,Rb' -T R0"
echo "== composite bdevs vs a bare malloc: bdevperf, 1 core, QD32, ${SECS} s, ${ROUNDS} alternating rounds, medians"
row "nexus(2 malloc) 4K randwrite IOPS" 3 "$BARE" "$NEXUS" -q 32 -o 4096 -w randwrite
row "nexus(2 malloc) 4K randread IOPS"  3 "$BARE" "$NEXUS" -q 32 -o 4096 -w randread
row "raid0(2 malloc) 4K randwrite IOPS" 3 "$BARE" "$RAID" -q 32 -o 4096 -w randwrite
row "raid0(2 malloc) 4K randread IOPS"  3 "$BARE" "$RAID" -q 32 -o 4096 -w randread
row "raid0(2 malloc) 128K randread MiB/s" 4 "$BARE" "$RAID" -q 32 -o 131072 -w randread
# The nexus's own cost, without the children's memcpy: over two null children against one null.
NULLKIDS="null%3A%2F%2F%2FZa%3Fsize_mb%3D1024,null%3A%2F%2F%2FZb%3Fsize_mb%3D1024"
row "nexus(2 null) 4K randwrite IOPS" 3 "-b null:///Z0?size_mb=1024" "-b 'nexus:///NZ?children=$NULLKIDS' -T NZ" \
  -q 32 -o 4096 -w randwrite
row "nexus(2 null) 4K randread IOPS"  3 "-b null:///Z0?size_mb=1024" "-b 'nexus:///NZ?children=$NULLKIDS' -T NZ" \
  -q 32 -o 4096 -w randread
# Children whose time is not this core's: each a null behind a delay bdev of 100 us (a replica
# reached over a fabric is latency-bound, not a memcpy on the host's core). What the nexus may
# cost there is its own work and any serialization of the two children's writes.
D="avg_read_us%3D100%26p99_read_us%3D100%26avg_write_us%3D100%26p99_write_us%3D100"
DELAY1="-b null:///Z0?size_mb=1024 -b 'delay:///Z0?avg_read_us=100&p99_read_us=100&avg_write_us=100&p99_write_us=100&name=D0' -T D0"
DELAYKIDS="delay%3A%2F%2F%2FZa%3F$D%26name%3DDa,delay%3A%2F%2F%2FZb%3F$D%26name%3DDb"
DELAYNEXUS="-b null:///Za?size_mb=1024 -b null:///Zb?size_mb=1024 -b 'nexus:///ND?children=$DELAYKIDS' -T ND"
row "nexus(2 delay 100us) 4K randwrite IOPS" 3 "$DELAY1" "$DELAYNEXUS" -q 32 -o 4096 -w randwrite
row "nexus(2 delay 100us) 4K randread IOPS"  3 "$DELAY1" "$DELAYNEXUS" -q 32 -o 4096 -w randread
