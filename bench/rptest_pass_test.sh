#!/usr/bin/env bash
# rptest's --pass_one_in and the handoffs it reports, on the process's own
# malloc (no preload). With one thread the thread's inbox is its own and is
# emptied after every batch, so every offered block is pushed: exactly all
# 20,000 with 1, whole batches of 32 of about 5,000 with 4, none with 0. With
# two threads a full inbox sends a batch back to a local free, so only bounds
# hold there; the first batch into each empty inbox always fits. Every run
# verifies every block it frees (errors=0) and runs exactly its ops.
set -euo pipefail

workload="${TEST_SRCDIR:?run under bazel test}/hakmem/bench/workload"
out="${TEST_TMPDIR:?}"

fail() { echo "FAIL: $*" >&2; exit 1; }

# run <threads> <pass_one_in>: runs 20,000 ops per thread; sets `handoffs`.
run() {
  local log="$out/run_$1_$2.txt"
  "$workload" --workload=rptest --threads="$1" --ops=20000 --slots=512 --pass_one_in="$2" >"$log"
  cat "$log"
  grep -q ' status=ok' "$log" || fail "threads=$1 pass_one_in=$2: run not ok"
  local errors ops
  errors="$(sed -n 's/.* errors=\([0-9][0-9]*\) .*/\1/p' "$log")"
  ops="$(sed -n 's/.* ops=\([0-9][0-9]*\) .*/\1/p' "$log")"
  handoffs="$(sed -n 's/.* handoffs=\([0-9][0-9]*\) .*/\1/p' "$log")"
  [[ -n "$errors" && -n "$ops" && -n "$handoffs" ]] || fail "threads=$1: a field is missing"
  [[ "$errors" -eq 0 ]] || fail "threads=$1 pass_one_in=$2: $errors blocks failed their check"
  [[ "$ops" -eq $((20000 * $1)) ]] || fail "threads=$1 pass_one_in=$2: $ops ops"
}

run 1 0; [[ "$handoffs" -eq 0 ]] || fail "one thread, pass_one_in=0: $handoffs handed off"
run 1 1; [[ "$handoffs" -eq 20000 ]] || fail "one thread, pass_one_in=1: $handoffs, want 20000"
run 1 4
[[ $((handoffs % 32)) -eq 0 && "$handoffs" -ge 4000 && "$handoffs" -le 6000 ]] ||
  fail "one thread, pass_one_in=4: $handoffs, want whole batches of about 5000"
run 2 0; [[ "$handoffs" -eq 0 ]] || fail "two threads, pass_one_in=0: $handoffs handed off"
run 2 1; [[ "$handoffs" -ge 64 && "$handoffs" -le 40000 ]] || fail "two threads, pass_one_in=1: $handoffs"
run 2 4; [[ "$handoffs" -ge 64 && "$handoffs" -le 12000 ]] || fail "two threads, pass_one_in=4: $handoffs"
echo PASS
