#!/usr/bin/env bash
# AES-XTS-256 encryption on one core (core 0): our runtime/Crypto (AOT, and Release JIT with
# tiered PGO) against `openssl speed -evp aes-256-xts`, alternated, ROUNDS rounds, medians. Both
# divide by user CPU time (openssl speed's default; Program.cs does the same), so that jobs
# sharing the core do not count against either.
# Usage: bench/cipher/run.sh [ROUNDS] [SECONDS]
set -euo pipefail
ROUNDS=${1:-5}; SECS=${2:-2}
HERE=$(cd "$(dirname "$0")" && pwd)
dotnet publish "$HERE/CipherBench.csproj" -c Release -r linux-x64 -p:PublishAot=true -o /tmp/cipherbench-aot >/dev/null
dotnet build "$HERE/CipherBench.csproj" -c Release -o /tmp/cipherbench-jit >/dev/null
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
for n in 512 4096 131072; do
  : >/tmp/cb.aot; : >/tmp/cb.jit; : >/tmp/cb.ssl
  for _ in $(seq "$ROUNDS"); do
    taskset -c 0 /tmp/cipherbench-aot/CipherBench "$n" "$SECS" >>/tmp/cb.aot
    taskset -c 0 openssl speed -evp aes-256-xts -bytes "$n" -seconds "$SECS" -mr 2>/dev/null |
      awk -F: '/^\+F:/ {printf "%.0f\n", $4 / 1e6}' >>/tmp/cb.ssl
    taskset -c 0 /tmp/cipherbench-jit/CipherBench "$n" "$SECS" >>/tmp/cb.jit
  done
  a=$(median </tmp/cb.aot); j=$(median </tmp/cb.jit); s=$(median </tmp/cb.ssl)
  printf '%7s B units: ours AOT %6s MB/s  JIT %6s MB/s  openssl %6s MB/s  AOT/openssl %.2f  JIT/openssl %.2f\n' \
    "$n" "$a" "$j" "$s" "$(echo "$a / $s" | bc -l)" "$(echo "$j / $s" | bc -l)"
done
