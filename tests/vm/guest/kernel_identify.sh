# The kernel's nvme driver owns the emulated controller: identify, both namespaces with their
# sizes, and a pattern written and read back with direct I/O on each.
. tests/vm/guest/lib.sh
nvme_bind kernel

nvme id-ctrl "$NVME_DEV" >/tmp/id-ctrl
grep -E '^mn +: QEMU NVMe Ctrl' /tmp/id-ctrl || vm_fail "id-ctrl: no 'QEMU NVMe Ctrl' in $(grep '^mn' /tmp/id-ctrl)"
grep -E '^sn +: deadbeef' /tmp/id-ctrl || vm_fail "id-ctrl: serial is not deadbeef"

check_ns() { # NSID SIZE_MIB
  local dev=${NVME_DEV}n$1 sectors
  [ -b "$dev" ] || vm_fail "$dev does not exist"
  sectors=$(cat "/sys/block/${dev#/dev/}/size")
  [ "$sectors" = $(($2 * 2048)) ] || vm_fail "$dev: $sectors sectors, not $2 MiB"
  # 1 MiB of random data at 1 MiB past the start and in the last MiB: write, read back.
  head -c 1M /dev/urandom >/tmp/pattern
  for off in 1 $(($2 - 1)); do
    dd if=/tmp/pattern of="$dev" bs=1M seek=$off count=1 oflag=direct status=none
    dd if="$dev" of=/tmp/back bs=1M skip=$off count=1 iflag=direct status=none
    cmp /tmp/pattern /tmp/back || vm_fail "$dev: MiB $off read back differs"
  done
  echo "$dev: $2 MiB, pattern read back"
}
check_ns 1 256
check_ns 2 64
[ ! -e "${NVME_DEV}n3" ] || vm_fail "a third namespace appeared"
