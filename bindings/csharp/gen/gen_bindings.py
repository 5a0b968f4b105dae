#!/usr/bin/python3
"""Generates the C# bindings of libnativebdev (bindings/csharp/NativeBdev.Bindings.g.cs) from
include/nativebdev.h, read by libclang (Debian's python3-clang), in the shape ClangSharp's
P/Invoke generator gives: one [LibraryImport] partial method per function (source-generated
marshalling; runtime marshalling disabled, so every type is blittable and passes as is),
enums with the C enum's underlying type, #define constants, structs with the layout clang
computes (LayoutKind.Explicit, each field at clang's offset, the struct at clang's size; char
arrays as fixed buffers), opaque handles as empty structs used through pointers, function
pointer typedefs as `delegate* unmanaged[Cdecl]<...>` aliases, and the header's comments as
doc comments.

Usage: gen_bindings.py [--check] include/nativebdev.h bindings/csharp/NativeBdev.Bindings.g.cs
--check compares instead of writing and fails on any difference (CTest
csharp_bindings_match_header): regenerate after changing the header."""
import os
import re
import sys

import clang.cindex as ci

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "tests", "abi"))
from check_exports import load_libclang  # noqa: E402  (one way to find libclang)
from dump_header_layout import macro_values  # noqa: E402  (integer macros evaluated by clang)

NAMESPACE = "NativeBdev.Bindings"
CLASS = "Nb"
# The header names struct iovec without defining it: the definition comes from here.
SYSTEM_INCLUDES = ["sys/uio.h"]
ARGS = ["-x", "c", "-std=c11", "-fparse-all-comments"] + sum((["-include", h] for h in SYSTEM_INCLUDES), [])

PRIMITIVES = {  # typedef names first: they say the width the header means
    "size_t": "nuint", "ssize_t": "nint", "uintptr_t": "nuint", "intptr_t": "nint",
    "int8_t": "sbyte", "uint8_t": "byte", "int16_t": "short", "uint16_t": "ushort",
    "int32_t": "int", "uint32_t": "uint", "int64_t": "long", "uint64_t": "ulong",
}
KINDS = {
    ci.TypeKind.VOID: "void", ci.TypeKind.BOOL: "byte", ci.TypeKind.CHAR_S: "byte",
    ci.TypeKind.SCHAR: "sbyte", ci.TypeKind.UCHAR: "byte", ci.TypeKind.CHAR_U: "byte",
    ci.TypeKind.SHORT: "short", ci.TypeKind.USHORT: "ushort", ci.TypeKind.INT: "int",
    ci.TypeKind.UINT: "uint", ci.TypeKind.LONG: "nint", ci.TypeKind.ULONG: "nuint",
    ci.TypeKind.LONGLONG: "long", ci.TypeKind.ULONGLONG: "ulong", ci.TypeKind.FLOAT: "float",
    ci.TypeKind.DOUBLE: "double",
}
KEYWORDS = {"abstract", "base", "checked", "class", "const", "decimal", "delegate", "event",
            "explicit", "extern", "fixed", "implicit", "in", "internal", "is", "lock", "namespace",
            "new", "object", "operator", "out", "override", "params", "private", "protected",
            "public", "readonly", "ref", "sealed", "stackalloc", "static", "string", "this",
            "throw", "typeof", "unchecked", "unsafe", "using", "virtual", "volatile", "as",
            "foreach", "null", "true", "false", "void"}


