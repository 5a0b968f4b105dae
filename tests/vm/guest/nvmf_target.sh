# The Linux kernel's NVMe/TCP initiator against our target: nbdev_tgt in the guest, configured
# by an SPDK JSON config, serves the 64 MiB brd ram disk (a uring bdev, O_DIRECT) as one
# namespace on 127.0.0.1:4421. The kernel discovers it (nvme discover, log page 70h), is
# refused a subsystem that does not exist, connects without and with header and data digests,
# identifies it (nvme id-ctrl / id-ns: our model, cntlid, size), writes 4 MiB of random data
# with direct I/O and reads it back identical, disconnects; the ram disk then holds exactly
# those bytes (our side of the data path). The second connect (after the first disconnect, with
# digests) also finds namespace 2, a thin lvol, and sees it grow when it is resized (AEN). In
# each round nvme compare: the data just written compares equal, inverted data gives Compare
# Failure. Then the subsystem listed by nbdev-rpc nvmf_get_subsystems, and a clean stop on SIGINT.
. tests/vm/guest/lib.sh
TGT=$NB_BUILD/examples/c/nbdev_tgt
RPC="/usr/bin/python3 scripts/nbdev-rpc"
[ -x "$TGT" ] || vm_fail "$TGT is not built"
NQN=nqn.2026-12.io.nativebdev:kernel-host
PORT=4421
W=$(mktemp -d /tmp/nvmft.XXXXXX)
ip link set lo up || vm_fail "no loopback interface"
[ "$(blockdev --getsize64 /dev/ram0)" -ge $((32 << 20)) ] || vm_fail "/dev/ram0 is missing or smaller than 32 MiB"
BLOCKS=$(($(blockdev --getsize64 /dev/ram0) / 512))

cat >$W/cfg.json <<JSON
{"subsystems": [
 {"subsystem": "bdev", "config": [
  {"method": "bdev_uring_create", "params": {"filename": "/dev/ram0", "name": "Ram0", "block_size": 512}}]},
 {"subsystem": "nvmf", "config": [
  {"method": "nvmf_create_transport", "params": {"trtype": "TCP", "max_queue_depth": 128, "in_capsule_data_size": 4096}},
  {"method": "nvmf_create_subsystem", "params": {"nqn": "$NQN", "allow_any_host": true,
   "serial_number": "NBGUEST0001", "model_number": "NativeBdev guest target"}},
  {"method": "nvmf_subsystem_add_ns", "params": {"nqn": "$NQN", "namespace": {"bdev_name": "Ram0"}}},
  {"method": "nvmf_subsystem_add_listener", "params": {"nqn": "$NQN",
   "listen_address": {"trtype": "tcp", "adrfam": "ipv4", "traddr": "127.0.0.1", "trsvcid": "$PORT"}}}]}]}
JSON
"$TGT" -r $W/rpc.sock -c $W/cfg.json --log-level info >$W/tgt.log 2>&1 &
PID=$!
cleanup() {
  nvme disconnect -n $NQN >/dev/null 2>&1 || true
  if [ "$PID" != 0 ]; then # (kill 0 would signal this script's own process group)
    kill -INT $PID 2>/dev/null || true
    wait $PID 2>/dev/null || true
  fi
  rm -rf "$W"
}
trap cleanup EXIT
show_log() {
  echo "--- nbdev_tgt log"; tail -n 40 $W/tgt.log
  echo "--- kernel log"; dmesg | tail -n 30
  echo "--- /sys/block: $(ls /sys/block | tr '\n' ' ')"
}
vm_wait "$RPC -s $W/rpc.sock nvmf_get_subsystems 2>/dev/null | grep -q '\"trsvcid\": \"$PORT\"'" 120 ||
  { show_log; vm_fail "nbdev_tgt did not come up listening on $PORT"; }

