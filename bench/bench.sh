#!/usr/bin/env bash
# ./build.sh bench: the benchmarks behind docs/PERFORMANCE.md. Not tests: they print figures.
# Each bdevperf run is 1 core, 4 KiB, as the SPDK figures they are compared with.
set -euo pipefail
BUILD=${1:?build directory}
SECONDS_PER_RUN=${BENCH_SECONDS:-10}
BDEVPERF="$BUILD/examples/c/bdevperf"

echo "== foundation (messages, poll cost, start-up, memory)"
"$BUILD/examples/c/nb_bench_env"

run() {
  local label=$1; shift
  local line
  line=$("$BDEVPERF" -t "$SECONDS_PER_RUN" "$@" | grep -E '^Total' || true)
  printf '%-34s %s\n' "$label" "$line"
}

echo
echo "== bdevperf, 1 core, 4 KiB, ${SECONDS_PER_RUN} s        (Total: IOPS MiB/s Fail/s TO/s avg min max us)"
run "null randread QD128"  -q 128 -o 4096 -w randread -b "null:///Null0?size_mb=1024"
run "null randread QD1"    -q 1   -o 4096 -w randread -b "null:///Null0?size_mb=1024"
for mb in 32 1024; do
  run "malloc ${mb}M randread QD128"  -q 128 -o 4096 -w randread  -b "malloc:///Malloc0?size_mb=$mb"
  run "malloc ${mb}M randwrite QD128" -q 128 -o 4096 -w randwrite -b "malloc:///Malloc0?size_mb=$mb"
done

echo
echo "== the memory system's own limit for the malloc runs: plain C memcpy of random 4 KiB blocks"
cc -O2 -o "$BUILD/memcpy_peer" "$(dirname "$0")/memcpy_peer.c"
for mb in 32 1024; do
  printf '%-34s ' "memcpy ${mb}M read";  "$BUILD/memcpy_peer" "$mb"
  printf '%-34s ' "memcpy ${mb}M write"; "$BUILD/memcpy_peer" "$mb" w
done
