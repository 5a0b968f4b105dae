#!/usr/bin/env bash
# The crypto vbdev against its bare base, in the same session: bdevperf on one core, each row
# run alternately bare / crypto (the machine drifts, alternating shares the drift), medians of
# each side and the ratio crypto/bare. 4 KiB randwrite and randread at QD32 (IOPS), 128 KiB
# randwrite and randread at QD32 (MiB/s); bases null and malloc; AES_XTS with 256-bit keys.
#   bench/crypto_vbdev.sh [BUILD_DIR] [ROUNDS] [SECONDS]
set -euo pipefail
BUILD=${1:-build}; ROUNDS=${2:-3}; SECS=${3:-3}
KEYS="key=00112233445566778899aabbccddeeffffeeddccbbaa99887766554433221100"
KEYS+="&key2=ffeeddccbbaa9988776655443322110000112233445566778899aabbccddeeff"

measure() { # column args...
  local col=$1; shift
  LD_LIBRARY_PATH="$BUILD/nativebdev" "$BUILD/examples/c/bdevperf" -t "$SECS" "$@" 2>/dev/null |
    awk -v c="$col" '/^Total/ {printf "%.1f\n", $c}'
}
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

row() { # label column base-uri bdevperf-args...
  local label=$1 col=$2 base=$3; shift 3
  local b=() c=()
  for ((r = 0; r < ROUNDS; r++)); do
    if ((r % 2 == 0)); then
      b+=("$(measure "$col" "$@" -b "$base")")
      c+=("$(measure "$col" "$@" -b "$base" -b "crypto:///C0?base=B0&$KEYS" -T C0)")
    else
      c+=("$(measure "$col" "$@" -b "$base" -b "crypto:///C0?base=B0&$KEYS" -T C0)")
      b+=("$(measure "$col" "$@" -b "$base")")
    fi
  done
  local mb mc
  mb=$(printf '%s\n' "${b[@]}" | median); mc=$(printf '%s\n' "${c[@]}" | median)
  printf '%-30s bare %10s  crypto %10s  crypto/bare %.3f   (bare: %s; crypto: %s)\n' "$label" "$mb" "$mc" \
    "$(echo "$mc / $mb" | bc -l)" "${b[*]}" "${c[*]}"
}

echo "== crypto vbdev vs its base: bdevperf, 1 core, QD32, ${SECS} s, ${ROUNDS} alternating rounds, medians"
for base in "null:///B0?size_mb=1024" "malloc:///B0?size_mb=256"; do
  kind=${base%%:*}
  row "$kind 4K randwrite IOPS"    3 "$base" -q 32 -o 4096 -w randwrite
  row "$kind 4K randread IOPS"     3 "$base" -q 32 -o 4096 -w randread
  row "$kind 128K randwrite MiB/s" 4 "$base" -q 32 -o 131072 -w randwrite
  row "$kind 128K randread MiB/s"  4 "$base" -q 32 -o 131072 -w randread
done
