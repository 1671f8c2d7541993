#!/usr/bin/env python3
"""Checks that every package includes only from itself and the packages below
it, so the folders say what the Bazel targets say (docs/ARCHITECTURE.md,
"Packages"). Exits non-zero and names each include that points up or sideways.

Usage: check_layering.py <checkout root or any file in it>
"""
import os
import re
import sys

# Package -> the packages it may include from (besides itself). The order is
# the design's: preload -> learner -> core -> pools (mid -> tiny; large) ->
# core/base -> sync.
ALLOWED = {
    "sync": set(),
    "core/base": {"sync"},
    "pools/tiny": {"core/base", "sync"},
    "pools/mid": {"pools/tiny", "core/base", "sync"},
    "pools/large": {"core/base", "sync"},
    "core": {"pools/tiny", "pools/mid", "pools/large", "core/base", "sync"},
    "learner": {"core", "pools/tiny", "pools/mid", "pools/large", "core/base", "sync"},
    "preload": {"core", "core/base", "sync"},
}
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')


def package_of(path):
    """The longest ALLOWED package that is a prefix of path's folder."""
    folder = os.path.dirname(path)
    best = None
    for pkg in ALLOWED:
        if folder == pkg or folder.startswith(pkg + "/"):
            if best is None or len(pkg) > len(best):
                best = pkg
    return best


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else "."
    root = os.path.realpath(root)
    if os.path.isfile(root):
        root = os.path.dirname(root)
    problems = []
    checked = 0
    for pkg in ALLOWED:
        for dirpath, _, files in os.walk(os.path.join(root, pkg)):
            for name in sorted(files):
                if not name.endswith((".h", ".cc")):
                    continue
                rel = os.path.relpath(os.path.join(dirpath, name), root)
                if package_of(rel) != pkg:
                    continue  # a sub-package's file, checked under its own entry
                checked += 1
                with open(os.path.join(root, rel)) as f:
                    for lineno, line in enumerate(f, 1):
                        m = INCLUDE.match(line)
                        if not m:
                            continue
                        target = package_of(m.group(1))
                        if target is None or target == pkg:
                            continue
                        if target not in ALLOWED[pkg]:
                            problems.append(f"{rel}:{lineno}: {pkg} includes {m.group(1)} ({target})")
    for p in problems:
        print(p)
    print(f"checked {checked} files: {len(problems)} includes against the layering")
    return 1 if problems or checked == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