nvme discover -t tcp -a 127.0.0.1 -s $PORT >$W/discover 2>&1 || { cat $W/discover; show_log; vm_fail "nvme discover failed"; }
grep -q "subnqn: *$NQN" $W/discover || { cat $W/discover; vm_fail "discovery does not list $NQN"; }
grep -q "trsvcid: *$PORT" $W/discover || { cat $W/discover; vm_fail "discovery does not list port $PORT"; }
echo "nvme discover lists $NQN on $PORT"

if nvme connect -t tcp -a 127.0.0.1 -s $PORT -n nqn.2026-12.io.nativebdev:no-such >$W/refused 2>&1; then
  vm_fail "nvme connect to a subsystem that does not exist succeeded"
fi
echo "a connect to a subsystem that does not exist is refused: $(tr '\n' ' ' <$W/refused)"

# The block device that appeared since $BEFORE (native multipath names it after the
# subsystem, so the controller's name does not give it).
nvme_disks() { ls /sys/block | grep '^nvme' | grep -vE '^nvme[0-9]+c[0-9]+n' | sort; } # not the hidden paths
our_ns() { nvme_disks | grep -vxF "$BEFORE" | head -n 1 | grep .; } # (no /dev/fd here for <(...))
our_ctrl() {
  local c
  for c in /sys/class/nvme/nvme*; do
    [ "$(cat $c/subsysnqn 2>/dev/null)" = "$NQN" ] && { basename $c; return 0; }
  done
  return 1
}

round() { # NAME SEEK_MIB, then nvme connect options
  local name=$1 seek=$2 ns ctrl
  shift 2
  BEFORE=$(nvme_disks)
  nvme connect -t tcp -a 127.0.0.1 -s $PORT -n $NQN "$@" >$W/connect 2>&1 ||
    { cat $W/connect; show_log; vm_fail "nvme connect ($name) failed"; }
  vm_wait "our_ns >/dev/null && [ -b /dev/\$(our_ns) ]" 30 || { show_log; vm_fail "no block device after connect ($name)"; }
  ns=$(our_ns)
  ctrl=$(our_ctrl)
  nvme id-ctrl /dev/$ctrl >$W/id-ctrl || vm_fail "nvme id-ctrl /dev/$ctrl failed"
  grep -qE '^mn +: NativeBdev guest target' $W/id-ctrl || { cat $W/id-ctrl; vm_fail "id-ctrl: not our model"; }
  grep -qE '^sn +: NBGUEST0001' $W/id-ctrl || vm_fail "id-ctrl: not our serial"
  grep -qE "^subnqn +: $NQN" $W/id-ctrl || vm_fail "id-ctrl: not our subsystem NQN"
  nvme id-ns /dev/$ns >$W/id-ns || vm_fail "nvme id-ns /dev/$ns failed"
  grep -qiE "^nsze +: 0x$(printf '%x' $BLOCKS)\$" $W/id-ns || { cat $W/id-ns; vm_fail "id-ns: size is not $BLOCKS blocks"; }
  [ "$(blockdev --getsize64 /dev/$ns)" = $((BLOCKS * 512)) ] || vm_fail "/dev/$ns is not the ram disk's size"
  head -c $((4 << 20)) /dev/urandom >$W/data
  dd if=$W/data of=/dev/$ns bs=1M seek=$seek oflag=direct status=none || { show_log; vm_fail "dd to /dev/$ns failed ($name)"; }
  dd if=/dev/$ns of=$W/back bs=1M skip=$seek count=4 iflag=direct status=none || vm_fail "dd from /dev/$ns failed ($name)"
  cmp -s $W/data $W/back || vm_fail "the kernel read other data than it wrote through our target ($name)"
  compare_check $ns $seek
  [ "$name" = "resize" ] && resize_check
  nvme disconnect -n $NQN >/dev/null || vm_fail "nvme disconnect failed ($name)"
  vm_wait "! our_ctrl >/dev/null" 30 || vm_fail "the controller is still there after nvme disconnect ($name)"
  dd if=/dev/ram0 of=$W/disk bs=1M skip=$seek count=4 iflag=direct status=none || vm_fail "dd from /dev/ram0 failed"
  cmp -s $W/data $W/disk || vm_fail "the ram disk behind our target holds other data than the kernel wrote ($name)"
  echo "kernel initiator ($name): id-ctrl, id-ns, 4 MiB written and read back, on the ram disk after disconnect"
}
# NVMe Compare (05h) through the kernel's passthrough: the first 4 KiB just written compare
# equal; the same 4 KiB with every byte inverted give Compare Failure (SCT 2h, SC 85h).
compare_check() { # NS SEEK_MIB
  head -c 4096 $W/data >$W/same
  /usr/bin/python3 -c 'import sys; sys.stdout.buffer.write(bytes(b ^ 0xFF for b in sys.stdin.buffer.read()))' \
    <$W/same >$W/inverted
  nvme compare /dev/$1 -s $(($2 * 2048)) -c 7 -z 4096 -d $W/same >$W/compare 2>&1 ||
    { cat $W/compare; show_log; vm_fail "nvme compare of the data just written failed"; }
  if nvme compare /dev/$1 -s $(($2 * 2048)) -c 7 -z 4096 -d $W/inverted >$W/compare 2>&1; then
    vm_fail "nvme compare of other data succeeded"
  fi
  grep -qiE 'COMPARE_FAILED|miscompare' $W/compare || { cat $W/compare; vm_fail "nvme compare of other data: not a compare failure"; }
  echo "nvme compare: equal data passes, other data fails ($(tr '\n' ' ' <$W/compare))"
}
# Namespace 2, a 16 MiB thin lvol, resized while the kernel is connected: our AER (namespace
# attribute notice) makes it read log page 04h and rescan, and the disk grows to 32 MiB.
resize_check() {
  local vol
  vm_wait "[ \$(nvme_disks | grep -vxF \"\$BEFORE\" | wc -l) -ge 2 ]" 30 || { show_log; vm_fail "no second namespace"; }
  vol=$(nvme_disks | grep -vxF "$BEFORE" | sed -n 2p)
  [ "$(blockdev --getsize64 /dev/$vol)" = $((16 << 20)) ] || vm_fail "namespace 2 (/dev/$vol) is not 16 MiB"
  $RPC -s $W/rpc.sock call bdev_lvol_resize '{"name": "lvs0/vol0", "size_in_mib": 32}' >/dev/null ||
    vm_fail "bdev_lvol_resize failed"
  vm_wait "[ \$(blockdev --getsize64 /dev/$vol) = $((32 << 20)) ]" 60 ||
    { show_log; vm_fail "the kernel did not see namespace 2 grow to 32 MiB (AEN, log 04h)"; }
  echo "an lvol namespace resized under the connected kernel: /dev/$vol grew 16 -> 32 MiB"
}

