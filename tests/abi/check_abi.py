#!/usr/bin/python3
"""The library's ABI against its stored baseline (libabigail's abidw and abidiff, Debian's
abigail-tools).

What is compared: the C entry points every nb_ export is (runtime/Native/*.c, compiled as the
library compiles them, plus -g), read by abidw with --headers-dir include/ so that only what the
public header declares counts: functions, their parameter and return types, and every struct,
enum and typedef they reach. The published libnativebdev.so itself carries no DWARF (NativeAOT
links it with --strip-debug), so its part is checked here by its symbols: it must export exactly
the corpus's functions, under the soname libnativebdev.so.<NB_VERSION_MAJOR>.

The rule: additions (new functions) pass; a removed function (abidiff's bit 8) or a changed one
(a parameter, a return type, a struct reached through them: abidiff reports these with bit 4
and a "Changed" count) fails, unless the header's NB_VERSION_MAJOR is above the baseline's.
The baseline is tests/abi/libnativebdev.so.<MAJOR>.abi; refresh it after adding functions (or
after a deliberate break with the major bumped) with:  tests/abi/check_abi.py --update

Usage: check_abi.py [--update] [--so build/nativebdev/libnativebdev.so]
       check_abi.py --self-test     (a removed export and a changed struct are caught, an
                                     added function passes: modified copies, built here)"""
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
from check_exports import exported  # noqa: E402  (nm -D of the .so)

ABIDIFF_ERROR, ABIDIFF_USAGE, ABIDIFF_CHANGE, ABIDIFF_INCOMPATIBLE = 1, 2, 4, 8


def header_major(header):
    m = re.search(r"^#define NB_VERSION_MAJOR (\d+)$", open(header).read(), re.M)
    if not m:
        raise SystemExit(f"{header}: no NB_VERSION_MAJOR")
    return int(m.group(1))


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw)


def corpus(native_dir, include_dir, work):
    """abidw of the C entry points, one relocatable object of runtime/Native/*.c."""
    objects = []
    for src in sorted(glob.glob(os.path.join(native_dir, "*.c"))):
        obj = os.path.join(work, os.path.basename(src)[:-2] + ".o")
        run(["cc", "-c", "-O2", "-g", "-fPIC", "-I", include_dir, "-o", obj, src])
        objects.append(obj)
    merged = os.path.join(work, "nativebdev-entry.o")
    run(["ld", "-r", "-o", merged] + objects)
    out = os.path.join(work, "current.abi")
    run(["abidw", "--headers-dir", include_dir, "--no-corpus-path", "--no-comp-dir-path",
         "--short-locs", "--out-file", out, merged])
    return out


def corpus_functions(abi):
    return set(re.findall(r"<elf-symbol name='(nb_[a-z0-9_]+)' type='func-type'", open(abi).read()))


def compare(baseline, current):
    """(breaks, report): breaks is True for a removed or changed function."""
    p = subprocess.run(["abidiff", baseline, current], capture_output=True, text=True)
    if p.returncode & (ABIDIFF_ERROR | ABIDIFF_USAGE):
        raise SystemExit(f"abidiff failed ({p.returncode}): {p.stderr}{p.stdout}")
    counts = re.findall(r"(\d+) (Removed|Changed)", p.stdout)
    breaks = bool(p.returncode & ABIDIFF_INCOMPATIBLE) or any(int(n) for n, _ in counts)
    return breaks, p.stdout


def allowed(breaks, major, base_major):
    """A break is allowed only with the header's major version above the baseline's."""
    return not breaks or major > base_major


def baseline_files():
    found = []
    for path in glob.glob(os.path.join(HERE, "libnativebdev.so.*.abi")):
        m = re.search(r"libnativebdev\.so\.(\d+)\.abi$", path)
        if m:
            found.append((int(m.group(1)), path))
    return sorted(found)


