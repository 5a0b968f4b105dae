# SPDK's nbd_start_disk against the guest kernel's nbd driver: nbdev_tgt in the guest attaches
# a 32 MiB malloc bdev (4 KiB blocks) as /dev/nbd0 from its SPDK JSON config (the nbd section)
# and the 64 MiB brd ram disk (a uring bdev) as the first free device, /dev/nbd1, by RPC.
# Refusals (device busy, missing bdev, illegal path, device not ours); nbd_get_disks; a 4 MiB
# pattern written with dd through /dev/nbd0 and read back through the bdev by our network NBD
# server (nbdcopy); an ext4 file system made, mounted and written through /dev/nbd1, the file
# found on the ram disk behind it after nbd_stop_disk, and again through a second
# nbd_start_disk; save_config's nbd_start_disk entries; the C API (nb_nbd_disk_start, list,
# stop) in examples/c/nbd_export -k; then SIGTERM while dd writes to
# /dev/nbd0: the daemon exits 0, dd ends, the kernel device is released.
. tests/vm/guest/lib.sh
TGT=$NB_BUILD/examples/c/nbdev_tgt
RPC="/usr/bin/python3 scripts/nbdev-rpc"
[ -x "$TGT" ] || vm_fail "$TGT is not built"
[ -b /dev/nbd0 ] && [ -b /dev/nbd1 ] || vm_fail "no /dev/nbd0 and /dev/nbd1 (is nbd.ko loaded?)"
[ "$(blockdev --getsize64 /dev/ram0)" -ge $((32 << 20)) ] || vm_fail "/dev/ram0 is missing or smaller than 32 MiB"
W=$(mktemp -d /tmp/nbdk.XXXXXX)
ip link set lo up || vm_fail "no loopback interface"

cat >$W/cfg.json <<JSON
{"subsystems": [
 {"subsystem": "bdev", "config": [
  {"method": "bdev_malloc_create", "params": {"name": "Malloc0", "num_blocks": 8192, "block_size": 4096}},
  {"method": "bdev_uring_create", "params": {"filename": "/dev/ram0", "name": "Ram0", "block_size": 512}}]},
 {"subsystem": "nbd", "config": [
  {"method": "nbd_start_disk", "params": {"bdev_name": "Malloc0", "nbd_device": "/dev/nbd0"}}]}]}
