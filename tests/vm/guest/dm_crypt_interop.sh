# Our crypto vbdev against the kernel's dm-crypt, on the same 64 MiB brd ram disk, at 512-byte
# and 4 KiB blocks: AES-XTS-256 with the plain64 tweak layout is dm-crypt's aes-xts-plain64
# with sector_size equal to the block size and iv_large_sectors (the IV is the sector number
# in units of the sector size). For each block size, with one random 512-bit key:
#   1. dm-crypt (cryptsetup open --type plain) writes 4 MiB of random data at 20 MiB;
#   2. nbdev_tgt serves crypto over a uring bdev on /dev/ram0 (block_size = the block size)
#      through NVMe/TCP; the kernel initiator reads those 4 MiB back identical through ours and
#      writes 4 MiB of other random data at 4 MiB, which it reads back too;
#   3. after nbdev_tgt stops, cryptsetup opens the disk again and reads our 4 MiB back
#      identical; the raw disk under both holds neither plaintext.
# The key reaches dm-crypt as a 64-byte key file (plain mode hashes passphrases, not key
# files); `dmsetup table --showkeys` confirms the table: cipher, key, sector size, IV units.
. tests/vm/guest/lib.sh
TGT=$NB_BUILD/examples/c/nbdev_tgt
RPC="/usr/bin/python3 scripts/nbdev-rpc"
[ -x "$TGT" ] || vm_fail "$TGT is not built"
command -v cryptsetup >/dev/null || vm_fail "no cryptsetup in the host root (vm.sh installs cryptsetup-bin)"
command -v dmsetup >/dev/null || vm_fail "no dmsetup in the host root"
export DM_DISABLE_UDEV=1 # no udev in the guest: libdevmapper makes /dev/mapper nodes itself
NQN=nqn.2026-12.io.nativebdev:dm-crypt
PORT=4422
MAPPED=nbcrypt
W=$(mktemp -d /tmp/dmcrypt.XXXXXX)
ip link set lo up || vm_fail "no loopback interface"
[ "$(blockdev --getsize64 /dev/ram0)" -ge $((32 << 20)) ] || vm_fail "/dev/ram0 is missing or smaller than 32 MiB"
OURS_AT=4   # MiB: written through our vbdev, read through dm-crypt
THEIRS_AT=20 # MiB: written through dm-crypt, read through our vbdev
PID=0
cleanup() {
  nvme disconnect -n $NQN >/dev/null 2>&1 || true
  if [ "$PID" != 0 ]; then # (kill 0 would signal this script's own process group)
    kill -INT $PID 2>/dev/null || true
    wait $PID 2>/dev/null || true
  fi
  cryptsetup close $MAPPED 2>/dev/null || true
  rm -rf "$W"
}
trap cleanup EXIT
show_log() {
  echo "--- nbdev_tgt log"; tail -n 40 $W/tgt.log
  echo "--- kernel log"; dmesg | tail -n 30
}

