# Binding the controller to uio_pci_generic: /dev/uioN, and BAR0 mmappable through sysfs with
# the NVMe registers in it (CAP with a non-zero MQES, VS = 1.4 for QEMU's controller).
. tests/vm/guest/lib.sh
nvme_bind uio
uio=$(nvme_uio_name)
[ "$(cat /sys/class/uio/$uio/name)" = uio_pci_generic ] || vm_fail "$uio is not uio_pci_generic"
size=$(stat -c %s "$NVME_SYS/resource0")
[ "$size" -ge 16384 ] || vm_fail "resource0 is $size bytes"
python3 - "$NVME_SYS/resource0" <<'PY' || vm_fail "mmap of resource0"
import mmap, os, struct, sys
fd = os.open(sys.argv[1], os.O_RDWR | os.O_SYNC)
bar = mmap.mmap(fd, 4096, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
# 32-bit reads: NVMe registers must not be read with wider or byte accesses.
cap = struct.unpack("<I", bar[0:4])[0] | struct.unpack("<I", bar[4:8])[0] << 32
vs = struct.unpack("<I", bar[8:12])[0]
assert cap & 0xffff, "CAP.MQES is 0 (CAP=%#x)" % cap
assert vs == 0x10400, "VS is %#x, not 1.4" % vs
print("BAR0 mmapped: CAP=%#x VS=%#x" % (cap, vs))
PY
