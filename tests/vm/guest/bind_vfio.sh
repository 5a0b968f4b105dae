# Binding the controller to vfio-pci: an IOMMU group with the device in it, /dev/vfio/GROUP,
# and VFIO itself agreeing (API version, Type1v2 IOMMU, the group viable).
. tests/vm/guest/lib.sh
nvme_bind vfio
group=$(nvme_iommu_group)
[ -e "/sys/kernel/iommu_groups/$group/devices/$NVME_BDF" ] ||
  vm_fail "$NVME_BDF is not in /sys/kernel/iommu_groups/$group"
[ -c /dev/vfio/vfio ] || vm_fail "no /dev/vfio/vfio"
python3 - "$group" <<'PY' || vm_fail "VFIO ioctls"
import fcntl, os, struct, sys
VFIO_GET_API_VERSION, VFIO_CHECK_EXTENSION, VFIO_GROUP_GET_STATUS = 0x3B64, 0x3B65, 0x3B67
VFIO_TYPE1v2_IOMMU, VFIO_GROUP_FLAGS_VIABLE = 3, 1
container = os.open("/dev/vfio/vfio", os.O_RDWR)
assert fcntl.ioctl(container, VFIO_GET_API_VERSION) == 0, "VFIO API version is not 0"
assert fcntl.ioctl(container, VFIO_CHECK_EXTENSION, VFIO_TYPE1v2_IOMMU) == 1, "no Type1v2 IOMMU"
group = os.open("/dev/vfio/" + sys.argv[1], os.O_RDWR)
argsz, flags = struct.unpack("II", fcntl.ioctl(group, VFIO_GROUP_GET_STATUS, struct.pack("II", 8, 0)))
assert flags & VFIO_GROUP_FLAGS_VIABLE, "group %s not viable (flags %#x)" % (sys.argv[1], flags)
print("VFIO: API 0, Type1v2, group %s viable" % sys.argv[1])
PY
