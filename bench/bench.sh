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

# ---- kernel I/O backends against fio, same file, same core (issue: uring/aio vs fio) ----
FILE=${BENCH_FILE:-$BUILD/bench.img}
fio_iops() { # engine seconds
  fio --name=bench --filename="$FILE" --ioengine="$1" --direct=1 --rw=randread --bs=4k --iodepth=32 \
      --runtime="$2" --time_based --cpus_allowed=0 --output-format=json 2>/dev/null |
    python3 -c "import json,sys; print('%.0f' % json.load(sys.stdin)['jobs'][0]['read']['iops'])"
}
ours_iops() { # scheme seconds
  "$BDEVPERF" -q 32 -o 4096 -w randread -t "$2" -m 0x1 -b "$1://$FILE" |
    awk '/^Total/ {printf "%.0f\n", $3}'
}
kernel_round() { # label
  local ur ai fu fl
  ur=$(ours_iops uring "$SECONDS_PER_RUN"); fu=$(fio_iops io_uring "$SECONDS_PER_RUN")
  ai=$(ours_iops aio "$SECONDS_PER_RUN");   fl=$(fio_iops libaio "$SECONDS_PER_RUN")
  printf '%-12s our uring %9s  fio io_uring %9s  ratio %.2f | our aio %9s  fio libaio %9s  ratio %.2f\n' \
    "$1" "$ur" "$fu" "$(echo "$ur / $fu" | bc -l)" "$ai" "$fl" "$(echo "$ai / $fl" | bc -l)"
}
echo
echo "== 4 KiB random read, QD32, 1 core (core 0), ${SECONDS_PER_RUN} s each, 2 GiB file $FILE"
rm -f "$FILE"
fallocate -l 2G "$FILE"
kernel_round "fallocated"   # ext4 answers unwritten extents with zeros: the software path
fio --name=fill --filename="$FILE" --ioengine=libaio --direct=1 --rw=write --bs=1m --iodepth=16 \
    --size=2g --output-format=terse >/dev/null 2>&1
kernel_round "written"      # every read goes to the virtio disk
rm -f "$FILE"

echo
echo "== user-space NVMe driver vs null bdev, instructions per I/O (callgrind, simulated controller)"
"$(dirname "$0")/nvme-callgrind/run.sh" "$BUILD" 20000 32
"$(dirname "$0")/nvme-callgrind/run.sh" "$BUILD" 20000 1

echo
"$(dirname "$0")/nvmf_tcp.sh" "$BUILD" 3 5

echo
echo "== nbdev_tgt start-up: exec to the RPC socket accepting a connection"
"$(dirname "$0")/tgt_start.sh" "$BUILD" 21
