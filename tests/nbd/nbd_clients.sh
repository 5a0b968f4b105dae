#!/usr/bin/env bash
# Real NBD clients against our server (examples/c/nbd_export over the published library):
#
#   tests/nbd/nbd_clients.sh BUILD_DIR CASE     CASE: info copy qemu fio unix readonly
#
# Each case starts nbd_export on a free loopback port (or a Unix socket) with two exports,
# "disk" (malloc, 64 MiB, 512-byte blocks, writable) and "ro" (malloc, 8 MiB, 4 KiB blocks,
# read-only), runs Debian's clients against it, then stops it with SIGTERM and requires a
# clean exit (connections closed, bdevs destroyed, nb_env_fini succeeding). Exit 77 (CTest:
# skipped) when a client is not installed.
set -euo pipefail
BUILD=$(cd "$1" && pwd)
CASE=$2
EXPORTER=$BUILD/examples/c/nbd_export
WORK=$(mktemp -d /tmp/nb-nbd.XXXXXX)
PID=

need() {
  for t in "$@"; do
    command -v "$t" >/dev/null || { echo "SKIP: $t not installed (apt-get install libnbd-bin qemu-utils fio)"; exit 77; }
  done
}

fail() {
  echo "FAIL: $*" >&2
  [ -f "$WORK/server.log" ] && sed 's/^/  server: /' "$WORK/server.log" >&2
  exit 1
}

cleanup() {
  if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then
    kill -KILL "$PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

# start LISTEN: the exporter, waiting until it wrote its address to $WORK/ready.
start() {
  "$EXPORTER" -l "$1" -r "$WORK/ready" \
    -b "malloc:///M0?size_mb=64" -e disk \
    -b "malloc:///M1?size_mb=8&blk_size=4096" -e ro:ro >"$WORK/server.log" 2>&1 &
  PID=$!
  for _ in $(seq 100); do
    [ -f "$WORK/ready" ] && break
    kill -0 "$PID" 2>/dev/null || fail "nbd_export exited before listening"
    sleep 0.1
  done
  [ -f "$WORK/ready" ] || fail "nbd_export did not start listening in 10 s"
  ADDR=$(cat "$WORK/ready")
}

# stop: SIGTERM, and the exporter must exit 0 after tearing everything down.
stop() {
  kill -TERM "$PID"
  local rc=0
  wait "$PID" || rc=$?
  PID=
  [ $rc -eq 0 ] || fail "nbd_export exited $rc after SIGTERM"
  grep -q "nbd_export: stopped" "$WORK/server.log" || fail "nbd_export did not report a clean stop"
}

json_field() { # FILE KEY: the value of "KEY": in nbdinfo --json output
  python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); e=d["exports"][0]; print(str(e[sys.argv[2]]).lower())' "$1" "$2"
}

expect_eq() { [ "$1" = "$2" ] || fail "$3: expected '$2', got '$1'"; }

case "$CASE" in
info)
  need nbdinfo python3
  start 127.0.0.1:0
  timeout 20 nbdinfo --json "nbd://$ADDR/disk" >"$WORK/disk.json" || fail "nbdinfo disk"
  expect_eq "$(json_field "$WORK/disk.json" export-size)" 67108864 "disk size"
  expect_eq "$(json_field "$WORK/disk.json" block_size_minimum)" 512 "disk minimum block size"
  expect_eq "$(json_field "$WORK/disk.json" block_size_preferred)" 4096 "disk preferred block size"
  expect_eq "$(json_field "$WORK/disk.json" block_size_maximum)" 2097152 "disk maximum payload"
  for f in can_multi_conn can_flush can_fua can_trim can_zero; do
    expect_eq "$(json_field "$WORK/disk.json" $f)" true "disk $f"
  done
  expect_eq "$(json_field "$WORK/disk.json" is_read_only)" false "disk is_read_only"
  expect_eq "$(timeout 20 nbdinfo --size "nbd://$ADDR/disk")" 67108864 "nbdinfo --size"
  timeout 20 nbdinfo --json "nbd://$ADDR/ro" >"$WORK/ro.json" || fail "nbdinfo ro"
  expect_eq "$(json_field "$WORK/ro.json" export-size)" 8388608 "ro size"
  expect_eq "$(json_field "$WORK/ro.json" block_size_minimum)" 4096 "ro minimum block size"
  expect_eq "$(json_field "$WORK/ro.json" is_read_only)" true "ro is_read_only"
  # base:allocation: the whole range is data (the bdev knows no holes).
  map=$(timeout 20 nbdinfo --map "nbd://$ADDR/disk" | tr -s ' ' | sed 's/^ //')
  expect_eq "$map" "0 67108864 0 data" "nbdinfo --map"
  timeout 20 nbdinfo --list --json "nbd://$ADDR" >"$WORK/list.json" || fail "nbdinfo --list"
  names=$(python3 -c 'import json,sys; print(" ".join(sorted(e["export-name"]+"="+e.get("description","") for e in json.load(open(sys.argv[1]))["exports"])))' "$WORK/list.json")
  expect_eq "$names" "disk=malloc:///M0?size_mb=64 ro=malloc:///M1?size_mb=8&blk_size=4096" "nbdinfo --list"
  # The empty name is the default export: the first one added.
  expect_eq "$(timeout 20 nbdinfo --size "nbd://$ADDR")" 67108864 "default export"
  if timeout 20 nbdinfo "nbd://$ADDR/nosuch" >/dev/null 2>"$WORK/err"; then fail "an unknown export was served"; fi
  grep -q "nosuch" "$WORK/err" || fail "the unknown-export error does not name it: $(cat "$WORK/err")"
  stop
  ;;
