#!/bin/sh
# /init of the test guest: busybox sh as PID 1, built into the initramfs by `vm.sh prepare`.
# Loads the modules, mounts the host's / (9p, read-only) and chroots into it to run each
# named test, tests/vm/guest/NAME.sh, with cwd = the repo root and a per-test timeout.
# Console protocol (parsed by vm.sh and .ci/run):
#   VMTEST NAME PASS | VMTEST NAME FAIL rc=N     one line per test, in order
#   VMRESULT passed=N failed=M                   last, then QEMU exits through port 0xf4
# Kernel command line: nb_repo=PATH nb_build=PATH nb_share=PATH nb_tests=NAME[:SECONDS],...
export PATH=/sbin:/bin:/usr/sbin:/usr/bin
R=/host # the host's / inside the guest; tests run chrooted in it

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null

say() { echo "vm: $*"; }

# Writes 16+status to the isa-debug-exit port: QEMU exits with (16+status)*2+1 (33 = passed).
vm_exit() {
  sync
  printf "\\$(printf %o $((16 + $1)))" | dd of=/dev/port bs=1 seek=244 count=1 2>/dev/null
  say "isa-debug-exit did not stop QEMU"
  poweroff -f
}

NB_REPO= NB_BUILD= NB_SHARE= TESTS=
for w in $(cat /proc/cmdline); do
  case "$w" in
    nb_repo=*) NB_REPO=${w#nb_repo=} ;;
    nb_build=*) NB_BUILD=${w#nb_build=} ;;
    nb_share=*) NB_SHARE=${w#nb_share=} ;;
    nb_tests=*) TESTS=$(echo "${w#nb_tests=}" | tr , ' ') ;;
  esac
done

# Fails every test (so each one has its marker) when the guest cannot run them at all.
fail_all() {
  say "setup failed: $*"
  n=0
  for t in $TESTS; do echo "VMTEST ${t%%:*} FAIL rc=setup"; n=$((n + 1)); done
  echo "VMRESULT passed=0 failed=$n"
  vm_exit 1
}

# Modules: the list prepare found in this kernel, in order (softdeps are not followed by
# busybox modprobe, hence vfio_iommu_type1 in the list before vfio-pci).
# brd: one 64 MiB ram disk, the NVMe/TCP target's namespace in nvmf_tcp (the chroot cannot
# reload it with other parameters: the host has no /lib/modules to bind over).
for m in $(cat /etc/nbvm-modules); do
  case $m in
    brd) modprobe brd rd_nr=1 rd_size=65536 || say "modprobe brd failed" ;;
    *) modprobe "$m" || say "modprobe $m failed" ;;
  esac
done

mkdir -p $R
mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=262144 hostroot $R ||
  fail_all "cannot mount the host root over 9p"
[ -d "$R$NB_REPO/tests/vm" ] || fail_all "no repo at $NB_REPO in the host root"

# A usable system inside the chroot: mounting over directories of the read-only 9p root works.
mount -t proc proc $R/proc
mount -t sysfs sysfs $R/sys
mount -t devtmpfs devtmpfs $R/dev
mkdir -p $R/dev/pts $R/dev/shm $R/dev/hugepages
mount -t devpts devpts $R/dev/pts
mount -t tmpfs tmpfs $R/dev/shm
# A writable /tmp for the tests; the host's directories under /tmp that the run lives in (a
# clone in /tmp/ci, say) are kept visible through it.
keep=
for p in "$NB_REPO" "$NB_BUILD" "$NB_SHARE"; do
  case "$p" in
    /tmp/?*)
      top=$(echo "${p#/tmp/}" | cut -d/ -f1)
      case " $keep " in *" $top "*) continue ;; esac
      mkdir -p "/keep/$top" && mount --bind "$R/tmp/$top" "/keep/$top" && keep="$keep $top"
      ;;
  esac
done
mount -t tmpfs tmpfs $R/tmp
for top in $keep; do
  mkdir -p "$R/tmp/$top" && mount --bind "/keep/$top" "$R/tmp/$top"
done
for d in /run /var/tmp /root; do [ -d $R$d ] && mount -t tmpfs tmpfs $R$d; done
mount -t configfs configfs $R/sys/kernel/config 2>/dev/null
# The host's /lib/modules does not match this kernel: show the guest's own (modprobe works).
[ -d $R/lib/modules ] && mount --bind /lib/modules $R/lib/modules
if [ -n "$NB_SHARE" ]; then
  mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 share "$R$NB_SHARE" ||
    say "cannot mount the share at $NB_SHARE"
fi

# Hugepages for DMA memory; pages of unevictable (mlocked) memory must not be migrated.
echo 128 >/proc/sys/vm/nr_hugepages
echo 0 >/proc/sys/vm/compact_unevictable_allowed
[ -d $R/dev/hugepages ] && mount -t hugetlbfs hugetlbfs $R/dev/hugepages

# The emulated NVMe controller: PCI class 01 08 02 (mass storage, NVM, NVMe).
NVME_BDF=
for d in /sys/bus/pci/devices/*; do
  [ "$(cat $d/class)" = 0x010802 ] && NVME_BDF=${d##*/} && break
done
[ -n "$NVME_BDF" ] || say "no NVMe controller found"

say "kernel $(uname -r), $(grep -c ^processor /proc/cpuinfo) CPUs," \
  "$(cat /proc/sys/vm/nr_hugepages) hugepages, NVMe at ${NVME_BDF:-none}, up $(cut -d' ' -f1 /proc/uptime) s"

passed=0 failed=0
for t in $TESTS; do
  name=${t%%:*} secs=${t#*:}
  script=tests/vm/guest/$name.sh
  echo "=== guest test $name (timeout ${secs}s)"
  if [ ! -f "$R$NB_REPO/$script" ]; then
    say "$script does not exist"
    rc=127
  else
    # coreutils timeout (the host's) signals the test's whole process group.
    chroot $R /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
      HOME=/root TMPDIR=/tmp LANG=C.UTF-8 NB_VM=1 NB_TEST="$name" NB_REPO="$NB_REPO" \
      NB_BUILD="$NB_BUILD" NB_SHARE="$NB_SHARE" NVME_BDF="$NVME_BDF" \
      /bin/sh -c 'cd "$NB_REPO" && exec timeout -k 5 "$1" bash "$2"' sh "$secs" "$script" \
      </dev/null
    rc=$?
    [ $rc = 124 ] || [ $rc = 137 ] && say "$name timed out after ${secs}s"
  fi
  kill -KILL -1 2>/dev/null # whatever the test left running (everything but PID 1)
  if [ $rc = 0 ]; then
    echo "VMTEST $name PASS"
    passed=$((passed + 1))
  else
    echo "VMTEST $name FAIL rc=$rc"
    failed=$((failed + 1))
  fi
done
echo "VMRESULT passed=$passed failed=$failed"
[ -n "$NB_SHARE" ] && echo "passed=$passed failed=$failed" >"$R$NB_SHARE/result" 2>/dev/null
[ $failed = 0 ] && vm_exit 0
vm_exit 1
