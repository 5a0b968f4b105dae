#!/usr/bin/env bash
# Builds the libFuzzer harnesses against the published library and runs each for a bounded
# time. Exit 0 when no harness found anything; otherwise 1, with the reproducers named.
#
#   tests/fuzz/run.sh BUILD_DIR [SECONDS_EACH=30] [HARNESS...]      (HARNESS: uri, coremask, nbd, rpc, config, nvmf, lvs, nexus_state)
#
# Needs clang-14 with libFuzzer (Debian: clang-14 libclang-rt-14-dev) and a built library
# (BUILD_DIR/nativebdev/libnativebdev.so, from ./build.sh). Extra libFuzzer flags can be given
# in FUZZ_FLAGS. Working corpora, crash artifacts and logs go to BUILD_DIR/fuzz/; the seed
# corpora under tests/fuzz/corpus/ are only read. Do not edit this script while it runs
# (bash reads it as it goes).
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
[ $# -ge 1 ] || { echo "usage: $0 BUILD_DIR [SECONDS_EACH] [HARNESS...]" >&2; exit 2; }
BUILD=$(cd "$1" && pwd) || exit 2
SECS=${2:-30}
shift $(( $# >= 2 ? 2 : 1 ))
HARNESSES=("$@")
[ ${#HARNESSES[@]} -gt 0 ] || HARNESSES=(uri coremask nbd)

LIB=$BUILD/nativebdev
CC=${CC:-clang-14}
if [ ! -f "$LIB/libnativebdev.so" ]; then
  echo "no $LIB/libnativebdev.so: build the library first (./build.sh)" >&2
  exit 2
fi
if ! command -v "$CC" >/dev/null; then
  echo "$CC not found: apt-get install clang-14 libclang-rt-14-dev" >&2
  exit 2
fi
OUT=$BUILD/fuzz
mkdir -p "$OUT/artifacts" "$OUT/lib"
# The harnesses run on a private copy of the library: a rebuild rewriting the build's copy
# under a running fuzzer would crash it. Renamed into place, so a fuzzer still running on
# the previous copy keeps it.
cp "$LIB/libnativebdev.so" "$OUT/lib/.libnativebdev.so.$$" &&
  mv -f "$OUT/lib/.libnativebdev.so.$$" "$OUT/lib/libnativebdev.so.0" &&
  ln -sf libnativebdev.so.0 "$OUT/lib/libnativebdev.so" || exit 2

failed=0
for h in "${HARNESSES[@]}"; do
  src=$HERE/fuzz_$h.c
  bin=$OUT/fuzz_$h
  if [ ! -f "$src" ]; then
    echo "unknown harness '$h' (no $src)" >&2
    exit 2
  fi
  # Only the harness is instrumented (-fsanitize=fuzzer); the NativeAOT library is not.
  if ! "$CC" -g -O1 -fsanitize=fuzzer -Wall -Wextra -I"$ROOT/include" "$src" -o "$bin" \
      -L"$OUT/lib" -lnativebdev -Wl,-rpath,"$OUT/lib"; then
    echo "fuzz_$h: build failed (libFuzzer needs libclang-rt-14-dev)" >&2
    exit 2
  fi
  dict=$HERE/$h.dict
  [ -f "$dict" ] || dict=""
  corpus=$OUT/corpus_$h
  mkdir -p "$corpus"
  # One log per run (two runs may share the build tree: CTest and a long run by hand);
  # fuzz_$h.log points at the latest, the ten latest are kept.
  mkdir -p "$OUT/logs"
  log=$OUT/logs/fuzz_$h.$(date +%Y%m%d-%H%M%S).$$.log
  ln -sf "logs/$(basename "$log")" "$OUT/fuzz_$h.log"
  ls -t "$OUT/logs"/fuzz_$h.*.log 2>/dev/null | tail -n +11 | xargs -r rm -f
  echo "== fuzz_$h: ${SECS}s (log: $log)"
  seeds=()
  [ -d "$HERE/corpus/$h" ] && seeds+=("$HERE/corpus/$h")
  maxlen=8192
  if [ "$h" = lvs ]; then
    # Store images: the first 64 KiB (super block, masks, metadata pages) of each SPDK-made
    # store in the shared fixtures, written fresh as seeds (the fixtures are only read).
    maxlen=65536
    fixtures=""
    for d in "${NB_FIXTURES:-}" "$ROOT/../shared/fixtures" /work/shared/fixtures; do
      [ -n "$d" ] && [ -d "$d/lvs" ] && { fixtures=$d/lvs; break; }
    done
    mkdir -p "$OUT/seeds_lvs"
    for img in "$fixtures"/*.img.xz; do
      [ -f "$img" ] && xz -dc "$img" | head -c 65536 > "$OUT/seeds_lvs/$(basename "$img" .img.xz)"
    done
    seeds+=("$OUT/seeds_lvs")
  fi
  # The first corpus directory receives new inputs; the seeds are read only.
  # -timeout: an input running longer than 10 s is a hang and reported as such.
  # -print_funcs=0: naming a newly covered function starts llvm-symbolizer on two pipes that
  # stay open, which the harnesses' descriptor check would report as a leak.
  "$bin" "$corpus" "${seeds[@]}" \
    -max_total_time="$SECS" -use_value_profile=1 ${dict:+-dict="$dict"} \
    -timeout=10 -print_funcs=0 -max_len="$maxlen" -rss_limit_mb=4096 -print_final_stats=1 \
    -artifact_prefix="$OUT/artifacts/${h}-" ${FUZZ_FLAGS:-} >"$log" 2>&1
  rc=$?
  grep -aE "^(stat::number_of_executed_units|stat::new_units_added|stat::peak_rss_mb)" "$log" | sed 's/^/   /'
  if [ $rc -ne 0 ]; then
    failed=1
    echo "fuzz_$h FOUND A PROBLEM (exit $rc). The end of its log:" >&2
    grep -av "^#" "$log" | tail -40 >&2
    for a in $(grep -aoE "Test unit written to [^ ]+" "$log" | awk '{print $5}'); do
      echo "   reproducer: $a  (bytes: $(od -An -c "$a" | head -3 | tr -s ' '))" >&2
      echo "   replay:     $bin $a" >&2
    done
  else
    echo "   fuzz_$h: nothing found"
  fi
done
exit $failed
