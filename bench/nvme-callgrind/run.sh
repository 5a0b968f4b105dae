#!/usr/bin/env bash
# Instructions per I/O of the submit and completion paths, NVMe queue-pair driver vs null
# bdev, counted by callgrind (docs/PERFORMANCE.md). Usage: run.sh BUILD_DIR [IOS] [DEPTH]
# Each path is counted alone (--toggle-collect on its function); Ir / I/Os (warm-up included:
# both paths ran for each) is per I/O. The
# simulated controller serves the queues between the two paths on the same thread, outside
# both counts, so only the driver's own instructions (PRPs, ring entry, doorbell, phase-tag
# reap, tracker bookkeeping) are counted.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
BUILD=${1:?build directory}
IOS=${2:-20000}
DEPTH=${3:-32}
OUT=$BUILD/nvme-callgrind
command -v valgrind >/dev/null || {
  [ "$(id -u)" = 0 ] || { echo "valgrind is needed (apt-get install valgrind)" >&2; exit 1; }
  apt-get install -y -qq valgrind >/dev/null
}
dotnet publish "$HERE/NvmeCallgrind.csproj" -c Release -o "$OUT" -v quiet -nologo >/dev/null
# Valgrind 3.19 cannot read the DWARF 5 the toolchain emits: keep the symbol table only.
strip --strip-debug "$OUT/NvmeCallgrind"
count() { # mode function
  local log=$OUT/callgrind.$1.$2
  valgrind --tool=callgrind --callgrind-out-file="$log.out" \
    --toggle-collect="NvmeCallgrind_NativeBdev_Bench_Program__$2" \
    "$OUT/NvmeCallgrind" "$1" "$IOS" "$DEPTH" >"$log.log" 2>&1
  local ir total
  ir=$(sed -n 's/^summary: *\([0-9]*\).*/\1/p' "$log.out" | head -n 1)
  total=$(sed -n 's/^total \([0-9]*\)$/\1/p' "$log.log")
  echo $((ir / total))
}
printf '%-6s %12s %16s %8s   (4 KiB reads, batches of %d, %d I/Os, instructions per I/O)\n' \
  bdev submit completion total "$DEPTH" "$IOS"
for mode in null nvme; do
  s=$(count $mode SubmitPath)
  c=$(count $mode CompletionPath)
  printf '%-6s %12d %16d %8d\n' "$mode" "$s" "$c" $((s + c))
done
