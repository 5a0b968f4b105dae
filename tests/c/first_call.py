#!/usr/bin/python3
"""Every function of nativebdev.h must survive being the first call into the library.

The first call starts the .NET runtime inside libnativebdev.so; an export whose own frame
holds stack buffers (stackalloc, fixed buffers) aborts the process there, because the stack
cookie changes during start-up (TOOLCHAIN.md pitfall A). Only a fresh process shows it, so
this runs the helper (first_call.c) once per function and argument variant, each in its own
process with a time limit.

  first_call.py gen HEADER OUT.c     writes the helper's dispatch table from the header
  first_call.py run HEADER HELPER    runs the helper for every function; fails on any problem

The function list comes from the header through libclang (Debian's python3-clang, run with
/usr/bin/python3), at build time for the table and again at run time to check that the
helper was built from the same header. Variants: "zero" passes 0/NULL for every argument;
"forged" (functions taking an opaque handle) passes a handle value no object has and 0/NULL
for the rest. A run must exit 0 without a signal within the limit and return the kind the
header's conventions promise: a negative return is an errno (-4095..-1) with a message in
nb_last_error(); a forged handle fails (negative, NULL, or 0 for unsigned results) with a
message; nb_last_error() is never NULL; no message is an "internal error" (an exception
caught at the ABI boundary). Success for zero arguments is allowed: several functions
document it (nb_dma_free(NULL), nb_set_thread(NULL), nb_env_init(NULL), ...)."""
import concurrent.futures
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "abi"))
import clang.cindex as ci  # noqa: E402
from check_exports import load_libclang  # noqa: E402

TIME_LIMIT_S = 10
SIGNED = {ci.TypeKind.INT, ci.TypeKind.LONG, ci.TypeKind.LONGLONG, ci.TypeKind.SHORT,
          ci.TypeKind.SCHAR, ci.TypeKind.CHAR_S, ci.TypeKind.ENUM}
UNSIGNED = {ci.TypeKind.UINT, ci.TypeKind.ULONG, ci.TypeKind.ULONGLONG, ci.TypeKind.USHORT,
            ci.TypeKind.UCHAR, ci.TypeKind.CHAR_U, ci.TypeKind.BOOL}


class Function:
    def __init__(self, cursor):
        self.name = cursor.spelling
        self.kind = result_kind(cursor)
        self.params = [(p.type.spelling, is_handle(p.type)) for p in cursor.get_arguments()]
        self.has_handles = any(h for _, h in self.params)

    def variants(self):
        return ["zero", "forged"] if self.has_handles else ["zero"]


def result_kind(cursor):
    k = cursor.result_type.get_canonical().kind
    if k == ci.TypeKind.VOID:
        return "void"
    if k in SIGNED:
        return "signed"
    if k in UNSIGNED:
        return "unsigned"
    if k == ci.TypeKind.POINTER:
        return "pointer"
    raise SystemExit(f"{cursor.spelling}: result type {cursor.result_type.spelling} is new to first_call.py")


def is_handle(t):
    """An opaque handle: a pointer to an nb_ struct the header never defines."""
    t = t.get_canonical()
    if t.kind != ci.TypeKind.POINTER:
        return False
    pointee = t.get_pointee()
    if pointee.kind != ci.TypeKind.RECORD:
        return False
    decl = pointee.get_declaration()
    return decl.spelling.startswith("nb_") and decl.get_definition() is None


def header_functions(header):
    load_libclang()
    tu = ci.Index.create().parse(header, args=["-x", "c", "-std=c11"])
    errors = [d for d in tu.diagnostics if d.severity >= ci.Diagnostic.Error]
    if errors:
        raise SystemExit("header does not parse: " + "; ".join(str(d) for d in errors))
    fns = [Function(c) for c in tu.cursor.get_children()
           if c.kind == ci.CursorKind.FUNCTION_DECL and c.location.file
           and c.location.file.name.endswith("nativebdev.h")]
    if len(fns) < 50:
        raise SystemExit(f"only {len(fns)} functions found in {header}: the parser is wrong")
    return fns


# ------------------------------------------------------------------------------- gen

def call_wrapper(f):
    args = []
    for spelling, handle in f.params:
        if spelling.startswith("struct ") and not spelling.endswith("*"):
            raise SystemExit(f"{f.name}: a struct passed by value ({spelling}) is new to first_call.py")
        # 0 converts to every scalar and pointer type (a null pointer constant for pointers).
        args.append(f"forged ? ({spelling})(uintptr_t)FC_FORGED_HANDLE : 0" if handle else "0")
    call = f"{f.name}({', '.join(args)})"
    body = {
        "void": f"{call};",
        "signed": f"r.s = (long long){call};",
        "unsigned": f"r.u = (unsigned long long){call};",
        "pointer": f"r.p = (const void *){call};",
    }[f.kind]
    kind = {"void": "FC_VOID", "signed": "FC_SIGNED", "unsigned": "FC_UNSIGNED", "pointer": "FC_POINTER"}[f.kind]
    return (f"static struct fc_result fc_{f.name}(int forged)\n{{\n"
            f"\tstruct fc_result r = {{ .kind = {kind} }};\n\t(void)forged;\n\t{body}\n\treturn r;\n}}\n")


