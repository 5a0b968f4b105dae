# The user-space NVMe driver through uio (nvme_common.sh).
. tests/vm/guest/nvme_common.sh uio