round "no digests" 4
$RPC -s $W/rpc.sock bdev_malloc_create -b Mal1 64 512 >/dev/null || vm_fail "bdev_malloc_create failed"
$RPC -s $W/rpc.sock call bdev_lvol_create_lvstore '{"bdev_name": "Mal1", "lvs_name": "lvs0"}' >/dev/null ||
  vm_fail "bdev_lvol_create_lvstore failed"
$RPC -s $W/rpc.sock call bdev_lvol_create \
  '{"lvol_name": "vol0", "size_in_mib": 16, "lvs_name": "lvs0", "thin_provision": true}' >/dev/null ||
  vm_fail "bdev_lvol_create failed"
$RPC -s $W/rpc.sock nvmf_subsystem_add_ns $NQN lvs0/vol0 -n 2 >/dev/null || vm_fail "nvmf_subsystem_add_ns lvol failed"
round "resize" 12 --hdr-digest --data-digest

$RPC -s $W/rpc.sock nvmf_get_subsystems >$W/subsystems || vm_fail "nvmf_get_subsystems failed"
grep -q "\"bdev_name\": \"Ram0\"" $W/subsystems || { cat $W/subsystems; vm_fail "nvmf_get_subsystems does not show the namespace"; }
kill -INT $PID
wait $PID || { show_log; vm_fail "nbdev_tgt did not stop cleanly on SIGINT"; }
PID=0
echo "nbdev_tgt stopped cleanly"
