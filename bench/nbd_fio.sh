#!/usr/bin/env bash
# fio's nbd engine against our NBD server (examples/c/nbd_export) and against qemu-nbd, both
# exporting the same file with O_DIRECT (ours: uring://FILE; qemu-nbd: --cache=none
# --aio=io_uring), over loopback TCP. Rounds alternate the two servers (this machine drifts:
# alternating shares the drift); the median of each side and the ratio ours/qemu-nbd.
#
#   bench/nbd_fio.sh BUILD_DIR [ROUNDS=3] [SECONDS=5] [FILE=BUILD_DIR/testfiles/nbd_bench.img]
set -euo pipefail
BUILD=$(cd "$1" && pwd)
ROUNDS=${2:-3}
SECS=${3:-5}
FILE=${4:-$BUILD/testfiles/nbd_bench.img}
EXPORTER=$BUILD/examples/c/nbd_export
for t in fio qemu-nbd; do command -v $t >/dev/null || { echo "$t not installed" >&2; exit 2; }; done
mkdir -p "$(dirname "$FILE")"
if [ ! -f "$FILE" ] || [ "$(stat -c %s "$FILE")" -ne $((1 << 30)) ]; then
  # Written, not sparse: reads must reach the disk's blocks.
  dd if=/dev/urandom of="$FILE" bs=1M count=1024 status=none
fi
WORK=$(mktemp -d /tmp/nb-nbdbench.XXXXXX)
PID=
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null; wait 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT

start_ours() {
  rm -f "$WORK/ready"
  "$EXPORTER" -l 127.0.0.1:0 -r "$WORK/ready" -b "uring://$FILE?name=bench" -e disk >"$WORK/ours.log" 2>&1 &
  PID=$!
  for _ in $(seq 100); do [ -f "$WORK/ready" ] && break; sleep 0.05; done
  URI="nbd://$(cat "$WORK/ready")/disk"
}

start_qemu() {
  local port
  for _ in 1 2 3; do
    port=$((20000 + RANDOM % 20000))
    qemu-nbd -f raw -t -e 8 -x disk -b 127.0.0.1 -p "$port" --cache=none --aio=io_uring "$FILE" >"$WORK/qemu.log" 2>&1 &
    PID=$!
    for _ in $(seq 100); do
      nbdinfo --size "nbd://127.0.0.1:$port/disk" >/dev/null 2>&1 && { URI="nbd://127.0.0.1:$port/disk"; return; }
      kill -0 "$PID" 2>/dev/null || break # the port was taken: another one
      sleep 0.05
    done
    kill "$PID" 2>/dev/null; wait "$PID" 2>/dev/null || true
  done
  echo "qemu-nbd did not start: $(cat "$WORK/qemu.log")" >&2
  exit 1
}

stop() { kill "$PID"; wait "$PID" 2>/dev/null || true; PID=; }

# run JOB: IOPS (randread) or MiB/s (seqread) of one fio run against $URI.
run() {
  local args
  case $1 in
    randread) args="--rw=randread --bs=4k --iodepth=32" ;;
    seqread) args="--rw=read --bs=1M --iodepth=8" ;;
  esac
  # shellcheck disable=SC2086
  fio --name=b --ioengine=nbd --uri="$URI" $args --size=1G --time_based --runtime="$SECS" \
    --output-format=json --output="$WORK/fio.json" >"$WORK/fio.out" 2>&1 ||
    { echo "fio against $URI failed: $(cat "$WORK/fio.out")" >&2; echo 0; return; }
  python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["jobs"][0]["read"]; print(round(r["iops"]) if sys.argv[2]=="randread" else round(r["bw_bytes"]/1048576))' "$WORK/fio.json" "$1"
}

median() { tr ' ' '\n' | grep -v '^$' | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

declare -A R
for job in randread seqread; do
  R[ours_$job]=""
  R[qemu_$job]=""
done
for round in $(seq "$ROUNDS"); do
  for job in randread seqread; do
    start_ours; v=$(run $job); stop; R[ours_$job]+="$v "
    start_qemu; w=$(run $job); stop; R[qemu_$job]+="$w "
    echo "round $round $job: ours $v, qemu-nbd $w"
  done
done
echo
printf '%-34s %12s %12s %8s\n' "fio nbd engine, loopback, ${SECS}s" "ours" "qemu-nbd" "ratio"
for job in randread seqread; do
  o=$(echo "${R[ours_$job]}" | median); q=$(echo "${R[qemu_$job]}" | median)
  label=$([ $job = randread ] && echo "4 KiB randread QD32 (IOPS)" || echo "1 MiB seq read QD8 (MiB/s)")
  printf '%-34s %12s %12s %8s\n' "$label" "$o" "$q" "$(python3 -c "print(f'{$o/$q:.2f}')")"
done