def gen(header, out):
    fns = header_functions(header)
    parts = [f"/* Generated by tests/c/first_call.py from {os.path.basename(header)}: do not edit. */\n",
             "#include <stdint.h>\n#include \"first_call.h\"\n#include \"nativebdev.h\"\n"]
    parts += [call_wrapper(f) for f in fns]
    parts.append("const struct fc_entry fc_table[] = {\n")
    parts += [f"\t{{ \"{f.name}\", fc_{f.name} }},\n" for f in fns]
    parts.append("};\nconst size_t fc_count = sizeof(fc_table) / sizeof(fc_table[0]);\n")
    tmp = out + ".tmp"
    with open(tmp, "w") as fh:
        fh.write("\n".join(parts))
    os.replace(tmp, out)  # never a half-written table for make to pick up


# ------------------------------------------------------------------------------- run

def run_one(helper, f, variant):
    """Returns (problem or None, seconds, summary of what the call returned)."""
    t0 = time.monotonic()
    try:
        p = subprocess.run([helper, f.name, variant], capture_output=True, text=True,
                           timeout=TIME_LIMIT_S, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return f"hung (killed after {TIME_LIMIT_S} s)", time.monotonic() - t0, ""
    dt = time.monotonic() - t0
    if p.returncode < 0:
        tail = p.stderr.strip().splitlines()[-3:]
        return f"killed by {signal.Signals(-p.returncode).name}: {' | '.join(tail)}", dt, ""
    if p.returncode != 0:
        return f"exit status {p.returncode}: {p.stderr.strip()}", dt, ""
    result = error = None
    for line in p.stdout.splitlines():
        if line.startswith("result "):
            result = line.split()[1:]
        elif line.startswith("error "):
            error = line[len("error "):]
    if result is None or error is None or result[0] != f.kind:
        return f"unexpected output: {p.stdout!r}", dt, ""
    return check(f, variant, result[1], error), dt, f"{result[1]} ({error or 'no message'})"


def check(f, variant, value, error):
    """The header's conventions, nothing function-specific."""
    if error == "(NULL)":
        return "nb_last_error() returned NULL (documented: never NULL)"
    if error.startswith("internal error"):
        return f"an exception reached the ABI boundary: {error}"
    failed = {"signed": value.startswith("-"), "unsigned": value == "0",
              "pointer": value == "null", "void": False}[f.kind]
    if f.kind == "signed" and failed and not -4095 <= int(value) <= -1:
        return f"returned {value}, not a negative errno"
    if f.kind == "signed" and failed and not error:
        return f"returned {value} without a message in nb_last_error()"
    if variant == "forged" and f.kind != "void":
        if not failed:
            return f"accepted a forged handle (returned {value})"
        if not error:
            return f"rejected a forged handle without a message in nb_last_error()"
    return None


def run(header, helper):
    fns = header_functions(header)
    listed = subprocess.run([helper, "--list"], check=True, capture_output=True, text=True).stdout.split()
    if sorted(listed) != sorted(f.name for f in fns):
        missing = sorted(set(f.name for f in fns) - set(listed))
        extra = sorted(set(listed) - set(f.name for f in fns))
        raise SystemExit(f"{helper} was not built from {header} (rebuild): missing {missing}, extra {extra}")
    jobs = [(f, v) for f in fns for v in f.variants()]
    t0 = time.monotonic()
    # Two at a time: the machine has two cores, and each process is mostly runtime start-up.
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda job: run_one(helper, *job), jobs))
    elapsed = time.monotonic() - t0
    problems = 0
    for (f, v), (problem, dt, summary) in zip(jobs, results):
        if problem:
            problems += 1
            print(f"FAIL {f.name} ({v}): {problem}")
        elif os.environ.get("FIRST_CALL_VERBOSE"):
            print(f"ok   {f.name} ({v}) {dt * 1000:.0f} ms: {summary}")
    slowest = max(zip(results, jobs), key=lambda rj: rj[0][1])
    print(f"{len(fns)} functions, {len(jobs)} fresh processes in {elapsed:.1f} s "
          f"(slowest {slowest[1][0].name} {slowest[0][1] * 1000:.0f} ms): {problems} failed")
    return 1 if problems else 0


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "gen":
        gen(sys.argv[2], sys.argv[3])
        return 0
    if len(sys.argv) == 4 and sys.argv[1] == "run":
        return run(sys.argv[2], sys.argv[3])
    raise SystemExit(__doc__)


if __name__ == "__main__":
    sys.exit(main())
