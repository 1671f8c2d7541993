# Compiler options for the allocator's own code (not tests or benchmarks).
# -fno-builtin: gcc would otherwise turn malloc+memset into a call to calloc
# inside our own calloc (infinite recursion). Which symbols libhakmem.so
# exports is decided by preload/exports.lds, not here, so tests can link the
# components dynamically.
HAKMEM_COPTS = [
    "-fno-builtin-malloc",
    "-fno-builtin-calloc",
    "-fno-builtin-free",
    "-fno-builtin-realloc",
    "-fno-plt",
    "-ftls-model=initial-exec",
]
