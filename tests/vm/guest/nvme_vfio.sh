# The user-space NVMe driver through vfio (nvme_common.sh).
. tests/vm/guest/nvme_common.sh vfio
