#!/usr/bin/python3
"""Runs every case of the bad-input probe (//tests/safety:bad_input_probe)
under hakmem, glibc, mimalloc, jemalloc and tcmalloc, each case in its own
process with a timeout, classifies what happened and prints a markdown table:
one row per case, one column per allocator (docs/SAFETY.md).

Build first, from the checkout:
    bazel build //tests/safety:bad_input_probe //preload:libhakmem.so

Usage:
    /usr/bin/python3 tools/safety_probe.py                   # table on stdout
    /usr/bin/python3 tools/safety_probe.py --update-doc docs/SAFETY.md
    /usr/bin/python3 tools/safety_probe.py --out table.md --cases 'double_free'
Options: --probe PATH, --hakmem PATH (default bazel-bin/...), --allocators
hakmem,glibc,... (default all five), --abort-column (also hakmem with
HAKMEM_INVALID_FREE=abort), --timeout SECONDS, --cases REGEX, --repeat N
(runs per cell, default 3), --out FILE, --update-doc FILE (replace the table
between the markers in FILE).

Outcomes (one per cell):
    aborts: `message`            killed by SIGABRT; what stderr said
    reported, continues: `msg`   a message on stderr, exit 0, heap consistent
    silent, heap consistent      nothing on stderr, exit 0, heap consistent
    silent|reported, heap corrupted (N duplicate pointers)
                                 the check after the misuse found N blocks
                                 handed out twice (or overlapping)
    crash (SIGSEGV ...)          killed by SIGSEGV or SIGBUS; where
    hang (timeout ...)           still running after --timeout seconds
Stdlib only; runs with /usr/bin/python3.
"""
import argparse
import datetime
import os
import re
import signal
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))
LIBDIR = "/usr/lib/x86_64-linux-gnu"

# name -> (column title, LD_PRELOAD or None, extra environment, Debian package
# whose version the table states)
PEERS = {
    "glibc": ("glibc", None, {}, "libc6"),
    "mimalloc": ("mimalloc", LIBDIR + "/libmimalloc.so.2", {}, "libmimalloc2.0"),
    "jemalloc": ("jemalloc", LIBDIR + "/libjemalloc.so.2", {}, "libjemalloc2"),
    "tcmalloc": ("tcmalloc", LIBDIR + "/libtcmalloc_minimal.so.4", {}, "libtcmalloc-minimal4"),
}
DEFAULT_ALLOCATORS = "hakmem,glibc,mimalloc,jemalloc,tcmalloc"

# What libhakmem.so and the probe are built from (for "uncommitted changes").
SOURCES = ["core", "pools", "preload", "sync", "learner", "tests/safety", "tools/safety_probe.py",
           "BUILD", "WORKSPACE", "copts.bzl", "repositories.bzl", ".bazelrc"]

BEGIN_MARK = "<!-- BEGIN safety table (tools/safety_probe.py --update-doc) -->"
END_MARK = "<!-- END safety table -->"

# Where the probe was when it died (its phase names, bad_input_probe.cc).
PHASES = {
    "setup": "before the misuse",
    "valid-free": "in the first (valid) free",
    "bad-call": "in the bad call",
    "bad-write": "in the bad write itself",
    "free-overflowed": "in free of the overflowed block",
    "thread-valid-free": "in the thread's first free",
    "thread-bad-call": "in the bad call (thread)",
    "thread-exit": "at thread exit",
    "after-join": "after the thread ended",
    "after-bad-call": "after the bad call",
    "later-malloc": "in a later malloc",
    "check": "in the check",
    "check-use": "writing later blocks",
    "exit": "at process exit",
}

ADDRESS = re.compile(r"0x[0-9a-fA-F]+")


