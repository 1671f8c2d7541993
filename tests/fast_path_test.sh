#!/usr/bin/env bash
# Pins the fast paths of libhakmem.so's entry points (docs/ARCHITECTURE.md,
# "malloc and free"): from each symbol, the instructions the hit path runs to
# its `ret` (calloc: to its tail jump into memset), following the
# fall-through of every conditional branch (the path ABSL_PREDICT_TRUE lays
# out first) and unconditional direct jumps (an alias folded into a jump).
# Fails if a path grows past its budget, or if it calls, saves a register or
# takes a lock: a bin hit touches the thread's own cache only.
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
# same hit paths may add one jump (a form folded into another).
budgets="
malloc 18
free 32
calloc 22
cfree 32
_Znwm 19
_Znam 19
_ZnwmRKSt9nothrow_t 19
_ZnamRKSt9nothrow_t 19
_ZdlPv 33
_ZdaPv 33
_ZdlPvm 33
_ZdaPvm 33
malloc_usable_size 22
"

disasm="$(mktemp)"
syms="$(mktemp)"
trap 'rm -f "$disasm" "$syms"' EXIT
objdump -d --no-show-raw-insn "$lib" > "$disasm"
nm -D --defined-only "$lib" > "$syms"

/usr/bin/python3 - "$disasm" "$syms" "$budgets" <<'EOF'
import re, sys

disasm_path, syms_path, budgets_text = sys.argv[1:4]
# address -> (mnemonic and operands, index in the listing)
insns = {}
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

failures = []

def hit_path(name, start):
    """The instructions from `start` to the hot path's ret or tail call."""
    path, addr = [], start
    while len(path) < 200:
        text = insns.get(addr)
        if text is None:
            raise ValueError(f"{name}: no instruction at {addr:#x}")
        path.append((addr, text))
        mnemonic = text.split()[0]
        if mnemonic.startswith("ret") or text.startswith("jmp    *"):
            return path  # a return, or a tail call through the GOT (memset)
        jump = re.match(r"jmp\s+([0-9a-f]+)\b", text)
        addr = int(jump.group(1), 16) if jump else next_addr[addr]
    raise ValueError(f"{name}: no ret within 200 instructions")

for line in budgets_text.strip().splitlines():
    name, budget = line.split()
    budget = int(budget)
    if name not in symbols:
        failures.append(f"{name}: not exported")
        continue
    path = hit_path(name, symbols[name])
    forbidden = [t for _, t in path
                 if re.match(r"(call|push|pop|lock|xchg|cmpxchg|leave)\b", t.split()[0] + " ")
                 or t.startswith("lock ")]
    status = "ok"
    if len(path) > budget:
        status = f"OVER BUDGET ({budget})"
    if forbidden:
        status = f"FORBIDDEN {forbidden}"
    print(f"{name:24s} {len(path):3d} instructions on the hit path (budget {budget}): {status}")
    if status != "ok":
        failures.append(name)
        for addr, text in path:
            print(f"    {addr:8x}: {text}")

if failures:
    print("fast_path_test: FAILED:", ", ".join(failures))
    sys.exit(1)
print("fast_path_test: every hit path within its budget")
EOF
