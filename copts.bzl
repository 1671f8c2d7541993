"""Compiler options every hakmem target carries itself, so that a workspace
that links hakmem builds it right with its own flags (no .bazelrc of ours)."""

# C++20, for hakmem's own code, tests and benchmarks.
CXX_STD = ["-std=c++20"]

# The allocator's own code (not tests or benchmarks):
# -fno-builtin-*: gcc would otherwise turn malloc+memset into a call to calloc
#   inside our own calloc (infinite recursion).
# -O2 when the workspace builds in Bazel's default mode (fastbuild, which
#   does not optimise): an allocator linked into a program is judged by its
#   speed whatever mode the program is built in; -c dbg keeps it debuggable.
# -fno-exceptions: nothing in it throws or catches (operator new's failure
#   path borrows the program's C++ runtime, preload/cxx_runtime.h), so no
#   landing pad, and libhakmem.so needs no C++ runtime of its own.
# Which symbols libhakmem.so exports is decided by preload/exports.lds. Every
# hakmem cc_library sets linkstatic = True: none is ever a shared library of
# its own (not in a test's dynamic link either), so the globals the fast paths
# read can be hidden (core/base/hidden.h) and addressed without the GOT.
HAKMEM_COPTS = CXX_STD + [
    "-fno-builtin-malloc",
    "-fno-builtin-calloc",
    "-fno-builtin-free",
    "-fno-builtin-realloc",
    "-fno-plt",
    "-ftls-model=initial-exec",
    "-fno-exceptions",
] + select({
    "//:fastbuild": ["-O2"],
    "//conditions:default": [],
})
