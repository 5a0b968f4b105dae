#!/usr/bin/env bash
# Installs the build into a scratch prefix and builds hello_bdev against the installed copy
# twice — with pkg-config and with find_package(NativeBdev) — then runs both. Proves the
# header, the library with its soname links, nativebdev.pc and the CMake package work.
set -euo pipefail
SRC=${1:?source dir}
BUILD=${2:?build dir}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
PREFIX=$WORK/prefix
cmake --install "$BUILD" --prefix "$PREFIX" >/dev/null
test -f "$PREFIX/include/nativebdev.h"
test -L "$PREFIX/lib/libnativebdev.so.0"
test -L "$PREFIX/lib/libnativebdev.so"

# pkg-config
export PKG_CONFIG_PATH=$PREFIX/lib/pkgconfig
cc -o "$WORK/hello_pc" "$SRC/examples/c/hello_bdev.c" $(pkg-config --cflags --libs nativebdev) \
   -Wl,-rpath,"$PREFIX/lib"
"$WORK/hello_pc" | grep -q "Hello World!"
readelf -d "$WORK/hello_pc" | grep -q "libnativebdev.so.0"

# find_package
mkdir -p "$WORK/consumer"
cat > "$WORK/consumer/CMakeLists.txt" <<CMAKE
cmake_minimum_required(VERSION 3.20)
project(consumer C)
find_package(NativeBdev 0.1 REQUIRED)
add_executable(hello $SRC/examples/c/hello_bdev.c)
target_link_libraries(hello PRIVATE NativeBdev::nativebdev)
set_target_properties(hello PROPERTIES BUILD_RPATH "$PREFIX/lib")
CMAKE
cmake -S "$WORK/consumer" -B "$WORK/consumer/build" -DCMAKE_PREFIX_PATH="$PREFIX" >/dev/null
cmake --build "$WORK/consumer/build" >/dev/null
"$WORK/consumer/build/hello" | grep -q "Hello World!"
echo "install: header, library, pkg-config and CMake package all work"
