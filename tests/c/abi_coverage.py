#!/usr/bin/python3
"""test_abi_hardening.c must call every function nativebdev.h declares.

Usage: abi_coverage.py nativebdev.h test_abi_hardening.c
Reads the nb_* function declarations from the header (a declaration is a line-start type,
the name and an opening parenthesis; typedefs of function pointers are not functions) and
fails naming each one the test never calls (as `name(`). Plain regular expressions, so it
runs wherever python3 does."""
import re
import sys


def declared(header_text):
    text = re.sub(r"/\*.*?\*/", " ", header_text, flags=re.S)  # drop comments
    names = set()
    for m in re.finditer(r"^(?!typedef)[A-Za-z_][\w \t\*]*?\b(nb_\w+)\s*\(", text, flags=re.M):
        names.add(m.group(1))
    return names


def main():
    header, test = sys.argv[1], sys.argv[2]
    with open(header) as f:
        names = declared(f.read())
    with open(test) as f:
        src = re.sub(r"/\*.*?\*/", " ", f.read(), flags=re.S)
    if len(names) < 50:
        sys.exit(f"only {len(names)} functions found in {header}: the parser is wrong")
    missing = sorted(n for n in names if not re.search(r"\b" + n + r"\s*\(", src))
    if missing:
        sys.exit(f"{len(missing)} of {len(names)} header functions are never called by {test}: " + ", ".join(missing))
    print(f"all {len(names)} functions of {header} are called by {test}")


if __name__ == "__main__":
    main()