def run_case(probe, case, preload, env_extra, timeout):
    """Runs one case; returns (returncode or None on timeout, stdout, stderr)."""
    env = dict(os.environ)
    for k in list(env):
        if k.startswith(("HAKMEM_", "MIMALLOC_", "MALLOC_", "TCMALLOC_", "JE_MALLOC")) or k in (
                "LD_PRELOAD", "GLIBC_TUNABLES"):
            del env[k]
    if preload:
        env["LD_PRELOAD"] = preload
    env.update(env_extra)
    proc = subprocess.Popen([probe, case], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
        return proc.returncode, out.decode(errors="replace"), err.decode(errors="replace")
    except subprocess.TimeoutExpired:
        # SIGTERM first: the probe's handler prints where it is.
        proc.send_signal(signal.SIGTERM)
        try:
            out, err = proc.communicate(timeout=3)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, err = proc.communicate()
        return None, out.decode(errors="replace"), err.decode(errors="replace")


def parse(stdout):
    """The probe's key=value lines, merged (later lines win)."""
    info = {}
    for line in stdout.splitlines():
        if line.startswith("probe "):
            for kv in line.split()[1:]:
                if "=" in kv:
                    k, v = kv.split("=", 1)
                    info[k] = v
    return info


def message(stderr, width=72):
    """The allocator's first stderr line, addresses masked, abbreviated; and
    how many lines there were."""
    lines = [l.strip() for l in stderr.splitlines() if l.strip()]
    if not lines:
        return "", 0
    text = ADDRESS.sub("0x…", lines[0])
    if len(text) > width:
        text = text[:width - 1].rstrip() + "…"
    return text, len(lines)


def code(text):
    """A markdown code span that survives inside a table cell."""
    return "`" + text.replace("`", "'").replace("|", "\\|") + "`"


def corruption(info):
    dup = int(info.get("duplicates", 0))
    ovl = int(info.get("overlaps", 0))
    parts = []
    if dup:
        parts.append(f"{dup} duplicate pointer" + ("s" if dup != 1 else ""))
    if ovl:
        parts.append(f"{ovl} overlapping block" + ("s" if ovl != 1 else ""))
    return ", ".join(parts)


def classify(case, rc, stdout, stderr):
    """Returns (short outcome kind, table cell text)."""
    info = parse(stdout)
    msg, nlines = message(stderr)
    where = PHASES.get(info.get("phase", ""), info.get("phase", "?"))
    ret = info.get("ret", "-")
    ret_note = f" (returned {ret})" if ret != "-" else ""
    bad = corruption(info)  # from the "checked" line, if the probe got there
    after = f", after {bad}" if bad else ""
    if rc is None:
        return "hang", f"hang (timeout, {where}{after})"
    if rc < 0:
        sig = -rc
        if sig == signal.SIGABRT:
            text = "aborts" + ("" if info.get("phase") in ("bad-call", "thread-bad-call") else f" {where}")
            return "abort", text + (": " + code(msg) if msg else " (no message)") + after
        name = {signal.SIGSEGV: "SIGSEGV", signal.SIGBUS: "SIGBUS"}.get(sig, signal.Signals(sig).name)
        return "crash", f"crash ({name} {where}{after})"
    if rc != 0:
        return "exit", f"exit {rc}" + (": " + code(msg) if msg else "")
    if info.get("outcome") != "survived":
        return "exit", "exit 0 before the check" + (": " + code(msg) if msg else "")
    corrupt = int(info.get("corrupt", 0))
    spoken = "reported" if msg else "silent"
    if bad:
        return f"corrupted:{spoken}:{code(msg) if msg else ''}", f"{spoken}, heap corrupted ({bad})" + (
            ": " + code(msg) if msg else "")
    if corrupt:
        return "corrupted", f"{spoken}, heap corrupted ({corrupt} blocks do not read back)"
    nulls = int(info.get("nulls", 0))
    null_note = f" ({nulls} mallocs returned NULL)" if nulls else ""
    if msg:
        more = f" (+{nlines - 1} lines)" if nlines > 1 else ""
        return "reported", f"reported, continues: {code(msg)}{more}{ret_note}{null_note}"
    return "silent", f"silent, heap consistent{ret_note}{null_note}"


def dpkg_version(package):
    try:
        out = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", package], capture_output=True,
                             text=True, timeout=10)
        return out.stdout.strip() or "?"
    except (OSError, subprocess.SubprocessError):
        return "?"


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "?"


