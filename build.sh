#!/usr/bin/env bash
# The one entry point: ./build.sh [build|test|vm [TEST...]|run|bench|clean]
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$PWD
BUILD=$ROOT/build
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

need_packages() {
  # Everything the build and the tests use, installed on a fresh machine of this kind.
  local missing=()
  command -v cmake >/dev/null || missing+=(cmake)
  command -v gcc >/dev/null || missing+=(gcc)
  # The layout checks (tests/unit/Abi) compile tests/abi/kernel_layouts.c against these headers.
  [ -f /usr/include/stdio.h ] || missing+=(libc6-dev)
  [ -f /usr/include/linux/io_uring.h ] || missing+=(linux-libc-dev)
  command -v nm >/dev/null || missing+=(binutils)
  [ -f /usr/lib/python3/dist-packages/clang/cindex.py ] || missing+=(python3-clang)
  command -v abidiff >/dev/null || missing+=(abigail-tools) # tests/abi/check_abi.py
  command -v fio >/dev/null || missing+=(fio)
  # Real NBD clients for the NBD server's tests (tests/nbd).
  command -v nbdinfo >/dev/null || missing+=(libnbd-bin)
  command -v qemu-img >/dev/null || missing+=(qemu-utils)
  command -v bc >/dev/null || missing+=(bc)
  command -v xz >/dev/null || missing+=(xz-utils) # the tests read SPDK's lvol store fixtures
  command -v pkg-config >/dev/null || missing+=(pkg-config)
  command -v losetup >/dev/null || missing+=(mount)
  command -v clang-14 >/dev/null || missing+=(clang-14)
  ls /usr/lib/llvm-14/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1 || missing+=(libclang-rt-14-dev)
  # The Rust bindings (bindings/rust): bindgen regenerates nativebdev-sys in their tests; cargo
  # from rustup (~/.cargo/bin) if present, else Debian's.
  command -v bindgen >/dev/null || missing+=(bindgen)
  command -v cargo >/dev/null || [ -x "$HOME/.cargo/bin/cargo" ] || missing+=(cargo)
  if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ]; then
      echo "installing: ${missing[*]}"
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    else
      echo "missing packages (install them as root): ${missing[*]}" >&2
      exit 1
    fi
  fi
  command -v dotnet >/dev/null || { echo "the .NET SDK (dotnet) is required" >&2; exit 1; }
}

configure() {
  need_packages
  cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
}

build() {
  configure
  cmake --build "$BUILD" -j2
}

unit_tests() {
  # TUnit (JIT build of the runtime). Its summary line is parsed by .ci/run.
  dotnet test "$ROOT/tests/unit/NativeBdev.Tests.csproj" -c Release 2>&1 | tee "$BUILD/tunit.log"
  return "${PIPESTATUS[0]}"
}

c_tests() {
  (cd "$BUILD" && ctest --output-on-failure --timeout 300) 2>&1 | tee "$BUILD/ctest.log"
  return "${PIPESTATUS[0]}"
}

rust_tests() {
  # The Rust bindings: cargo test (unit, integration against build/'s .so, the examples, the
  # bindings regenerated from the header, doc tests) and cargo doc, offline (no registry
  # crates), into build/cargo. Its "test result:" lines are counted by .ci/run.
  (
    export PATH="$PATH:$HOME/.cargo/bin" CARGO_NET_OFFLINE=true CARGO_TARGET_DIR="$BUILD/cargo" NB_BUILD="$BUILD"
    cd "$ROOT/bindings/rust" && cargo test && cargo doc --no-deps
  ) 2>&1 | tee "$BUILD/cargo.log"
  return "${PIPESTATUS[0]}"
}

vm_tests() {
  # The guest tests (tests/vm/README.md): one QEMU guest runs every test tests/vm/tests.list
  # names against an emulated NVMe controller. Its VMTEST lines are counted by .ci/run.
  local tests=("$@")
  [ ${#tests[@]} -gt 0 ] || mapfile -t tests < <(grep -vE '^\s*(#|$)' "$ROOT/tests/vm/tests.list")
  : >"$BUILD/vm.log"
  NB_VM_LOG="$BUILD/vm.log" NB_BUILD="$BUILD" "$ROOT/tests/vm/vm.sh" run "${tests[@]}"
}

case "${1:-build}" in
  build) build ;;
  test)
    build
    rc=0
    unit_tests || rc=1
    c_tests || rc=1
    rust_tests || rc=1
    vm_tests || rc=1
    exit $rc
    ;;
  vm)
    build
    shift
    vm_tests "$@"
    ;;
  run)
    # The main job: bdevperf for a few seconds on a malloc bdev, on the embedded defaults.
    build
    "$BUILD/examples/c/bdevperf" -q 32 -o 4096 -w randrw -M 70 -t "${RUN_SECONDS:-5}" -S 1 \
      -b "malloc:///Malloc0?size_mb=64"
    ;;
  bench)
    build
    "$ROOT/bench/bench.sh" "$BUILD"
    ;;
  clean) rm -rf "$BUILD" "$ROOT/bin" "$ROOT/obj" "$ROOT/tests/unit/bin" "$ROOT/tests/unit/obj" ;;
  *) echo "usage: $0 [build|test|vm [TEST...]|run|bench|clean]" >&2; exit 2 ;;
esac
