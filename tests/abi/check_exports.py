#!/usr/bin/python3
"""The public header and the library's exported symbols must agree in both directions.

Parses include/nativebdev.h with libclang (Debian's python3-clang) for every nb_* function
declaration, reads the .so's dynamic symbol table with `nm -D --defined-only`, and fails
on a function declared but not exported (a link error waiting for users) or exported but
not declared (an undocumented ABI surface)."""
import subprocess
import sys

import clang.cindex as ci


def load_libclang():
    import glob
    for path in sorted(glob.glob("/usr/lib/llvm-*/lib/libclang.so*"), reverse=True) + \
            sorted(glob.glob("/usr/lib/x86_64-linux-gnu/libclang-*.so*"), reverse=True):
        try:
            ci.Config.set_library_file(path)
            ci.Index.create()
            return
        except Exception:
            ci.Config.loaded = False
    raise SystemExit("libclang not found: apt-get install python3-clang")


def header_functions(header):
    index = ci.Index.create()
    tu = index.parse(header, args=["-x", "c", "-std=c11"])
    errors = [d for d in tu.diagnostics if d.severity >= ci.Diagnostic.Error]
    if errors:
        raise SystemExit("header does not parse: " + "; ".join(str(d) for d in errors))
    names = {}
    for c in tu.cursor.get_children():
        if c.kind == ci.CursorKind.FUNCTION_DECL and c.location.file and \
                c.location.file.name.endswith("nativebdev.h"):
            names[c.spelling] = c.type.spelling
    return names


def exported(so):
    out = subprocess.run(["nm", "-D", "--defined-only", so], check=True,
                         capture_output=True, text=True).stdout
    syms = set()
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1] in ("T", "t"):
            syms.add(parts[2].split("@")[0])
    return syms


def main():
    header, so = sys.argv[1], sys.argv[2]
    load_libclang()
    declared = header_functions(header)
    exports = exported(so)
    ours = {s for s in exports if s.startswith("nb_")}
    foreign = sorted(s for s in exports - ours if not s.startswith("DotNetRuntime"))
    missing = sorted(set(declared) - ours)
    undeclared = sorted(ours - set(declared))
    bad_prefix = sorted(n for n in declared if not n.startswith("nb_"))
    for name in missing:
        print(f"declared in the header but not exported: {name} {declared[name]}")
    for name in undeclared:
        print(f"exported but not declared in the header: {name}")
    for name in foreign + bad_prefix:
        print(f"symbol without the nb_ prefix: {name}")
    print(f"{len(declared)} functions declared, {len(ours)} nb_ symbols exported")
    return 1 if (missing or undeclared or foreign or bad_prefix) else 0


if __name__ == "__main__":
    sys.exit(main())