def hakmem_commit():
    def git(*args):
        return subprocess.run(["git", "-C", ROOT] + list(args), capture_output=True, text=True).stdout.strip()
    try:
        commit = git("rev-parse", "--short=12", "HEAD") or "?"
        # Changes since then to what the library and the probe are built from.
        dirty = git("status", "--porcelain", "--untracked-files=no", "--", *SOURCES)
    except OSError:
        return "?"
    return commit + (" + uncommitted changes" if dirty else "")


def display_path(path):
    """path relative to the checkout when it is inside it (bazel-bin/...)."""
    absolute = os.path.abspath(path)
    if absolute.startswith(ROOT + os.sep):
        return os.path.relpath(absolute, ROOT)
    return path


def header_lines(columns, args):
    glibc = os.confstr("CS_GNU_LIBC_VERSION") if hasattr(os, "confstr") else "glibc ?"
    lines = [
        f"Measured {datetime.date.today().isoformat()} on {cpu_model()} ({os.cpu_count()} CPUs), "
        f"Linux {os.uname().release}.",
        "",
        f"- hakmem: commit {hakmem_commit()}, `{display_path(args.hakmem)}` "
        "(HAKMEM_INVALID_FREE unset: warn)",
        f"- glibc: {glibc} (Debian {dpkg_version('libc6')}), no preload",
    ]
    for name, what in (("mimalloc", ""), ("jemalloc", ""), ("tcmalloc", "gperftools tcmalloc_minimal, ")):
        if name in columns:
            _, lib, _, pkg = PEERS[name]
            lines.append(f"- {name}: {what}`{lib}` (Debian {pkg} {dpkg_version(pkg)})")
    if args.abort_column:
        lines.append("- hakmem (abort): the same library with HAKMEM_INVALID_FREE=abort")
    lines.append(f"- each case in its own process, {args.repeat} runs per cell (a cell whose runs "
                 f"differ says so), timeout {args.timeout:g} s; addresses in messages shown as `0x…`")
    return lines


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--probe", default=os.path.join(ROOT, "bazel-bin/tests/safety/bad_input_probe"))
    ap.add_argument("--hakmem", default=os.path.join(ROOT, "bazel-bin/preload/libhakmem.so"))
    ap.add_argument("--allocators", default=DEFAULT_ALLOCATORS,
                    help="comma-separated, from: " + DEFAULT_ALLOCATORS)
    ap.add_argument("--abort-column", action="store_true",
                    help="add a column: hakmem with HAKMEM_INVALID_FREE=abort")
    ap.add_argument("--timeout", type=float, default=10.0, help="seconds per case (default 10)")
    ap.add_argument("--cases", default="", help="only cases matching this regular expression")
    ap.add_argument("--repeat", type=int, default=3,
                    help="runs per case and allocator (default 3); a cell whose runs differ "
                         "lists each outcome with its count")
    ap.add_argument("--out", help="also write the header and table to this file")
    ap.add_argument("--update-doc", help="replace the table between the markers in this file")
    args = ap.parse_args()

    for path in (args.probe,):
        if not os.access(path, os.X_OK):
            sys.exit(f"safety_probe: {path} not found: bazel build //tests/safety:bad_input_probe")

    columns = []  # (key, title, preload, env)
    for name in [a.strip() for a in args.allocators.split(",") if a.strip()]:
        if name == "hakmem":
            if not os.path.exists(args.hakmem):
                sys.exit(f"safety_probe: {args.hakmem} not found: bazel build //preload:libhakmem.so")
            columns.append(("hakmem", "hakmem", args.hakmem, {}))
            if args.abort_column:
                columns.append(("hakmem-abort", "hakmem (abort)", args.hakmem, {"HAKMEM_INVALID_FREE": "abort"}))
        elif name in PEERS:
            title, lib, env, _ = PEERS[name]
            if lib and not os.path.exists(lib):
                print(f"safety_probe: {lib} missing; skipping {name}", file=sys.stderr)
                continue
            columns.append((name, title, lib, env))
        else:
            sys.exit(f"safety_probe: unknown allocator {name!r}")

    # bazel-bin follows the last build: a probe built with --config=asan/tsan
    # measures the sanitizer's malloc, not the preloaded one.
    with open(args.probe, "rb") as f:
        if re.search(rb"__(asan|tsan)_init", f.read()):
            sys.exit(f"safety_probe: {args.probe} is a sanitizer build; "
                     "bazel build //tests/safety:bad_input_probe //preload:libhakmem.so (plain)")
    for key, title, lib, env in columns:
        if lib:  # the dynamic loader must take the library, or the column is glibc's
            _, _, err = run_case(args.probe, "--list", lib, env, args.timeout)
            if "cannot be preloaded" in err:
                sys.exit(f"safety_probe: {lib} cannot be preloaded: {err.strip()}")

    cases = subprocess.run([args.probe, "--list"], capture_output=True, text=True, check=True).stdout.split()
    if args.cases:
        cases = [c for c in cases if re.search(args.cases, c)]

    rows = []
    for case in cases:
        cells = []
        for key, title, lib, env in columns:
            seen = {}  # cell text -> runs, in order of first appearance
            kinds, bad_blocks = set(), []
            for _ in range(max(1, args.repeat)):
                rc, out, err = run_case(args.probe, case, lib, env, args.timeout)
                kind, text = classify(case, rc, out, err)
                seen[text] = seen.get(text, 0) + 1
                kinds.add(kind)
                info = parse(out)
                bad_blocks.append(int(info.get("duplicates", 0)) + int(info.get("overlaps", 0)))
            if len(seen) == 1:
                cell = next(iter(seen))
            elif len(kinds) == 1 and next(iter(kinds)).startswith("corrupted:"):
                # Every run corrupted the heap, by different counts: one range.
                _, spoken, msg = next(iter(kinds)).split(":", 2)
                lo, hi = min(bad_blocks), max(bad_blocks)
                count = f"{lo}" if lo == hi else f"{lo}–{hi}"
                cell = (f"{spoken}, heap corrupted ({count} duplicate or overlapping blocks, "
                        "varies)" + (": " + msg if msg else ""))
            else:
                n = sum(seen.values())
                cell = "varies: " + "; ".join(f"{t} ({k} of {n})" for t, k in
                                              sorted(seen.items(), key=lambda kv: -kv[1]))
            cells.append(cell)
            print(f"{case:34s} {title:15s} {cell}", file=sys.stderr)
        rows.append((case, cells))

    table = ["| case | " + " | ".join(c[1] for c in columns) + " |",
             "|---|" + "---|" * len(columns)]
    for case, cells in rows:
        table.append(f"| `{case}` | " + " | ".join(cells) + " |")
    text = "\n".join(header_lines([c[0] for c in columns], args) + [""] + table) + "\n"

    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)
    if args.update_doc:
        with open(args.update_doc) as f:
            doc = f.read()
        begin, end = doc.find(BEGIN_MARK), doc.find(END_MARK)
        if begin < 0 or end < begin:
            sys.exit(f"safety_probe: {args.update_doc} has no '{BEGIN_MARK}' ... '{END_MARK}' block")
        doc = doc[:begin + len(BEGIN_MARK)] + "\n" + text + doc[end:]
        with open(args.update_doc, "w") as f:
            f.write(doc)
        print(f"safety_probe: updated {args.update_doc}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
