# The user-space NVMe driver on the emulated controller, through one access method ($1: vfio
# or uio): the C test (tests/c/test_nvme_pcie.c), then bdevperf -w verify at QD 32 with 4 KiB
# and 128 KiB I/O, and with two reactors (a queue pair each); last the kernel driver takes the
# controller back (detach shut it down cleanly).
. tests/vm/guest/lib.sh
mode=$1
nvme_bind "$mode"
T=$NB_BUILD/tests/c/test_nvme_pcie
P=$NB_BUILD/examples/c/bdevperf
[ -x "$T" ] || vm_fail "$T is not built"
# Without root the device file cannot be opened: a clear -EACCES, no crash. The unprivileged
# run takes its program and library from a copy anyone may read: the build tree may sit in a
# directory only its owner can enter (mktemp -d makes them 0700, and CI may clone into one).
U=$(mktemp -d /var/tmp/nb-unprivileged.XXXXXX) || vm_fail "no directory for the unprivileged run"
chmod 755 "$U"
cp "$T" "$U/" && cp -L "$NB_BUILD/nativebdev/libnativebdev.so.0" "$U/" || vm_fail "cannot copy $T for nobody"
setpriv --reuid=65534 --regid=65534 --clear-groups env LD_LIBRARY_PATH="$U" "$U/test_nvme_pcie" \
  "$NVME_BDF" "$mode" --unprivileged || vm_fail "test_nvme_pcie $mode --unprivileged failed"
rm -rf "$U"
"$T" "$NVME_BDF" "$mode" || vm_fail "test_nvme_pcie $mode failed"

perf() { # DESCRIPTION, then bdevperf arguments
  local what=$1 out
  shift
  out=$("$P" "$@" 2>&1) || { echo "$out"; vm_fail "bdevperf $what failed"; }
  echo "$out" | tail -n 4
  # Some I/O must have completed: the Total line shows IOPS > 0.
  echo "$out" | grep -qE '^ *Total *: *[1-9]' || { echo "$out"; vm_fail "bdevperf $what: no I/O completed"; }
}
perf "verify 4K QD32" -q 32 -o 4096 -w verify -t 3 -b "pcie:///$NVME_BDF/1"
perf "verify 128K QD32" -q 32 -o 131072 -w verify -t 3 -b "pcie:///$NVME_BDF/1"
perf "verify 4K QD32, two reactors" -m 0x3 -C -q 32 -o 4096 -w verify -t 3 -b "pcie:///$NVME_BDF/1"
perf "randrw 4K QD32 on namespace 2" -q 32 -o 4096 -w randrw -M 70 -t 2 -b "pcie:///$NVME_BDF/2"

# Detach shut the controller down cleanly: the kernel driver binds and sees both namespaces.
nvme_bind kernel
nvme id-ctrl "$NVME_DEV" | grep -q 'QEMU NVMe Ctrl' || vm_fail "the kernel does not see the controller after detach"
