#!/usr/bin/env bash
# Pins the fast paths of libhakmem.so's entry points (docs/ARCHITECTURE.md,
# "malloc and free"): from each symbol, the instructions the hit path runs to
# its `ret` (calloc: to its tail jump into memset), following the
# fall-through of every conditional branch (the path ABSL_PREDICT_TRUE lays
# out first; a compiler that laid a hit out as a taken branch would fail this
# test with no regression: look at the listing it prints) and direct jumps (a
# form folded into another). Fails if a path grows past its budget, or if it
# calls, saves a register, builds a frame or takes a lock: a bin hit touches
# the thread's own cache only. endbr64 (-fcf-protection) and padding nops do
# not count.
#
# Usage: fast_path_test.sh libhakmem.so [--not-optimised]
# The budgets hold for the optimised build (.bazelrc: -c opt); another
# compilation mode passes --not-optimised and the test only says so.
set -euo pipefail

lib="$1"
if [[ "${2:-}" == "--not-optimised" ]]; then
  echo "fast_path_test: not an optimised build; the budgets apply to -c opt only"
  exit 0
fi

# symbol budget: malloc and free as the entry points; the C++ forms of the
# same hit paths may add one jump (a form folded into another). The aligned
# requests find the class that keeps the alignment first (AlignedClassOf);
# the C++ aligned forms' alignment is not checked before, so their range test
# also sends align_val_t{0} to the slow path (one instruction: 37 -> 38, and
# 38 -> 39 for the array form that jumps into the other).
# posix_memalign is not walked: its hit is a taken branch.
# free's own-block test compares the owner with a word of the cache
# (ThreadCache::own_match_: the cache, or one past it to send every free down
# the branch-free path of threads that free others' blocks among their own):
# 33 -> 32 on 2026-12-08 (the word had held an offset from the cache).
# malloc, calloc and operator new round the request to 8 bytes for the one
# table of Tiny and Mid bins (core/front_door.h, kBinBy8Bytes: no branch
# between the tiers): two more, 18 -> 20, 22 -> 24, 19 -> 21.
budgets="
malloc 20
free 32
cfree 32
calloc 24
_Znwm 21
_Znam 21
_ZnwmRKSt9nothrow_t 21
_ZnamRKSt9nothrow_t 21
_ZdlPv 33
_ZdaPv 33
_ZdlPvm 33
_ZdaPvm 33
malloc_usable_size 22
aligned_alloc 42
memalign 49
_ZnwmSt11align_val_t 38
_ZnamSt11align_val_t 39
_ZnwmSt11align_val_tRKSt9nothrow_t 38
_ZnamSt11align_val_tRKSt9nothrow_t 38
"

tmp="${TEST_TMPDIR:-/tmp}"
disasm="$(mktemp "$tmp/fast_path_disasm.XXXXXX")"
syms="$(mktemp "$tmp/fast_path_syms.XXXXXX")"
trap 'rm -f "$disasm" "$syms"' EXIT
objdump -d --no-show-raw-insn "$lib" > "$disasm"
nm -D --defined-only "$lib" > "$syms"

/usr/bin/python3 - "$disasm" "$syms" "$budgets" <<'EOF'
import re, sys

disasm_path, syms_path, budgets_text = sys.argv[1:4]
insns = {}  # address -> the instruction as objdump prints it
order = []
line_re = re.compile(r"^\s*([0-9a-f]+):\s+(.*)$")
for line in open(disasm_path):
    m = line_re.match(line)
    if m:
        addr = int(m.group(1), 16)
        insns[addr] = m.group(2).strip()
        order.append(addr)
next_addr = {a: b for a, b in zip(order, order[1:])}
symbols = {}
for line in open(syms_path):
    parts = line.split()
    if len(parts) == 3:
        symbols[parts[2]] = int(parts[0], 16)

PREFIXES = {"rep", "repz", "repe", "repnz", "repne", "bnd", "notrack", "lock", "data16", "cs", "ds"}

def parse(text):
    """(prefixes, mnemonic without an AT&T size suffix on branches, operands)."""
    tokens = text.split("#")[0].split()
    prefixes = []
    while tokens and tokens[0] in PREFIXES:
        prefixes.append(tokens.pop(0))
    mnemonic = tokens[0] if tokens else ""
    if mnemonic in ("callq", "retq", "jmpq", "pushq", "popq", "leaveq", "enterq"):
        mnemonic = mnemonic[:-1]  # older binutils
    return prefixes, mnemonic, " ".join(tokens[1:])

def is_padding(mnemonic, operands):
    return mnemonic == "endbr64" or mnemonic.startswith("nop") or (
        mnemonic == "xchg" and operands == "%ax,%ax")

def forbidden(prefixes, mnemonic, operands):
    if "lock" in prefixes or mnemonic in ("call", "push", "pop", "leave", "enter",
                                          "cmpxchg", "xadd"):
        return True
    if mnemonic == "xchg" and "(" in operands:  # a locked exchange with memory
        return True
    return operands.endswith(",%rsp") or operands.endswith(",%esp")  # a frame

def hit_path(name, start):
    """The counted instructions from `start` to the hot path's end, and any forbidden."""
    path, bad, addr = [], [], start
    for _ in range(400):
        text = insns.get(addr)
        if text is None:
            raise ValueError(f"{name}: no instruction at {addr:#x}")
        prefixes, mnemonic, operands = parse(text)
        if not is_padding(mnemonic, operands):
            path.append((addr, text))
            if forbidden(prefixes, mnemonic, operands):
                bad.append(text)
        if mnemonic == "ret":
            return path, bad
        if mnemonic == "jmp" and operands.startswith("*"):
            return path, bad  # a tail call through the GOT (memset)
        jump = re.match(r"([0-9a-f]+)\b", operands) if mnemonic == "jmp" else None
        addr = int(jump.group(1), 16) if jump else next_addr[addr]
    raise ValueError(f"{name}: no end within 400 instructions")

failures = []
for line in budgets_text.strip().splitlines():
    name, budget = line.split()
    budget = int(budget)
    if name not in symbols:
        failures.append(f"{name} (not exported)")
        continue
    path, bad = hit_path(name, symbols[name])
    problems = []
    if len(path) > budget:
        problems.append(f"over budget ({budget})")
    if bad:
        problems.append(f"forbidden: {bad}")
    status = "; ".join(problems) or "ok"
    print(f"{name:24s} {len(path):3d} instructions on the hit path (budget {budget}): {status}")
    if problems:
        failures.append(name)
        for addr, text in path:
            print(f"    {addr:8x}: {text}")

if failures:
    print("fast_path_test: FAILED:", ", ".join(failures))
    sys.exit(1)
print("fast_path_test: every hit path within its budget")
EOF
