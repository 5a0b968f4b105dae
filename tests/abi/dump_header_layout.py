#!/usr/bin/python3
"""Prints, as JSON, the binary layout the public header promises: every nb_* struct (size, and
each field's offset and size, in bytes), every enum's constants and every NB_* object-like macro.

Read by tests/unit/Abi/HeaderLayoutTests.cs, which compares it with the C# mirrors in runtime/.
The layouts come from libclang (Debian's python3-clang) so they are what a C compiler sees, not
what a regular expression guesses. Usage: dump_header_layout.py include/nativebdev.h"""
import ast
import json
import os
import sys

import clang.cindex as ci

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from check_exports import load_libclang  # noqa: E402  (one way to find libclang)

ARGS = ["-x", "c", "-std=c11"]


def parse(index, path, unsaved=None):
    tu = index.parse(path, args=ARGS + ["-I", os.path.dirname(os.path.abspath(path))],
                     unsaved_files=unsaved,
                     options=ci.TranslationUnit.PARSE_DETAILED_PROCESSING_RECORD)
    errors = [d for d in tu.diagnostics if d.severity >= ci.Diagnostic.Error]
    if errors:
        raise SystemExit(f"{path} does not parse: " + "; ".join(str(d) for d in errors))
    return tu


def in_header(cursor, header):
    return cursor.location.file is not None and \
        os.path.abspath(cursor.location.file.name) == os.path.abspath(header)


def struct_layout(cursor):
    fields = []
    for f in cursor.get_children():
        # Nested records, anonymous unions and bit-fields have no one-to-one C# mirror: refuse
        # them here rather than dump a layout the test would compare wrongly.
        if f.kind != ci.CursorKind.FIELD_DECL or f.is_bitfield() or f.is_anonymous():
            raise SystemExit(f"struct {cursor.spelling}: unsupported member {f.kind} {f.spelling}")
        fields.append({"name": f.spelling, "offset": f.get_field_offsetof() // 8,
                       "size": f.type.get_size()})
    return {"size": cursor.type.get_size(), "fields": fields}


def macro_values(index, header, macros):
    """Integer macros are evaluated by the compiler (NB_VTOPHYS_ERROR is UINT64_MAX): each
    becomes an enumerator of a probe file; string macros are read from their one token."""
    values, integers = {}, []
    for name, body in macros.items():
        if len(body) == 1 and body[0].startswith('"'):
            values[name] = ast.literal_eval(body[0])
        else:
            integers.append(name)
    probe = f'#include "{os.path.basename(header)}"\n' + "".join(
        f"enum nb_probe_{n} {{ nb_probe_{n} = ({n}) }};\n" for n in integers)
    probe_path = os.path.join(os.path.dirname(os.path.abspath(header)), "nb_layout_probe.c")
    tu = parse(index, probe_path, unsaved=[(probe_path, probe)])
    for c in tu.cursor.walk_preorder():
        if c.kind == ci.CursorKind.ENUM_CONSTANT_DECL and c.spelling.startswith("nb_probe_"):
            values[c.spelling[len("nb_probe_"):]] = c.enum_value
    missing = [n for n in integers if n not in values]
    if missing:
        raise SystemExit("macros that are not integer constants: " + ", ".join(missing))
    return values


def main():
    header = sys.argv[1]
    load_libclang()
    index = ci.Index.create()
    tu = parse(index, header)
    structs, enums, macros = {}, {}, {}
    for c in tu.cursor.get_children():
        if not in_header(c, header):
            continue
        if c.kind == ci.CursorKind.STRUCT_DECL and c.is_definition():
            structs[c.spelling] = struct_layout(c)
        elif c.kind == ci.CursorKind.ENUM_DECL:
            enums[c.spelling] = {k.spelling: k.enum_value for k in c.get_children()}
        elif c.kind == ci.CursorKind.MACRO_DEFINITION and c.spelling.startswith("NB_"):
            body = [t.spelling for t in c.get_tokens()][1:]
            macros[c.spelling] = body
    json.dump({"structs": structs, "enums": enums, "macros": macro_values(index, header, macros)},
              sys.stdout, indent=1, sort_keys=True)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