def check(so, update):
    header = os.path.join(ROOT, "include", "nativebdev.h")
    major = header_major(header)
    with tempfile.TemporaryDirectory() as work:
        current = corpus(os.path.join(ROOT, "runtime", "Native"), os.path.join(ROOT, "include"), work)
        rc = 0
        if so:
            soname = re.search(r"\(SONAME\)\s+Library soname: \[(.*)\]", run(["readelf", "-d", so]).stdout)
            want = f"libnativebdev.so.{major}"
            if not soname or soname.group(1) != want:
                print(f"abi: {so} has soname {soname and soname.group(1)}, the header's major says {want}")
                rc = 1
            ours = {s for s in exported(so) if s.startswith("nb_")}
            if ours != corpus_functions(current):
                print("abi: the .so's exports and the C entry points differ:",
                      sorted(ours ^ corpus_functions(current)))
                rc = 1
        if update:
            for _, old in baseline_files():
                os.remove(old)
            dest = os.path.join(HERE, f"libnativebdev.so.{major}.abi")
            shutil.copy(current, dest)
            print(f"abi: baseline written: {os.path.relpath(dest, ROOT)}")
            return rc
        bases = baseline_files()
        if not bases:
            print("abi: no baseline (tests/abi/libnativebdev.so.N.abi): run check_abi.py --update")
            return 1
        base_major, baseline = bases[-1]
        breaks, report = compare(baseline, current)
        print(report, end="")
        if not allowed(breaks, major, base_major):
            print(f"abi: FAIL: a function was removed or changed against {os.path.basename(baseline)} "
                  f"without a major version bump (NB_VERSION_MAJOR {major})")
            return 1
        if breaks:
            print(f"abi: incompatible changes allowed: NB_VERSION_MAJOR {major} > baseline {base_major}"
                  " (refresh the baseline: check_abi.py --update)")
        print(f"abi: compatible with {os.path.basename(baseline)}" if not breaks else "abi: ok (new major)")
        return rc


def self_test():
    """Modified copies of entry.c and the header, each compared with the unmodified build."""
    cases = {
        # name: (edit of the header, edit of entry.c, must it break?)
        "removed export nb_bdev_resize": (
            lambda h: h,
            lambda c: re.sub(r'__attribute__\(\(visibility\("hidden"\)\)\) extern int '
                             r'nbm_bdev_resize\(.*?\n}\n', "", c, flags=re.S), True),
        "nb_bdev_info.block_size widened to 64 bits": (
            lambda h: h.replace("\tuint32_t block_size;\n", "\tuint64_t block_size;\n", 1),
            lambda c: c, True),
        "nb_bdev_write's offset narrowed to 32 bits": (
            lambda h: h.replace("int nb_bdev_write(struct nb_bdev_desc *desc, struct nb_io_channel *ch, "
                                "void *buf, uint64_t offset,",
                                "int nb_bdev_write(struct nb_bdev_desc *desc, struct nb_io_channel *ch, "
                                "void *buf, uint32_t offset,", 1),
            lambda c: c.replace("int nb_bdev_write(struct nb_bdev_desc *desc, struct nb_io_channel *ch, "
                                "void *buf, uint64_t offset,",
                                "int nb_bdev_write(struct nb_bdev_desc *desc, struct nb_io_channel *ch, "
                                "void *buf, uint32_t offset,", 1), True),
        "added function nb_abi_probe_added": (
            lambda h: h.replace("#ifdef __cplusplus\n}\n#endif", "int nb_abi_probe_added(int x);\n"
                                "#ifdef __cplusplus\n}\n#endif", 1),
            lambda c: c + "\nint nb_abi_probe_added(int x)\n{\n\treturn x;\n}\n", False),
    }
    native = os.path.join(ROOT, "runtime", "Native")
    failures = 0
    # The verdict: a break passes with the major bumped, never at the same major.
    for breaks, major, base_major, want in [(True, 0, 0, False), (True, 1, 0, True),
                                            (False, 0, 0, True), (True, 0, 1, False)]:
        if allowed(breaks, major, base_major) != want:
            print(f"FAIL verdict for breaks={breaks} major={major} baseline={base_major}")
            failures += 1
    with tempfile.TemporaryDirectory() as work:
        base = corpus(native, os.path.join(ROOT, "include"), os.path.join(work))
        for name, (edit_header, edit_entry, must_break) in cases.items():
            case = tempfile.mkdtemp(dir=work)
            src, inc = os.path.join(case, "src"), os.path.join(case, "include")
            shutil.copytree(native, src)
            os.mkdir(inc)
            header = open(os.path.join(ROOT, "include", "nativebdev.h")).read()
            entry = open(os.path.join(native, "entry.c")).read()
            new_header, new_entry = edit_header(header), edit_entry(entry)
            if new_header == header and new_entry == entry:
                raise SystemExit(f"self-test case '{name}' changed nothing: the edit no longer applies")
            open(os.path.join(inc, "nativebdev.h"), "w").write(new_header)
            open(os.path.join(src, "entry.c"), "w").write(new_entry)
            breaks, report = compare(base, corpus(src, inc, case))
            ok = breaks == must_break
            failures += not ok
            print(f"{'ok ' if ok else 'FAIL'} {name}: {'breaks' if breaks else 'compatible'}"
                  f" (expected {'breaks' if must_break else 'compatible'})")
            if not ok:
                print(report)
    return 1 if failures else 0


def main():
    args = sys.argv[1:]
    if "--self-test" in args:
        return self_test()
    so = args[args.index("--so") + 1] if "--so" in args else None
    return check(so, "--update" in args)


if __name__ == "__main__":
    sys.exit(main())
