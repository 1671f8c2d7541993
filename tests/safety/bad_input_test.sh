#!/usr/bin/env bash
# Runs every case of bad_input_probe under LD_PRELOAD=libhakmem.so
# (HAKMEM_INVALID_FREE=warn), each in its own process with a timeout, and
# holds hakmem to what docs/SAFETY.md promises:
#  - no crash and no hang: the probe gets to its last line and exits 0;
#  - the heap stays consistent: the check after the misuse finds no
#    duplicate or overlapping blocks, and every block reads back;
#  - every misuse hakmem can see is reported: a "hakmem: ..." line on stderr
#    that names the misused pointer. That is every double free (same thread,
#    a-b-a, from another thread, from a thread that never allocated, from
#    another thread and then the owner), every free and realloc of an
#    interior, misaligned, foreign or never-handed-out pointer.
#    malloc_usable_size is a query, not a free: no report is asked for; of a
#    foreign pointer it must return 0.
# Not judged (run and shown, never failed): overflow_* and use_after_free_*.
# hakmem keeps free blocks' links inside the blocks (no canary, no guard
# page, no checksum of the link), so a write past a block or into a freed
# block can rewrite a free-list link: it may crash or hand out a block twice,
# and hakmem does not promise otherwise.
#
# Usage: bad_input_test.sh BAD_INPUT_PROBE LIBHAKMEM_SO [CASE...]
# With BAD_INPUT_ULIMIT_V=<KiB> every case runs under that `ulimit -v`: below
# 4 GiB no slab arena can be reserved, and free finds every slab block through
# FreeOther's proper lookup instead of the arena's window.
set -uo pipefail
ulimit -c 0
if [[ -n "${BAD_INPUT_ULIMIT_V:-}" ]]; then
  ulimit -v "$BAD_INPUT_ULIMIT_V" || { echo "FAIL: ulimit -v $BAD_INPUT_ULIMIT_V"; exit 1; }
fi

abs() { echo "$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"; }
PROBE="$(abs "$1")"
LIB="$(abs "$2")"
shift 2
TIMEOUT="${BAD_INPUT_TIMEOUT:-20}"
WORK="$(mktemp -d "${TEST_TMPDIR:-/tmp}/bad_input.XXXXXX")"

if [[ $# -gt 0 ]]; then
  cases=("$@")
else
  mapfile -t cases < <("$PROBE" --list)
fi
[[ ${#cases[@]} -gt 0 ]] || { echo "FAIL: $PROBE --list gave no cases"; exit 1; }

# field NAME FILE: the last value of NAME=... on the probe's lines in FILE.
field() { sed -n "s/^probe .*[ ]$1=\([^ ]*\).*/\1/p" "$2" | tail -n 1; }

failed=()
for c in "${cases[@]}"; do
  out="$WORK/$c.out" err="$WORK/$c.err"
  # (The braces keep bash's own "Segmentation fault" notice out of the log.)
  {
    env -u HAKMEM_STATS LD_PRELOAD="$LIB" HAKMEM_INVALID_FREE=warn \
      timeout -k 5 "$TIMEOUT" "$PROBE" "$c" >"$out" 2>"$err"
    rc=$?
  } 2>/dev/null

  judged=1
  case "$c" in overflow_* | use_after_free_*) judged=0 ;; esac
  report=0
  case "$c" in double_free_* | free_* | realloc_*) report=1 ;; esac

  problems=()
  bad="$(field bad "$out")"
  if [[ $rc -eq 124 || $rc -eq 137 ]]; then
    problems+=("hang: no exit within ${TIMEOUT}s (phase $(field phase "$out"))")
  elif [[ $rc -ne 0 ]]; then
    sig="$(field signal "$out")"
    problems+=("crash: exit status $rc${sig:+, $sig in phase $(field phase "$out")}")
  elif [[ "$(field outcome "$out")" != survived ]]; then
    problems+=("exited before the check")
  else
    for k in duplicates overlaps corrupt nulls; do
      v="$(field "$k" "$out")"
      [[ "$v" == 0 ]] || problems+=("$k=$v")
    done
  fi
  if [[ $report -eq 1 ]]; then
    if [[ -z "$bad" ]]; then
      problems+=("the probe printed no bad= pointer")
    elif ! grep -q "^hakmem: .*$bad\b" "$err"; then
      problems+=("no report naming $bad on stderr")
    fi
  fi
  if [[ "$c" == usable_size_stack && $rc -eq 0 && "$(field ret "$out")" != 0 ]]; then
    problems+=("malloc_usable_size(foreign) returned $(field ret "$out"), not 0")
  fi

  summary="$(tail -n 1 "$out")"
  if [[ ${#problems[@]} -eq 0 ]]; then
    echo "ok    $c"
  elif [[ $judged -eq 0 ]]; then
    echo "info  $c (not judged): ${problems[*]}"
  else
    echo "FAIL  $c: $(IFS=';'; echo "${problems[*]}")"
    echo "        stdout: $summary"
    [[ -s "$err" ]] && echo "        stderr: $(head -n 2 "$err" | tr '\n' ' ')"
    failed+=("$c")
  fi
done

echo
if [[ ${#failed[@]} -gt 0 ]]; then
  echo "${#failed[@]} of ${#cases[@]} cases failed: ${failed[*]}"
  exit 1
fi
echo "all ${#cases[@]} cases ok"
