#!/usr/bin/env bash
# The C# style check, run by CTest (csharp_style) and so by ./build.sh test:
#  1. `dotnet format --verify-no-changes` over the library, the TUnit tests, the NVMe
#     callgrind benchmark, the C# bindings and their sample (style.slnx beside this script: one
#     workspace load for them all);
#  2. no line of C# under runtime/, tests/, bench/ or bindings/csharp/samples/ longer than 120 columns
#     (.editorconfig's max_line_length, which dotnet format does not enforce).
# dotnet format restores the projects itself, so this runs in a fresh clone. About 30 s.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
MAX_COLUMNS=120
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
rc=0

if ! dotnet format "$ROOT/tests/style/style.slnx" --verify-no-changes; then
  echo "style: dotnet format would change the files above (fix: dotnet format tests/style/style.slnx)" >&2
  rc=1
fi

cd "$ROOT" || exit 1
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  mapfile -d '' files < <(git ls-files -z -co --exclude-standard -- 'runtime/*.cs' 'tests/*.cs' 'bench/*.cs' 'bindings/csharp/samples/*.cs')
else
  mapfile -d '' files < <(find runtime tests bench bindings/csharp/samples -name '*.cs' -not -path '*/obj/*' -not -path '*/bin/*' -print0)
fi
if [ ${#files[@]} -eq 0 ]; then
  echo "style: no C# files found under $ROOT" >&2
  exit 1
fi
# Characters, not bytes (a UTF-8 locale); -s: a file deleted but not yet staged is skipped.
long=$(LC_ALL=C.UTF-8 grep -snE "^.{$((MAX_COLUMNS + 1)),}" "${files[@]}" | cut -d: -f1,2)
if [ -n "$long" ]; then
  echo "style: lines longer than $MAX_COLUMNS columns:" >&2
  echo "$long" | sed 's/^/  /' >&2
  rc=1
fi

if [ $rc -eq 0 ]; then
  echo "style: dotnet format clean, ${#files[@]} C# files within $MAX_COLUMNS columns"
fi
exit $rc
