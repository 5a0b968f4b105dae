# Sourced by guest tests (bash, root, chrooted in the host's /, cwd = the repo root).
# Environment from the guest's /init: NB_REPO, NB_BUILD, NB_SHARE (writable, shared with the
# host), NVME_BDF (the emulated controller, e.g. 0000:00:04.0), NB_TEST, NB_VM=1.
# Functions: vm_fail MSG, nvme_current_driver, nvme_bind kernel|vfio|uio, nvme_ctrl_name,
# nvme_iommu_group, nvme_uio_name. After nvme_bind: NVME_DEV (/dev/nvme0, /dev/vfio/N or
# /dev/uioN).
set -euo pipefail

vm_fail() {
  echo "FAIL ($NB_TEST): $*" >&2
  exit 1
}

[ -n "${NVME_BDF:-}" ] || vm_fail "no NVMe controller (NVME_BDF is empty)"
NVME_SYS=/sys/bus/pci/devices/$NVME_BDF

# The driver the controller is bound to: nvme, vfio-pci, uio_pci_generic or none.
nvme_current_driver() {
  if [ -e "$NVME_SYS/driver" ]; then
    basename "$(readlink "$NVME_SYS/driver")"
  else
    echo none
  fi
}

# Waits up to $2 seconds (TCG is slow) for the command $1 to succeed.
vm_wait() {
  local cond=$1 deadline=$((SECONDS + ${2:-30}))
  until eval "$cond"; do
    [ $SECONDS -lt $deadline ] || return 1
    sleep 0.1
  done
}

nvme_ctrl_name() { ls "$NVME_SYS/nvme" 2>/dev/null | head -n 1; }
nvme_iommu_group() { basename "$(readlink "$NVME_SYS/iommu_group")"; }
nvme_uio_name() { ls "$NVME_SYS/uio" 2>/dev/null | head -n 1; }

# Binds the controller to the kernel's nvme driver, to vfio-pci or to uio_pci_generic, and
# waits until its device node is there: /dev/nvmeXn1 (all namespaces), /dev/vfio/GROUP, /dev/uioN.
nvme_bind() {
  local want=$1 drv
  case "$want" in
    kernel) drv=nvme ;;
    vfio) drv=vfio-pci ;;
    uio) drv=uio_pci_generic ;;
    *) vm_fail "nvme_bind: kernel, vfio or uio, not '$want'" ;;
  esac
  if [ "$(nvme_current_driver)" != "$drv" ]; then
    [ -e "$NVME_SYS/driver" ] && echo "$NVME_BDF" >"$NVME_SYS/driver/unbind"
    # driver_override binds to any PCI driver, without new_id (which would also claim
    # every other device of that vendor:device).
    echo "$drv" >"$NVME_SYS/driver_override"
    echo "$NVME_BDF" >/sys/bus/pci/drivers_probe
    vm_wait '[ "$(nvme_current_driver)" = '"$drv"' ]' ||
      vm_fail "nvme_bind $want: still bound to $(nvme_current_driver)"
  fi
  case "$want" in
    kernel)
      vm_wait '[ -n "$(nvme_ctrl_name)" ] && [ -c /dev/$(nvme_ctrl_name) ]' ||
        vm_fail "nvme_bind kernel: no /dev/nvmeX"
      NVME_DEV=/dev/$(nvme_ctrl_name)
      local want_ns
      want_ns=$(nvme list-ns "$NVME_DEV" 2>/dev/null | grep -c '^\[' || true)
      vm_wait '[ "$(ls -d '"$NVME_DEV"'n[0-9]* 2>/dev/null | wc -l)" -ge '"${want_ns:-1}"' ]' ||
        vm_fail "nvme_bind kernel: namespaces of $NVME_DEV did not appear"
      ;;
    vfio)
      local group
      group=$(nvme_iommu_group) || vm_fail "nvme_bind vfio: no IOMMU group"
      vm_wait "[ -c /dev/vfio/$group ]" || vm_fail "nvme_bind vfio: no /dev/vfio/$group"
      NVME_DEV=/dev/vfio/$group
      ;;
    uio)
      vm_wait '[ -n "$(nvme_uio_name)" ] && [ -c /dev/$(nvme_uio_name) ]' ||
        vm_fail "nvme_bind uio: no /dev/uioN"
      NVME_DEV=/dev/$(nvme_uio_name)
      ;;
  esac
  echo "nvme_bind $want: $NVME_BDF on $drv, $NVME_DEV"
}
