#!/usr/bin/env bash
# The QEMU guest test harness (tests/vm/README.md).
#   vm.sh prepare                                     set up the guest (idempotent, cached)
#   vm.sh run [--timeout S] [--test-timeout S] TEST[:SECONDS]...
#                                                     boot one guest, run tests/vm/guest/TEST.sh
# Environment: NB_VM_DIR (cache, default <repo>/build/vm), NB_BUILD (build dir, default
# <repo>/build), NB_VM_LOG (console log, default <repo>/build/vm.log; empty: none),
# NB_VM_TEST_TIMEOUT (per test, default 300 s), NB_VM_VERBOSE=1 (kernel messages),
# NB_VM_KEEP=1 (keep the run directory with the disk images and the share).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
REPO=$(cd "$HERE/../.." && pwd -P)
VM_DIR=${NB_VM_DIR:-$REPO/build/vm}
NB_BUILD=${NB_BUILD:-$REPO/build}
NB_VM_LOG=${NB_VM_LOG-$REPO/build/vm.log}
PY=/usr/bin/python3 # Debian's, whatever python3 comes first in PATH

# Guest modules (their dependencies come along); absent ones are skipped and named.
# vfio_iommu_type1 before vfio-pci: busybox modprobe does not follow softdeps.
MODULES="virtio_pci 9pnet_virtio 9p configfs crc32c-intel crc32c_generic crc64_rocksoft_generic
  crct10dif_generic nvme nvme-tcp nvmet-tcp vfio_iommu_type1 vfio-pci uio_pci_generic null_blk
  brd virtio_net dm_mod dm_crypt xts aesni_intel nbd ext4"

say() { echo "vm: $*"; }
die() { echo "vm: $*" >&2; exit 1; }