head -c 64 /dev/urandom >$W/key
KEYHEX=$(od -An -tx1 -v $W/key | tr -d ' \n')
[ ${#KEYHEX} = 128 ] || vm_fail "the key is not 64 bytes"

dm_open() { # BLOCK_SIZE
  local large=()
  [ "$1" -gt 512 ] && large=(--iv-large-sectors)
  cryptsetup open --type plain --cipher aes-xts-plain64 --key-size 512 --key-file $W/key \
    --sector-size "$1" "${large[@]}" /dev/ram0 $MAPPED >$W/cryptsetup 2>&1 ||
    { cat $W/cryptsetup; dmesg | tail -n 20; vm_fail "cryptsetup open (sector size $1) failed"; }
  [ -b /dev/mapper/$MAPPED ] || vm_fail "no /dev/mapper/$MAPPED after cryptsetup open"
  local table want
  table=$(dmsetup table --showkeys $MAPPED)
  want="aes-xts-plain64 $KEYHEX 0 "
  [[ $table == *"crypt $want"* ]] || vm_fail "dm-crypt's table is not aes-xts-plain64 with our key: ${table%% aes*} ..."
  [ "$1" = 512 ] || [[ $table == *"sector_size:$1"* && $table == *iv_large_sectors* ]] ||
    vm_fail "dm-crypt's table lacks sector_size:$1 iv_large_sectors"
  [ "$(blockdev --getss /dev/mapper/$MAPPED)" = "$1" ] || vm_fail "/dev/mapper/$MAPPED has not $1-byte sectors"
}

start_target() { # BLOCK_SIZE
  cat >$W/cfg.json <<JSON
{"subsystems": [
 {"subsystem": "accel", "config": [
  {"method": "accel_crypto_key_create", "params": {"name": "k0", "cipher": "AES_XTS",
   "key": "${KEYHEX:0:64}", "key2": "${KEYHEX:64:64}", "tweak_mode": "plain64"}}]},
 {"subsystem": "bdev", "config": [
  {"method": "bdev_uring_create", "params": {"filename": "/dev/ram0", "name": "Ram0", "block_size": $1}},
  {"method": "bdev_crypto_create", "params": {"base_bdev_name": "Ram0", "name": "Crypt0", "key_name": "k0"}}]},
 {"subsystem": "nvmf", "config": [
  {"method": "nvmf_create_transport", "params": {"trtype": "TCP", "max_queue_depth": 128, "in_capsule_data_size": 4096}},
  {"method": "nvmf_create_subsystem", "params": {"nqn": "$NQN", "allow_any_host": true,
   "serial_number": "NBCRYPT0001", "model_number": "NativeBdev crypto"}},
  {"method": "nvmf_subsystem_add_ns", "params": {"nqn": "$NQN", "namespace": {"bdev_name": "Crypt0"}}},
  {"method": "nvmf_subsystem_add_listener", "params": {"nqn": "$NQN",
   "listen_address": {"trtype": "tcp", "adrfam": "ipv4", "traddr": "127.0.0.1", "trsvcid": "$PORT"}}}]}]}
JSON
  "$TGT" -r $W/rpc.sock -c $W/cfg.json >$W/tgt.log 2>&1 &
  PID=$!
  vm_wait "$RPC -s $W/rpc.sock nvmf_get_subsystems 2>/dev/null | grep -q '\"trsvcid\": \"$PORT\"'" 120 ||
    { show_log; vm_fail "nbdev_tgt did not come up listening on $PORT"; }
}

stop_target() {
  kill -INT $PID
  wait $PID || { show_log; vm_fail "nbdev_tgt did not stop cleanly on SIGINT"; }
  PID=0
}

nvme_disks() { ls /sys/block | grep '^nvme' | grep -vE '^nvme[0-9]+c[0-9]+n' | sort; }
our_ns() { nvme_disks | grep -vxF "$BEFORE" | head -n 1 | grep .; }
our_ctrl() {
  local c
  for c in /sys/class/nvme/nvme*; do
    [ "$(cat $c/subsysnqn 2>/dev/null)" = "$NQN" ] && { basename $c; return 0; }
  done
  return 1
}

read_mib() { # DEVICE AT_MIB OUT
  dd if="$1" of="$3" bs=1M skip="$2" count=4 iflag=direct status=none || vm_fail "dd from $1 failed"
}

write_mib() { # DEVICE AT_MIB IN
  dd if="$3" of="$1" bs=1M seek="$2" oflag=direct status=none || vm_fail "dd to $1 failed"
}

round() { # BLOCK_SIZE
  local bs=$1 ns
  head -c $((4 << 20)) /dev/urandom >$W/theirs
  head -c $((4 << 20)) /dev/urandom >$W/ours
  dd if=/dev/zero of=/dev/ram0 bs=1M count=32 oflag=direct status=none || vm_fail "cannot clear /dev/ram0"

  dm_open $bs
  write_mib /dev/mapper/$MAPPED $THEIRS_AT $W/theirs
  cryptsetup close $MAPPED || vm_fail "cryptsetup close failed"

  start_target $bs
  BEFORE=$(nvme_disks)
  nvme connect -t tcp -a 127.0.0.1 -s $PORT -n $NQN >$W/connect 2>&1 ||
    { cat $W/connect; show_log; vm_fail "nvme connect failed ($bs-byte blocks)"; }
  vm_wait "our_ns >/dev/null && [ -b /dev/\$(our_ns) ]" 30 || { show_log; vm_fail "no block device after connect"; }
  ns=/dev/$(our_ns)
  [ "$(blockdev --getss $ns)" = "$bs" ] || vm_fail "$ns has $(blockdev --getss $ns)-byte blocks, not $bs"
  read_mib $ns $THEIRS_AT $W/back
  cmp -s $W/theirs $W/back || vm_fail "our vbdev reads other data than dm-crypt wrote ($bs-byte blocks)"
  write_mib $ns $OURS_AT $W/ours
  read_mib $ns $OURS_AT $W/back
  cmp -s $W/ours $W/back || vm_fail "our vbdev reads other data than it wrote ($bs-byte blocks)"
  nvme disconnect -n $NQN >/dev/null || vm_fail "nvme disconnect failed"
  vm_wait "! our_ctrl >/dev/null" 30 || vm_fail "the controller is still there after nvme disconnect"
  stop_target

  for at in $OURS_AT $THEIRS_AT; do
    read_mib /dev/ram0 $at $W/raw
    if cmp -s $W/ours $W/raw || cmp -s $W/theirs $W/raw; then
      vm_fail "the ram disk holds plaintext at $at MiB ($bs-byte blocks)"
    fi
  done
  dm_open $bs
  read_mib /dev/mapper/$MAPPED $OURS_AT $W/back
  cmp -s $W/ours $W/back || vm_fail "dm-crypt reads other data than our vbdev wrote ($bs-byte blocks)"
  read_mib /dev/mapper/$MAPPED $THEIRS_AT $W/back
  cmp -s $W/theirs $W/back || vm_fail "dm-crypt no longer reads what it wrote ($bs-byte blocks)"
  cryptsetup close $MAPPED || vm_fail "cryptsetup close failed"
  echo "$bs-byte blocks: 4 MiB dm-crypt -> ours and 4 MiB ours -> dm-crypt identical (aes-xts-plain64, plain64)"
}

round 512
round 4096