JSON
"$TGT" -r $W/rpc.sock -c $W/cfg.json --log-level info >$W/tgt.log 2>&1 &
PID=$!
DD=0
cleanup() {
  kill $WATCHDOG 2>/dev/null || true
  umount $W/mnt 2>/dev/null || true
  [ "$DD" != 0 ] && kill $DD 2>/dev/null || true
  if [ "$PID" != 0 ]; then
    kill -INT $PID 2>/dev/null || true
    wait $PID 2>/dev/null || true
  fi
  rm -rf "$W"
}
trap cleanup EXIT
show_log() {
  echo "--- nbdev_tgt log"; tail -n 40 $W/tgt.log
  echo "--- kernel log"; dmesg | tail -n 30
  local t
  for t in /proc/$PID/task/*; do
    echo "--- thread $(basename $t) $(cat $t/comm 2>/dev/null): $(cat $t/wchan 2>/dev/null)"
    cat $t/stack 2>/dev/null | head -n 8
  done
}
# No step may hang the test: each RPC has 60 s, and a watchdog shows where things stand.
r() { $RPC -s $W/rpc.sock -t 50 "$@"; }
step() { echo "[$(date +%T)] $*"; }
(sleep 420; echo "WATCHDOG: the test has run 420 s"; show_log) &
WATCHDOG=$!
vm_wait "r nbd_get_disks 2>/dev/null | grep -q '/dev/nbd0'" 120 ||
  { show_log; vm_fail "nbdev_tgt did not come up with /dev/nbd0 from its config"; }
# The driver records the thread that runs NBD_DO_IT: one of nbdev_tgt's.
DOIT=$(cat /sys/block/nbd0/pid)
[ "$(awk '/^Tgid:/ {print $2}' /proc/$DOIT/status)" = "$PID" ] ||
  vm_fail "/sys/block/nbd0/pid ($DOIT) is no thread of nbdev_tgt ($PID)"
vm_wait "[ \$(blockdev --getsize64 /dev/nbd0) = $((32 << 20)) ]" 30 || vm_fail "/dev/nbd0 is not 32 MiB"
[ "$(blockdev --getss /dev/nbd0)" = 4096 ] || vm_fail "/dev/nbd0's logical block size is not the bdev's 4096"
echo "/dev/nbd0 from the config: 32 MiB, 4096-byte blocks, NBD_DO_IT in thread $DOIT of nbdev_tgt ($PID)"

expect_error() { # CODE, then the nbdev-rpc command
  local code=$1 out
  shift
  if out=$(r "$@" 2>&1); then vm_fail "$* succeeded"; fi
  grep -q "(code $code)" <<<"$out" || { show_log; vm_fail "$*: not error $code: $out"; }
}
step "refusals"
expect_error -16 nbd_start_disk Ram0 /dev/nbd0
expect_error -19 nbd_start_disk NoSuchBdev /dev/nbd2
expect_error -19 nbd_start_disk Ram0 /dev/ram0
expect_error -19 nbd_stop_disk /dev/nbd5
expect_error -19 nbd_get_disks -n /dev/nbd5
[ ! -e /sys/block/nbd2/pid ] || vm_fail "a refused nbd_start_disk left /dev/nbd2 connected"
echo "refused: a device in use (-16), a missing bdev, an illegal path, devices not ours (-19)"

step "nbd_start_disk Ram0"
DEV=$(r nbd_start_disk Ram0) || { show_log; vm_fail "nbd_start_disk Ram0 failed"; }
[ "$DEV" = /dev/nbd1 ] || vm_fail "nbd_start_disk without nbd_device chose $DEV, not the first free /dev/nbd1"
r nbd_get_disks >$W/disks
python3 - $W/disks <<'PY' || vm_fail "nbd_get_disks: $(cat $W/disks)"
import json, sys
d = json.load(open(sys.argv[1]))
assert sorted((x["nbd_device"], x["bdev_name"]) for x in d) == [("/dev/nbd0", "Malloc0"), ("/dev/nbd1", "Ram0")], d
PY
echo "nbd_start_disk Ram0 took /dev/nbd1; nbd_get_disks lists both"

# A pattern through /dev/nbd0, read back through the bdev by our network NBD server.
step "dd through /dev/nbd0"
head -c $((4 << 20)) /dev/urandom >$W/data
timeout --foreground 60 dd if=$W/data of=/dev/nbd0 bs=1M seek=4 oflag=direct status=none || { show_log; vm_fail "dd to /dev/nbd0 failed"; }
timeout --foreground 60 dd if=/dev/nbd0 of=$W/back bs=1M skip=4 count=4 iflag=direct status=none || vm_fail "dd from /dev/nbd0 failed"
cmp -s $W/data $W/back || vm_fail "/dev/nbd0 read other data than was written"
step "nbdcopy from our NBD server"
r call nbd_server_start '{"listen_address": "127.0.0.1:10809"}' >/dev/null || vm_fail "nbd_server_start failed"
r call nbd_server_add_export '{"name": "m0", "bdev_name": "Malloc0"}' >/dev/null || vm_fail "nbd_server_add_export failed"
timeout --foreground 60 nbdcopy nbd://127.0.0.1:10809/m0 $W/m0.img || { show_log; vm_fail "nbdcopy of the bdev failed"; }
dd if=$W/m0.img of=$W/bdev bs=1M skip=4 count=4 status=none
cmp -s $W/data $W/bdev || vm_fail "the bdev behind /dev/nbd0 holds other data than dd wrote"
echo "4 MiB written with dd through /dev/nbd0, the same bytes read from the bdev over our NBD server"

# A file system through /dev/nbd1 (the ram disk's uring bdev).
step "mkfs.ext4 /dev/nbd1"
timeout --foreground 120 mkfs.ext4 -q -F /dev/nbd1 || { show_log; vm_fail "mkfs.ext4 /dev/nbd1 failed"; }
mkdir -p $W/mnt
timeout --foreground 60 mount -t ext4 /dev/nbd1 $W/mnt || { show_log; vm_fail "mount /dev/nbd1 failed"; }
cp $W/data $W/mnt/data
timeout --foreground 60 umount $W/mnt || { show_log; vm_fail "umount failed"; }
step "nbd_stop_disk /dev/nbd1"
r nbd_stop_disk /dev/nbd1 >/dev/null || { show_log; vm_fail "nbd_stop_disk /dev/nbd1 failed"; }
r nbd_get_disks | grep -q /dev/nbd1 && vm_fail "nbd_get_disks still lists /dev/nbd1 after nbd_stop_disk"
vm_wait "[ ! -e /sys/block/nbd1/pid ]" 30 || vm_fail "/dev/nbd1 is still connected after nbd_stop_disk"
dd if=/dev/ram0 of=$W/ram.img bs=1M iflag=direct status=none || vm_fail "dd from /dev/ram0 failed"
debugfs -R "dump /data $W/fs-back" $W/ram.img >/dev/null 2>&1 || vm_fail "debugfs finds no /data on the ram disk"
cmp -s $W/data $W/fs-back || vm_fail "the file on the ram disk differs from what was copied through /dev/nbd1"
[ "$(r nbd_start_disk Ram0 /dev/nbd1)" = /dev/nbd1 ] || { show_log; vm_fail "nbd_start_disk Ram0 /dev/nbd1 again failed"; }
mount -t ext4 -o ro /dev/nbd1 $W/mnt || { show_log; vm_fail "mount of the re-attached /dev/nbd1 failed"; }
cmp -s $W/data $W/mnt/data || vm_fail "the file read through the re-attached /dev/nbd1 differs"
umount $W/mnt
echo "ext4 through /dev/nbd1: the file on the ram disk after nbd_stop_disk, and through a second nbd_start_disk"

r save_config >$W/saved.json || vm_fail "save_config failed"
python3 - $W/saved.json <<'PY' || vm_fail "save_config's nbd section: $(cat $W/saved.json)"
import json, sys
c = json.load(open(sys.argv[1]))
nbd = [s for s in c["subsystems"] if s["subsystem"] == "nbd"][0]["config"]
disks = sorted((e["params"]["nbd_device"], e["params"]["bdev_name"]) for e in nbd if e["method"] == "nbd_start_disk")
assert disks == [("/dev/nbd0", "Malloc0"), ("/dev/nbd1", "Ram0")], nbd
PY
echo "save_config writes an nbd_start_disk entry per disk"
r call nbd_server_stop >/dev/null || vm_fail "nbd_server_stop failed"

# The C API (nb_nbd_disk_start/list/stop) in another process: examples/c/nbd_export -k auto
# takes the first device neither process uses, /dev/nbd2.
step "nb_nbd_disk_start: nbd_export -k auto"
NE=$NB_BUILD/examples/c/nbd_export
[ -x "$NE" ] || vm_fail "$NE is not built"
"$NE" -l 127.0.0.1:0 -r $W/ne.ready -b "malloc:///K0?size_mb=16&blk_size=4096" -k auto >$W/ne.log 2>&1 &
NEPID=$!
vm_wait "[ -e $W/ne.ready ]" 60 || { cat $W/ne.log; kill $NEPID; vm_fail "nbd_export -k auto did not come up"; }
grep -q '^nbd_export: K0 on /dev/nbd2$' $W/ne.log || { cat $W/ne.log; kill $NEPID; vm_fail "nb_nbd_disk_start did not take /dev/nbd2"; }
[ "$(blockdev --getsize64 /dev/nbd2)" = $((16 << 20)) ] || { kill $NEPID; vm_fail "/dev/nbd2 is not 16 MiB"; }
timeout --foreground 60 dd if=$W/data of=/dev/nbd2 bs=1M seek=2 oflag=direct status=none || { kill $NEPID; vm_fail "dd to /dev/nbd2 failed"; }
r call nbd_get_disks >$W/disks2 && grep -q /dev/nbd2 $W/disks2 && { kill $NEPID; vm_fail "nbdev_tgt lists nbd_export's /dev/nbd2"; }
timeout --foreground 60 nbdcopy "nbd://$(cat $W/ne.ready)/K0" $W/k0.img || { cat $W/ne.log; kill $NEPID; vm_fail "nbdcopy from nbd_export failed"; }
dd if=$W/k0.img of=$W/k0.part bs=1M skip=2 count=4 status=none
cmp -s $W/data $W/k0.part || { kill $NEPID; vm_fail "the bdev behind /dev/nbd2 holds other data than dd wrote"; }
kill -TERM $NEPID
rc=0
wait $NEPID || rc=$?
[ $rc = 0 ] || { cat $W/ne.log; vm_fail "nbd_export exited $rc on SIGTERM"; }
vm_wait "[ ! -e /sys/block/nbd2/pid ]" 30 || vm_fail "/dev/nbd2 is still connected after nbd_export stopped"
echo "C API: nb_nbd_disk_start took /dev/nbd2, dd through it reached the bdev, nb_nbd_disk_stop released it"

step "SIGTERM under dd"
# SIGTERM under load: dd keeps writing /dev/nbd0 until the device goes.
(while dd if=/dev/zero of=/dev/nbd0 bs=1M count=32 oflag=direct status=none 2>/dev/null; do :; done) &
DD=$!
sleep 2
kill -0 $DD 2>/dev/null || vm_fail "the dd loop on /dev/nbd0 ended before the stop"
kill -TERM $PID
rc=0
for i in $(seq 600); do kill -0 $PID 2>/dev/null || break; sleep 0.1; done
kill -0 $PID 2>/dev/null && { show_log; vm_fail "nbdev_tgt did not stop within 60 s of SIGTERM under dd"; }
wait $PID || rc=$?
PID=0
[ $rc = 0 ] || { show_log; vm_fail "nbdev_tgt exited $rc on SIGTERM under dd"; }
for i in $(seq 300); do kill -0 $DD 2>/dev/null || break; sleep 0.1; done
kill -0 $DD 2>/dev/null && vm_fail "dd on /dev/nbd0 still runs 30 s after the daemon stopped"
DD=0
vm_wait "[ ! -e /sys/block/nbd0/pid ]" 30 || vm_fail "/dev/nbd0 is still connected after the daemon exited"
grep -q "detaching /dev/nbd0" $W/tgt.log || { show_log; vm_fail "the daemon did not detach /dev/nbd0 itself"; }
echo "SIGTERM while dd wrote /dev/nbd0: exit 0, dd ended, /dev/nbd0 released"