host_packages() {
  local missing=()
  command -v qemu-system-x86_64 >/dev/null || missing+=(qemu-system-x86)
  dpkg-query -W -f '${Status}' busybox-static 2>/dev/null | grep -q 'ok installed' ||
    missing+=(busybox-static)
  command -v nvme >/dev/null || missing+=(nvme-cli)
  command -v cpio >/dev/null || missing+=(cpio)
  command -v depmod >/dev/null || missing+=(kmod)
  command -v lspci >/dev/null || missing+=(pciutils)
  command -v cryptsetup >/dev/null || missing+=(cryptsetup-bin) # dm_crypt_interop, in the chroot
  command -v dmsetup >/dev/null || missing+=(dmsetup)
  [ -x $PY ] || missing+=(python3)
  command -v flock >/dev/null || missing+=(util-linux)
  [ ${#missing[@]} -eq 0 ] && return
  [ "$(id -u)" = 0 ] || die "missing packages (install them as root): ${missing[*]}"
  say "installing: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" \
    >/dev/null
}

# The kernel package linux-image-amd64 depends on; the newest cached one when apt knows none.
kernel_package() {
  local pkg
  pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | sed -n 's/^ *Depends: \(linux-image-.*\)/\1/p' |
    head -n 1)
  if [ -z "$pkg" ]; then
    pkg=$(ls -d "$VM_DIR"/linux-image-*/.done 2>/dev/null | sort -V | tail -n 1 |
      sed 's|.*/\(linux-image-[^/]*\)/.done|\1|')
  fi
  if [ -z "$pkg" ]; then
    apt-get update -qq >&2
    pkg=$(apt-cache depends linux-image-amd64 | sed -n 's/^ *Depends: \(linux-image-.*\)/\1/p' |
      head -n 1)
  fi
  [ -n "$pkg" ] || die "apt knows no package that linux-image-amd64 depends on"
  echo "$pkg"
}

# Unpacks the kernel package (never installed) and extracts an uncompressed vmlinux: PVH
# direct boot of the ELF takes about 3 s to /init, the bzImage about 7 s.
unpack_kernel() {
  local pkg=$1 dir=$VM_DIR/$1 tmp
  [ -f "$dir/.done" ] && return
  say "downloading and unpacking $pkg"
  rm -rf "$dir" && mkdir -p "$dir"
  tmp=$(mktemp -d "$VM_DIR/dl.XXXXXX")
  (cd "$tmp" && apt-get download -qq "$pkg" 2>/dev/null) || die "apt-get download $pkg failed"
  dpkg-deb -x "$tmp"/*.deb "$dir/root"
  rm -rf "$tmp"
  local kver
  kver=$(ls "$dir/root/lib/modules")
  depmod -b "$dir/root" "$kver"
  $PY - "$dir/root/boot/vmlinuz-$kver" "$dir/vmlinux" <<'EOF'
import lzma, sys
data = open(sys.argv[1], "rb").read()
at = data.find(b"\xfd7zXZ\x00")  # the xz stream inside the bzImage
if at < 0:
    sys.exit("no xz stream in " + sys.argv[1])
elf = lzma.LZMADecompressor().decompress(data[at:])
if elf[:4] != b"\x7fELF":
    sys.exit("the xz stream is not an ELF kernel")
open(sys.argv[2], "wb").write(elf)
EOF
  echo "$kver" >"$dir/kver"
  touch "$dir/.done"
}

# Copies a program and the libraries ldd names into the tree, at their own paths.
copy_program() {
  local tree=$1 prog=$2 lib
  mkdir -p "$tree$(dirname "$prog")" && cp -L "$prog" "$tree$prog"
  for lib in $(ldd "$prog" | grep -oE '/[^ ]+'); do
    mkdir -p "$tree$(dirname "$lib")" && cp -L "$lib" "$tree$lib"
  done
}

build_initramfs() {
  local kdir=$1 kver=$2 out=$3 tree m deps loaded=() builtin=() absent=()
  tree=$(mktemp -d "$VM_DIR/initramfs.XXXXXX")
  mkdir -p "$tree"/{bin,sbin,usr/bin,usr/sbin,dev,proc,sys,tmp,etc/nvme,lib/modules/$kver}
  cp /bin/busybox "$tree/bin/busybox"
  for a in $(/bin/busybox --list-full); do
    [ -e "$tree/$a" ] || ln -s /bin/busybox "$tree/$a"
  done
  [ "$(id -u)" = 0 ] && mknod -m 600 "$tree/dev/console" c 5 1
  for m in $MODULES; do
    if ! deps=$(modprobe -d "$kdir" -S "$kver" --show-depends "$m" 2>/dev/null); then
      absent+=("$m")
      continue
    fi
    if ! grep -q '^insmod ' <<<"$deps"; then
      builtin+=("$m")
      continue
    fi
    loaded+=("$m")
    for f in $(sed -n 's/^insmod \([^ ]*\).*/\1/p' <<<"$deps"); do
      f=${f#"$kdir"}
      mkdir -p "$tree$(dirname "$f")" && cp "$kdir$f" "$tree$f"
    done
  done
  cp "$kdir/lib/modules/$kver"/modules.{builtin,builtin.modinfo,order} "$tree/lib/modules/$kver/"
  depmod -b "$tree" "$kver"
  printf '%s\n' "${loaded[@]}" >"$tree/etc/nbvm-modules"
  say "modules: ${loaded[*]}"
  [ ${#builtin[@]} -eq 0 ] || say "built into $kver: ${builtin[*]}"
  [ ${#absent[@]} -eq 0 ] || say "not in $kver (skipped): ${absent[*]}"
  copy_program "$tree" "$(command -v nvme)"
  if [ -s /etc/nvme/hostnqn ]; then cp /etc/nvme/hostnqn "$tree/etc/nvme/hostnqn"
  else nvme gen-hostnqn >"$tree/etc/nvme/hostnqn"; fi
  [ -s /etc/nvme/hostid ] && cp /etc/nvme/hostid "$tree/etc/nvme/hostid"
  install -m 755 "$HERE/init.sh" "$tree/init"
  (cd "$tree" && find . | cpio -o -H newc --quiet | gzip -1) >"$out.tmp"
  mv "$out.tmp" "$out"
  rm -rf "$tree"
}

# Sets KVER, VMLINUX, INITRAMFS. Cached under VM_DIR by kernel package and by a hash of
# init.sh and this script (the module list lives here), so a second prepare is instant.
prepare() {
  mkdir -p "$VM_DIR"
  exec 9>"$VM_DIR/.lock"
  flock 9 # two runs starting together: one prepares, the other waits and finds it done
  host_packages
  local pkg hash
  pkg=$(kernel_package)
  unpack_kernel "$pkg"
  KVER=$(cat "$VM_DIR/$pkg/kver")
  VMLINUX=$VM_DIR/$pkg/vmlinux
  hash=$(cat "$HERE/init.sh" "$HERE/vm.sh" | sha256sum | cut -c1-12)
  INITRAMFS=$VM_DIR/$pkg/initramfs-$hash.cpio.gz
  if [ ! -f "$INITRAMFS" ]; then
    say "building the initramfs for $KVER ($hash)"
    rm -f "$VM_DIR/$pkg"/initramfs-*.cpio.gz
    build_initramfs "$VM_DIR/$pkg/root" "$KVER" "$INITRAMFS"
  fi
  exec 9>&-
}

usage() {
  echo "usage: $0 prepare | run [--timeout SECONDS] [--test-timeout SECONDS] TEST[:SECONDS]..." >&2
  exit 2
}

run() {
  local total= per=${NB_VM_TEST_TIMEOUT:-300} tests=() t secs sum=0
  while [ $# -gt 0 ]; do
    case "$1" in
      --timeout) total=${2:?}; shift 2 ;;
      --test-timeout) per=${2:?}; shift 2 ;;
      -*) usage ;;
      *) break ;;
    esac
  done
  [ $# -gt 0 ] || usage
  for t in "$@"; do
    [[ $t =~ ^[A-Za-z0-9_.-]+(:[0-9]+)?$ ]] || die "bad test name: $t"
    [[ $t == *:* ]] || t=$t:$per
    tests+=("$t")
    sum=$((sum + ${t#*:}))
  done
  total=${total:-$((90 + sum))}
  for p in "$REPO" "$NB_BUILD" "$VM_DIR"; do
    [[ $p =~ ^/[A-Za-z0-9_./+-]*$ ]] || die "path unusable on a kernel command line: $p"
  done

  prepare
  local run rc=0 start
  run=$(mktemp -d "$VM_DIR/run.XXXXXX")
  [ "${NB_VM_KEEP:-0}" = 1 ] || trap "rm -rf '$run'" EXIT
  # Fresh sparse namespaces each boot: ns1 256 MiB, ns2 64 MiB. The controller is in an NVM
  # subsystem so that namespaces can be detached and attached (namespace-change events).
  truncate -s 256M "$run/ns1.img"
  truncate -s 64M "$run/ns2.img"
  mkdir "$run/share"
  local quiet="quiet loglevel=3"
  [ "${NB_VM_VERBOSE:-0}" = 1 ] && quiet=""
  local names
  names=$(IFS=,; echo "${tests[*]}")
  # no_timer_check: under TCG on a loaded host the kernel's early IO-APIC timer check can miss
  # its ticks and panic ("timer doesn't work through Interrupt-remapped IO-APIC") before init.
  local append="console=ttyS0 intel_iommu=on iommu=pt panic=-1 no_timer_check $quiet nb_repo=$REPO"
  append+=" nb_build=$NB_BUILD nb_share=$run/share nb_tests=$names"
  say "booting $KVER for: ${tests[*]} (overall timeout ${total}s)"
  start=$(date +%s%N)
  set +e
  timeout -k 10 "$total" qemu-system-x86_64 -nodefaults -accel tcg -cpu max \
    -M q35,kernel-irqchip=split -device intel-iommu,intremap=on,caching-mode=on,aw-bits=48 \
    -m 1536M -smp 2 -kernel "$VMLINUX" -initrd "$INITRAMFS" -append "$append" \
    -drive file="$run/ns1.img",if=none,id=nvm1,format=raw \
    -drive file="$run/ns2.img",if=none,id=nvm2,format=raw \
    -device nvme-subsys,id=subsys0,nqn=nativebdev-test \
    -device nvme,id=nvme0,serial=deadbeef,subsys=subsys0 \
    -device nvme-ns,drive=nvm1,bus=nvme0,nsid=1 -device nvme-ns,drive=nvm2,bus=nvme0,nsid=2 \
    -virtfs local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap,id=hostroot \
    -virtfs local,path="$run/share",mount_tag=share,security_model=none,multidevs=remap,id=share \
    -device isa-debug-exit,iobase=0xf4,iosize=0x04 -display none -serial stdio -monitor none \
    -no-reboot </dev/null 2>&1 | tr -d '\r' | tee "$run/console.log" ${NB_VM_LOG:+"$NB_VM_LOG"}
  local qrc=${PIPESTATUS[0]}
  set -e
  local ms=$((($(date +%s%N) - start) / 1000000))
  report "$run/console.log" "$qrc" "$total" "$((ms / 1000)).$((ms % 1000 / 100))" "${tests[@]}"
}

# Every test must have its PASS line, the guest its VMRESULT line, QEMU exit 33 (16+0).
# A test without a marker (panic, hang) gets a FAIL line here so that logs count it.
report() {
  local log=$1 qrc=$2 total=$3 took=$4 t name ok=1 passed=0 failed=0 out=()
  shift 4
  for t in "$@"; do
    name=${t%%:*}
    if grep -qx "VMTEST $name PASS" "$log"; then
      passed=$((passed + 1))
    elif grep -qE "^VMTEST $name FAIL" "$log"; then
      failed=$((failed + 1)); ok=0
    else
      out+=("VMTEST $name FAIL rc=lost")
      failed=$((failed + 1)); ok=0
    fi
  done
  case $qrc in
    33) ;;
    35) ok=0 ;;
    124 | 137) say "the guest did not finish in ${total}s: killed"; ok=0 ;;
    *) say "QEMU exited with $qrc (a panic exits 0)"; ok=0 ;;
  esac
  grep -qE '^VMRESULT passed=[0-9]+ failed=[0-9]+' "$log" || { say "no VMRESULT line"; ok=0; }
  [ "$ok" = 1 ] || [ "$failed" -gt 0 ] || { out+=("VMTEST guest FAIL rc=$qrc"); failed=1; }
  for t in "${out[@]}"; do echo "$t" | tee -a ${NB_VM_LOG:+"$NB_VM_LOG"} /dev/null; done
  say "$passed passed, $failed failed in ${took}s"
  [ "$ok" = 1 ]
}

case "${1:-}" in
  prepare) prepare; say "ready: $VMLINUX $INITRAMFS" ;;
  run) shift; run "$@" ;;
  *) usage ;;
esac
