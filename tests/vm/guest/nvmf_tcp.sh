# Our NVMe/TCP initiator (nvmf://) against the kernel's nvmet-tcp target on 127.0.0.1:4420 in
# the guest, a 64 MiB brd ram disk behind it: tests/c/test_nvmf_tcp (attach errors, identify,
# data up to 5 MiB in-capsule and by R2T, vectored, flush and write zeroes, two I/O queues, a
# controller reset that reconnects, and 1 MiB each way compared with what the kernel reads and
# writes on the ram disk with direct I/O), without and with header and data digests; then
# bdevperf -w verify at 4 KiB and 128 KiB (R2T), QD 32, digests off and on, two reactors.
. tests/vm/guest/lib.sh
T=$NB_BUILD/tests/c/test_nvmf_tcp
P=$NB_BUILD/examples/c/bdevperf
[ -x "$T" ] || vm_fail "$T is not built"
NQN=nqn.2026-12.io.nativebdev:nvmf-tcp-test
CFG=/sys/kernel/config/nvmet
W=$(mktemp -d /tmp/nvmf.XXXXXX)

ip link set lo up || vm_fail "no loopback interface"
# The ram disk (64 MiB, tests/vm/init.sh loads brd so) and nvmet-tcp come loaded at boot.
[ "$(blockdev --getsize64 /dev/ram0)" -ge $((32 << 20)) ] || vm_fail "/dev/ram0 is missing or smaller than 32 MiB"
[ -d $CFG ] || vm_fail "no nvmet configfs at $CFG"

S=$CFG/subsystems/$NQN
mkdir $S
echo 1 >$S/attr_allow_any_host
mkdir $S/namespaces/1
echo -n /dev/ram0 >$S/namespaces/1/device_path
echo 1 >$S/namespaces/1/enable
PT=$CFG/ports/1
mkdir $PT
echo tcp >$PT/addr_trtype
echo ipv4 >$PT/addr_adrfam
echo 127.0.0.1 >$PT/addr_traddr
echo 4420 >$PT/addr_trsvcid
ln -s $S $PT/subsystems/$NQN
cleanup() {
  rm -f $PT/subsystems/$NQN
  rmdir $PT 2>/dev/null
  echo 0 >$S/namespaces/1/enable 2>/dev/null
  rmdir $S/namespaces/1 $S 2>/dev/null
  rm -rf "$W"
}
trap cleanup EXIT

run_c() { # PARAMS
  head -c 1048576 /dev/urandom >$W/kernel_wrote
  dd if=$W/kernel_wrote of=/dev/ram0 bs=1M seek=48 count=1 oflag=direct status=none ||
    vm_fail "dd to /dev/ram0 failed"
  "$T" 127.0.0.1:4420 "$NQN" "$1" $W/ours_wrote $W/kernel_wrote || vm_fail "test_nvmf_tcp '$1' failed"
  dd if=/dev/ram0 of=$W/kernel_read bs=1M skip=40 count=1 iflag=direct status=none ||
    vm_fail "dd from /dev/ram0 failed"
  cmp $W/ours_wrote $W/kernel_read || vm_fail "the kernel reads other data than the initiator wrote ('$1')"
  echo "the kernel read back what the initiator wrote ('$1')"
}
run_c ""
run_c "hdgst=1&ddgst=1"

perf() { # DESCRIPTION, then bdevperf arguments
  local what=$1 out
  shift
  out=$("$P" "$@" 2>&1) || { echo "$out"; vm_fail "bdevperf $what failed"; }
  echo "$out" | tail -n 4
  echo "$out" | grep -qE '^ *Total *: *[1-9]' || { echo "$out"; vm_fail "bdevperf $what: no I/O completed"; }
}
U=nvmf://127.0.0.1:4420/$NQN
perf "verify 4K QD32" -q 32 -o 4096 -w verify -t 3 -b "$U"
perf "verify 128K QD32 (R2T)" -q 32 -o 131072 -w verify -t 3 -b "$U"
perf "verify 4K QD32, digests" -q 32 -o 4096 -w verify -t 3 -b "$U?hdgst=1&ddgst=1"
perf "verify 128K QD32, digests" -q 32 -o 131072 -w verify -t 3 -b "nvmf+tcp://127.0.0.1:4420/$NQN?hdgst=1&ddgst=1"
perf "verify 4K QD32, two reactors" -m 0x3 -C -q 32 -o 4096 -w verify -t 3 -b "$U"