class Generator:
    def __init__(self, header):
        self.header = os.path.abspath(header)
        load_libclang()
        self.index = ci.Index.create()
        self.tu = self.index.parse(self.header, args=ARGS,
                                   options=ci.TranslationUnit.PARSE_DETAILED_PROCESSING_RECORD)
        errors = [d for d in self.tu.diagnostics if d.severity >= ci.Diagnostic.Error]
        if errors:
            raise SystemExit("header does not parse: " + "; ".join(str(d) for d in errors))
        self.lines = open(self.header).read().split("\n")
        self.fn_typedefs = {}   # name -> C# function pointer type
        self.records = {}       # struct name -> cursor of its definition (or None: opaque)

    # --- types -------------------------------------------------------------------------
    def cs_type(self, t):
        if t.kind == ci.TypeKind.ELABORATED:
            t = t.get_named_type()
        if t.kind == ci.TypeKind.TYPEDEF:
            name = t.get_declaration().spelling
            if name in PRIMITIVES:
                return PRIMITIVES[name]
            if name in self.fn_typedefs:
                return name
            return self.cs_type(t.get_declaration().underlying_typedef_type)
        if t.kind in KINDS:
            return KINDS[t.kind]
        if t.kind == ci.TypeKind.POINTER:
            pointee = t.get_pointee()
            canon = pointee.get_canonical()
            if canon.kind in (ci.TypeKind.FUNCTIONPROTO, ci.TypeKind.FUNCTIONNOPROTO):
                return self.function_pointer(canon)
            return self.cs_type(pointee) + "*"
        if t.kind == ci.TypeKind.RECORD:
            decl = t.get_declaration()
            self.note_record(decl)
            return decl.spelling
        if t.kind == ci.TypeKind.ENUM:
            return t.get_declaration().spelling
        raise SystemExit(f"unsupported type {t.spelling} ({t.kind})")

    def function_pointer(self, proto):
        args = [self.cs_type(a) for a in proto.argument_types()]
        return "delegate* unmanaged[Cdecl]<" + ", ".join(args + [self.cs_type(proto.get_result())]) + ">"

    def note_record(self, decl):
        definition = decl.get_definition()
        self.records.setdefault(decl.spelling, definition)

    # --- comments ----------------------------------------------------------------------
    @staticmethod
    def doc(raw, indent):
        if not raw or raw.lstrip("/* ").startswith("---"):
            return []
        text = raw.strip()
        text = re.sub(r"^/\*+", "", text)
        text = re.sub(r"\*+/$", "", text)
        lines = [re.sub(r"^\s*\* ?", "", ln).strip() for ln in text.split("\n")]
        while lines and not lines[0]:
            lines.pop(0)
        while lines and not lines[-1]:
            lines.pop()
        if not lines:
            return []
        esc = [ln.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;") for ln in lines]
        return [f"{indent}/// <summary>"] + [f"{indent}/// {ln}".rstrip() for ln in esc] + \
            [f"{indent}/// </summary>"]

    def comment_above(self, cursor):
        """The block comment right above a line (macros carry none in libclang)."""
        line = cursor.location.line - 2
        if line < 0 or not self.lines[line].rstrip().endswith("*/"):
            return None
        start = line
        while start >= 0 and "/*" not in self.lines[start]:
            start -= 1
        return "\n".join(self.lines[start:line + 1])

    def comment_after(self, cursor):
        """A trailing comment on the declaration's line (enum constants: `A = 1, /* why */`)."""
        line = self.lines[cursor.location.line - 1]
        m = re.search(r"/\*(.*?)(\*/|$)", line)
        if not m:
            return None
        text, n = [m.group(1)], cursor.location.line
        while not m.group(2) and n < len(self.lines):
            m = re.search(r"^\s*(.*?)(\*/|$)", self.lines[n])
            text.append(m.group(1))
            n += 1
        return "/*" + "\n".join(text) + "*/"

    # --- declarations ------------------------------------------------------------------
    def in_header(self, c):
        return c.location.file is not None and os.path.abspath(c.location.file.name) == self.header

    @staticmethod
    def name(n):
        return "@" + n if n in KEYWORDS else n

    def run(self):
        cursors = [c for c in self.tu.cursor.get_children() if self.in_header(c)]
        macros = {c.spelling: c for c in cursors
                  if c.kind == ci.CursorKind.MACRO_DEFINITION and c.spelling.startswith("NB_")}
        # Function pointer typedefs first: they are names the rest refers to.
        for c in cursors:
            if c.kind == ci.CursorKind.TYPEDEF_DECL:
                canon = c.underlying_typedef_type.get_canonical()
                if canon.kind == ci.TypeKind.POINTER and canon.get_pointee().kind in (
                        ci.TypeKind.FUNCTIONPROTO, ci.TypeKind.FUNCTIONNOPROTO):
                    self.fn_typedefs[c.spelling] = None
        for c in cursors:
            if c.kind == ci.CursorKind.TYPEDEF_DECL and c.spelling in self.fn_typedefs:
                canon = c.underlying_typedef_type.get_canonical()
                self.fn_typedefs[c.spelling] = (self.function_pointer(canon.get_pointee()), c)
        for c in cursors:
            if c.kind == ci.CursorKind.STRUCT_DECL:
                self.note_record(c)

        out = ["// <auto-generated>",
               "// Generated by bindings/csharp/gen/gen_bindings.py from include/nativebdev.h (libclang):",
               "// do not edit. Regenerate: bindings/csharp/gen/gen_bindings.py include/nativebdev.h "
               "bindings/csharp/NativeBdev.Bindings.g.cs",
               "// </auto-generated>",
               "#nullable enable"]
        # C# has no typedef: each function pointer typedef is a global alias (C# 12) of its
        # `delegate* unmanaged[Cdecl]<...>` type, so signatures keep the header's names.
        for name, (fp, c) in self.fn_typedefs.items():
            out += [ln.replace("///", "//", 1) for ln in self.doc(c.raw_comment, "")[1:-1]]
            out.append(f"global using unsafe {name} = {self.qualify(fp)};")
        out += ["", "using System.Runtime.CompilerServices;", "using System.Runtime.InteropServices;", "",
                "[assembly: DisableRuntimeMarshalling]", "", f"namespace {NAMESPACE};", ""]

        # Constants and functions: one static class, as ClangSharp's Methods class.
        body = []
        body.append("    /// <summary>The library the functions bind: libnativebdev.so (soname "
                    "libnativebdev.so.NB_VERSION_MAJOR), found by the runtime's native library "
                    "probing (the application's folder, LD_LIBRARY_PATH, the loader's paths).</summary>")
        body.append('    public const string LibraryName = "nativebdev";')
        values = macro_values(self.index, self.header,
                              {n: [t.spelling for t in c.get_tokens()][1:] for n, c in macros.items()})
        for n, c in macros.items():
            v = values[n]
            body.append("")
            body += self.doc(self.comment_above(c), "    ")
            if isinstance(v, str):
                body.append(f'    public const string {n} = "{v}";')
            elif -2**31 <= v < 2**31:
                body.append(f"    public const int {n} = {v};")
            elif 0 <= v < 2**64:
                body.append(f"    public const ulong {n} = 0x{v:X}UL;")
            else:
                body.append(f"    public const long {n} = {v}L;")
        for c in cursors:
            if c.kind != ci.CursorKind.FUNCTION_DECL:
                continue
            params = ", ".join(f"{self.cs_type(a.type)} {self.name(a.spelling)}" for a in c.get_arguments())
            body.append("")
            body += self.doc(c.raw_comment, "    ")
            body.append(f'    [LibraryImport(LibraryName, EntryPoint = "{c.spelling}")]')
            body.append("    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]")
            body.append(f"    public static partial {self.cs_type(c.result_type)} {c.spelling}({params});")

        types = []
        for c in cursors:
            if c.kind == ci.CursorKind.ENUM_DECL:
                types += [""] + self.doc(c.raw_comment, "")
                types.append(f"public enum {c.spelling} : {KINDS[c.enum_type.get_canonical().kind]}")
                types.append("{")
                for k in c.get_children():
                    types += self.doc(k.raw_comment or self.comment_after(k), "    ")
                    types.append(f"    {k.spelling} = {k.enum_value},")
                types.append("}")
        # Emitting a record may reach another (a field's type): until none is new.
        emitted = set()
        while len(emitted) < len(self.records):
            for name in [n for n in self.records if n not in emitted]:
                emitted.add(name)
                types += self.record(name)
        out += types[1:] + [""]
        out.append("/// <summary>The functions and constants of include/nativebdev.h.</summary>")
        out.append(f"public static unsafe partial class {CLASS}")
        out.append("{")
        out += body
        out.append("}")
        out.append("")
        return "\n".join(out)

    @staticmethod
    def qualify(fp):
        # Aliases are resolved outside the namespace: name the records fully.
        return re.sub(r"\b(nb_[a-z_]+|iovec)\b(?=\*)", NAMESPACE + r".\1", fp)

    def record(self, name):
        definition = self.records[name]
        lines = [""]
        if definition is None:
            lines.append(f"/// <summary>Opaque handle: struct {name} is only ever used through a pointer."
                         "</summary>")
            lines.append(f"public struct {name}")
            lines.append("{")
            lines.append("}")
            return lines
        lines += self.doc(definition.raw_comment if self.in_header(definition) else None, "")
        if not self.in_header(definition):
            lines.append(f"/// <summary>struct {name}, as the system headers define it.</summary>")
        size = definition.type.get_size()
        lines.append(f"[StructLayout(LayoutKind.Explicit, Size = {size})]")
        lines.append(f"public unsafe struct {name}")
        lines.append("{")
        first = True
        for f in definition.get_children():
            if f.kind != ci.CursorKind.FIELD_DECL or f.is_bitfield() or f.is_anonymous():
                raise SystemExit(f"struct {name}: unsupported member {f.kind} {f.spelling}")
            if not first:
                lines.append("")
            first = False
            lines += self.doc(f.raw_comment if self.in_header(f) else None, "    ")
            lines.append(f"    [FieldOffset({f.get_field_offsetof() // 8})]")
            t = f.type
            if t.kind == ci.TypeKind.CONSTANTARRAY:
                element = self.cs_type(t.element_type)
                lines.append(f"    public fixed {element} {self.name(f.spelling)}[{t.element_count}];")
            else:
                lines.append(f"    public {self.cs_type(t)} {self.name(f.spelling)};")
        lines.append("}")
        return lines


def main():
    args = sys.argv[1:]
    check = "--check" in args
    args = [a for a in args if a != "--check"]
    header, output = args
    text = Generator(header).run()
    if check:
        current = open(output).read() if os.path.exists(output) else ""
        if current != text:
            import difflib
            sys.stdout.writelines(difflib.unified_diff(current.splitlines(True), text.splitlines(True),
                                                       output, "generated"))
            print(f"\n{output} differs from what {header} generates: run "
                  f"bindings/csharp/gen/gen_bindings.py {header} {output}")
            return 1
        print(f"{output} matches {header}")
        return 0
    with open(output, "w") as f:
        f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