copy)
  need nbdcopy
  start 127.0.0.1:0
  head -c 64M /dev/urandom >"$WORK/in.img"
  timeout 60 nbdcopy --connections=4 --requests=16 "$WORK/in.img" "nbd://$ADDR/disk" || fail "nbdcopy in"
  timeout 60 nbdcopy --connections=4 --requests=16 "nbd://$ADDR/disk" "$WORK/out.img" || fail "nbdcopy out"
  cmp "$WORK/in.img" "$WORK/out.img" || fail "nbdcopy: what came out differs from what went in"
  # Again with one connection and 1 MiB requests over a 512-byte-block export.
  head -c 64M /dev/urandom >"$WORK/in2.img"
  timeout 60 nbdcopy --connections=1 --request-size=1048576 "$WORK/in2.img" "nbd://$ADDR/disk" || fail "nbdcopy in (1 conn)"
  timeout 60 nbdcopy --connections=1 "nbd://$ADDR/disk" - | cmp - "$WORK/in2.img" || fail "nbdcopy to stdout differs"
  stop
  ;;
qemu)
  need qemu-img
  start 127.0.0.1:0
  head -c 64M /dev/urandom >"$WORK/in.img"
  timeout 60 qemu-img convert -n -f raw -O raw "$WORK/in.img" "nbd://$ADDR/disk" || fail "qemu-img convert into nbd"
  timeout 60 qemu-img compare -f raw -F raw "$WORK/in.img" "nbd://$ADDR/disk" || fail "qemu-img compare"
  timeout 60 qemu-img convert -f raw -O qcow2 "nbd://$ADDR/disk" "$WORK/out.qcow2" || fail "qemu-img convert out of nbd"
  timeout 60 qemu-img compare -f qcow2 -F raw "$WORK/out.qcow2" "$WORK/in.img" || fail "qemu-img compare qcow2"
  # A changed byte is seen.
  printf 'X' | dd of="$WORK/in.img" bs=1 seek=12345 conv=notrunc status=none
  if timeout 60 qemu-img compare -q -f raw -F raw "$WORK/in.img" "nbd://$ADDR/disk"; then
    fail "qemu-img compare missed a difference"
  fi
  size=$(timeout 20 qemu-img info --output=json "nbd://$ADDR/ro" | python3 -c 'import json,sys; print(json.load(sys.stdin)["virtual-size"])')
  expect_eq "$size" 8388608 "qemu-img info ro"
  stop
  ;;
fio)
  need fio
  fio --enghelp 2>/dev/null | grep -qw nbd || { echo "SKIP: fio has no nbd engine"; exit 77; }
  start 127.0.0.1:0
  for job in "--rw=randwrite --bs=4k --iodepth=32" "--rw=write --bs=1M --iodepth=4" "--rw=randrw --bs=64k --iodepth=16"; do
    # shellcheck disable=SC2086
    timeout 120 fio --name=verify --ioengine=nbd --uri="nbd://$ADDR/disk" $job --size=32M \
      --verify=crc32c --do_verify=1 --verify_fatal=1 --verify_backlog=1024 --verify_state_save=0 --output-format=json \
      --output="$WORK/fio.json" >"$WORK/fio.out" 2>"$WORK/fio.err" || fail "fio $job: $(cat "$WORK/fio.err")"
    python3 - "$WORK/fio.json" "$job" <<'PY' || fail "fio $job reported errors"
import json, sys
j = json.load(open(sys.argv[1]))["jobs"][0]
assert j["error"] == 0, j["error"]
assert j["write"]["io_bytes"] > 0 and j["read"]["io_bytes"] > 0, "no I/O"
PY
  done
  stop
  ;;
unix)
  need nbdinfo nbdcopy
  start "$WORK/nbd.sock"
  [ "$(stat -c %a "$WORK/nbd.sock")" = 600 ] || fail "the Unix socket is not 0600"
  uri="nbd+unix:///disk?socket=$WORK/nbd.sock"
  expect_eq "$(timeout 20 nbdinfo --size "$uri")" 67108864 "nbdinfo over a Unix socket"
  head -c 16M /dev/urandom >"$WORK/in.img"
  timeout 60 nbdcopy --connections=2 "$WORK/in.img" "$uri" || fail "nbdcopy in over a Unix socket"
  timeout 60 nbdcopy "$uri" "$WORK/out.img" || fail "nbdcopy out over a Unix socket"
  cmp <(head -c 16M "$WORK/out.img") "$WORK/in.img" || fail "Unix socket copy differs"
  stop
  [ ! -e "$WORK/nbd.sock" ] || fail "the socket file outlived the server"
  ;;
readonly)
  need nbdcopy qemu-io
  start 127.0.0.1:0
  head -c 8M /dev/urandom >"$WORK/in.img"
  if timeout 60 nbdcopy "$WORK/in.img" "nbd://$ADDR/ro" 2>"$WORK/err"; then fail "a write to a read-only export succeeded"; fi
  out=$(timeout 20 qemu-io -r -f raw -c "read -P 0 0 4096" "nbd://$ADDR/ro" 2>&1) || fail "qemu-io read of ro: $out"
  echo "$out" | grep -q "read 4096/4096" || fail "qemu-io read of ro: $out"
  stop
  ;;
*)
  echo "unknown case '$CASE'" >&2
  exit 2
  ;;
esac
echo "PASS: nbd clients: $CASE"
