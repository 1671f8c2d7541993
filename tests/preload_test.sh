#!/usr/bin/env bash
# Runs a real program under LD_PRELOAD=libhakmem.so and checks that
#  - its output is right (compared with the same program on glibc malloc, or
#    with a known answer), and
#  - hakmem really served it: with HAKMEM_STATS=1 hakmem prints a block that
#    starts with "hakmem stats" to stderr at exit; no block = not preloaded.
#
# Usage: preload_test.sh LIBHAKMEM_SO CASE [DATA...]
# CASE: symbols | python | sort | gcc | sqlite | git | fork | unshare | new_handler | stress |
#       no_arena | learner
set -euo pipefail

LIB="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
CASE="$2"
shift 2
DATA=()
for f in "$@"; do DATA+=("$(cd "$(dirname "$f")" && pwd)/$(basename "$f")"); done

WORK="$(mktemp -d "${TEST_TMPDIR:-/tmp}/preload_${CASE}.XXXXXX")"
ERR="$WORK/hakmem.stderr"
: >"$ERR"
cd "$WORK"
export TMPDIR="$WORK" LC_ALL=C

fail() {
  echo "FAIL [$CASE]: $*" >&2
  echo "--- stderr of the preloaded runs (last 40 lines) ---" >&2
  tail -n 40 "$ERR" >&2 || true
  exit 1
}

# hak CMD...: CMD with hakmem preloaded and its stats on; stderr to $ERR.
hak() { LD_PRELOAD="$LIB" HAKMEM_STATS=1 "$@" 2>>"$ERR"; }

# Passes if at least $1 (default 1) preloaded processes printed their stats.
expect_stats() {
  local want="${1:-1}" got
  if grep -q 'cannot be preloaded' "$ERR"; then fail "the dynamic loader refused $LIB"; fi
  # A real program never frees a pointer malloc did not give it: a report
  # here means hakmem lost track of one of its own blocks.
  if grep -q '^hakmem: free(' "$ERR"; then fail "hakmem reported an invalid free"; fi
  got="$(grep -c 'hakmem stats' "$ERR" || true)"
  if [[ "$got" -lt "$want" ]]; then
    fail "expected >= $want 'hakmem stats' blocks on stderr, found $got"
  fi
  echo "[$CASE] ok: $got process(es) ran on hakmem"
}

# For programs that close stderr before hakmem's exit report (coreutils do):
# the dynamic loader's own log shows that PROGRAM's malloc and free bind to
# libhakmem.so. Usage: bound PROGRAM CMD...
bound() {
  local prog="$1" log="$WORK/ld.$1"
  shift
  LD_PRELOAD="$LIB" LD_DEBUG=bindings LD_DEBUG_OUTPUT="$log" "$@" 2>>"$ERR" || return
  for sym in malloc free; do
    grep -q "binding file [^ ]*$prog .* to [^ ]*libhakmem.so .*symbol \`$sym'" "$log".* ||
      fail "$prog's $sym is not bound to libhakmem.so"
  done
  rm -f "$log".*
}

case "$CASE" in

symbols)  # the .so exports exactly the malloc family and operator new/delete
  expected="$WORK/expected" actual="$WORK/actual"
  printf '%s\n' malloc free calloc realloc reallocarray posix_memalign aligned_alloc \
    memalign valloc pvalloc malloc_usable_size malloc_trim mallinfo mallinfo2 mallopt \
    malloc_stats cfree __libc_malloc __libc_free __libc_calloc __libc_realloc \
    __libc_memalign __libc_valloc __libc_pvalloc __posix_memalign \
    _Znwm _Znam _ZnwmRKSt9nothrow_t _ZnamRKSt9nothrow_t _ZnwmSt11align_val_t \
    _ZnamSt11align_val_t _ZnwmSt11align_val_tRKSt9nothrow_t \
    _ZnamSt11align_val_tRKSt9nothrow_t _ZdlPv _ZdaPv _ZdlPvRKSt9nothrow_t \
    _ZdaPvRKSt9nothrow_t _ZdlPvm _ZdaPvm _ZdlPvSt11align_val_t _ZdaPvSt11align_val_t \
    _ZdlPvSt11align_val_tRKSt9nothrow_t _ZdaPvSt11align_val_tRKSt9nothrow_t \
    _ZdlPvmSt11align_val_t _ZdaPvmSt11align_val_t | sort >"$expected"
  # Global (upper-case) entries only: a local TLS symbol may sit in .dynsym.
  nm -D --defined-only "$LIB" | awk '$2 ~ /^[A-Z]$/ {print $3}' | sort >"$actual"
  diff -u "$expected" "$actual" || fail "exported symbols differ (- expected, + actual)"
  data="$(nm -D --defined-only "$LIB" | awk '$2 ~ /^[A-Z]$/ && $2 != "T" {print}')"
  [[ -z "$data" ]] || fail "exported symbols that are not functions: $data"
  # Needs nothing but the C runtime: no C++ runtime (preload/cxx_runtime.h),
  # which a C program would otherwise load for hakmem alone (1 MiB resident),
  # and no libm (learner/plain_math.h: 75 us more at every exec).
  needed="$(readelf -d "$LIB" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | sort)"
  echo "NEEDED: $(echo $needed)"
  for lib in $needed; do
    case "$lib" in
      libc.so.6 | libpthread.so.0 | ld-linux-x86-64.so.2) ;;
      *) fail "libhakmem.so needs $lib" ;;
    esac
  done
  maps="$(LD_PRELOAD="$LIB" cat /proc/self/maps)" || fail "cat exited with $?"
  grep -q 'libhakmem\.so' <<<"$maps" || fail "libhakmem.so is not mapped into cat"
  if grep -Eq 'libstdc\+\+|libgcc_s' <<<"$maps"; then
    fail "a C program preloaded with hakmem maps a C++ runtime"
  fi
  if grep -q '/libm\.so' <<<"$maps"; then
    fail "a C program preloaded with hakmem maps libm"
  fi
  echo "[$CASE] ok: $(wc -l <"$actual") symbols, needs: $(echo $needed)"
  ;;

perl)  # hashes and strings; output equal to the glibc run
  prog='my %h; $h{$_} = "v" x ($_ % 50) for 1 .. 200000;
        my $n = 0; $n += length($h{$_}) for keys %h; print scalar(keys %h), " $n\n";'
  perl -e "$prog" >ref.txt
  hak perl -e "$prog" >out.txt || fail "perl exited with $?"
  diff -u ref.txt out.txt || fail "output differs from the glibc run"
  expect_stats 1
  ;;

java)  # the JVM: native threads, JIT compiler threads, signals
  # (java comes with the JDK that Debian's bazel-bootstrap depends on)
  hak java -Xshare:off "${DATA[0]}" >out.txt || fail "java exited with $?"
  grep -qx 'java workload ok 420000' out.txt || fail "unexpected output: $(cat out.txt)"
  expect_stats 1
  ;;

python)  # dicts and strings; output equal to the glibc run
  /usr/bin/python3 "${DATA[0]}" >ref.txt
  hak /usr/bin/python3 "${DATA[0]}" >out.txt || fail "python3 exited with $?"
  diff -u ref.txt out.txt || fail "output differs from the glibc run"
  grep -q 'python workload ok' out.txt || fail "script did not finish"
  expect_stats 1
  ;;

sort)  # a 400k-line file, in memory and with a small buffer (temp files, 2 threads)
  awk 'BEGIN { srand(7); for (i = 0; i < 400000; i++)
               printf "%d %s-%d\n", int(rand() * 1000000),
                      substr("abcdefghijklmnopqrstuvwxyz", i % 22 + 1, 5), i }' >in.txt
  sort in.txt >ref1.txt
  sort --parallel=2 -S 1M -n -k1,1 -s in.txt >ref2.txt
  # sort closes stderr at exit, before hakmem's report: check the bindings.
  bound sort sort in.txt >out1.txt || fail "sort exited with $?"
  bound sort sort --parallel=2 -S 1M -n -k1,1 -s in.txt >out2.txt ||
    fail "sort -S exited with $?"
  cmp ref1.txt out1.txt || fail "sort output differs"
  cmp ref2.txt out2.txt || fail "sort -n -S 1M output differs"
  [[ "$(wc -l <out1.txt)" -eq 400000 ]] || fail "lost lines"
  echo "[$CASE] ok: sort's malloc and free were hakmem's"
  ;;

gcc)  # the compiler (driver, cc1, as, collect2, ld) and the program it built
  hak gcc -O2 -Wall -o prog "${DATA[0]}" || fail "gcc exited with $?"
  out="$(hak ./prog)" || fail "the compiled program exited with $?"
  [[ "$out" == "sum=4999950000 hakmem" ]] || fail "program printed '$out'"
  expect_stats 3
  ;;

sqlite)  # a 200k-row table, indexes, joins, updates, vacuum
  sqlite3 ref.db <"${DATA[0]}" >ref.txt
  hak sqlite3 out.db <"${DATA[0]}" >out.txt || fail "sqlite3 exited with $?"
  diff -u ref.txt out.txt || fail "output differs from the glibc run"
  head -n 1 out.txt | grep -q '^200000|' || fail "wrong row count"
  [[ "$(tail -n 1 out.txt)" == "ok" ]] || fail "integrity_check failed"
  expect_stats 1
  ;;

git)  # init/add/commit/gc; the commit ids must equal those made without hakmem
  export HOME="$WORK" GIT_CONFIG_NOSYSTEM=1 GIT_AUTHOR_NAME=hakmem \
    GIT_AUTHOR_EMAIL=hakmem@example.com GIT_COMMITTER_NAME=hakmem \
    GIT_COMMITTER_EMAIL=hakmem@example.com GIT_AUTHOR_DATE='2024-01-01T00:00:00Z' \
    GIT_COMMITTER_DATE='2024-01-01T00:00:00Z'
  make_history() {  # $1 = runner (hak or env), $2 = directory
    local run="$1" dir="$2" i
    mkdir -p "$dir/src" && cd "$dir" || return 1
    for i in $(seq 1 300); do
      seq "$i" $((i * 20)) | sed "s/^/line $i: /" >"src/file$i.txt"
    done
    $run git init -q -b main . || return 1
    $run git add -A || return 1
    $run git commit -q -m first || return 1
    for i in $(seq 3 3 300); do echo "changed $i" >>"src/file$i.txt"; done
    $run git rm -q src/file1.txt || return 1
    $run git commit -q -a -m second || return 1
    $run git gc -q || return 1
    $run git fsck --no-progress || return 1
    $run git log --format='%H %s' || return 1
    $run git diff --stat HEAD~1 HEAD | tail -n 1
    cd "$WORK"
  }
  make_history env "$WORK/ref" >ref.txt
  make_history hak "$WORK/out" >out.txt || fail "git exited with $?"
  diff -u ref.txt out.txt || fail "history differs from the glibc run"
  [[ "$(grep -c ' first$\| second$' out.txt)" -eq 2 ]] || fail "missing commits"
  expect_stats 8
  ;;

fork)  # a multi-threaded python3 forks and spawns while its threads allocate
  out="$(hak timeout 240 /usr/bin/python3 "${DATA[0]}")" || fail "python3 exited with $?"
  [[ "$out" == "fork ok" ]] || fail "printed '$out'"
  expect_stats 1
  ;;

unshare)  # a program of one thread enters a user namespace, as sandboxes and container
  # tools do: the kernel refuses it (EINVAL) in a process of several threads, so
  # hakmem must not have started one (core/decay.cc)
  script='import ctypes, time
libc = ctypes.CDLL(None, use_errno=True)
held = [bytearray(1000 + i % 3000) for i in range(3000)]
time.sleep(0.3)  # past the decay thread start delay
held += [bytearray(2000 + i % 5000) for i in range(3000)]
print("unshare ok" if libc.unshare(0x10000000) == 0 else "unshare failed: errno %d" % ctypes.get_errno())'
  ref="$(/usr/bin/python3 -c "$script")"
  if [[ "$ref" != "unshare ok" ]]; then
    echo "[$CASE] skipped: no user namespace for this user here ($ref)"
    exit 0
  fi
  out="$(hak /usr/bin/python3 -c "$script")" || fail "python3 exited with $?"
  [[ "$out" == "unshare ok" ]] || fail "printed '$out'"
  expect_stats 1
  ;;

new_handler)  # operator new's failure path, from the program's C++ runtime
  out="$(hak "${DATA[0]}")" || fail "new_handler_main exited with $?"
  [[ "$out" == "new_handler ok" ]] || fail "printed '$out'"
  expect_stats 1
  ;;

stress)  # the multi-thread stress workload on malloc/free/realloc
  out="$(hak "${DATA[0]}")" || fail "stress exited with $?"
  [[ "$out" == "stress ok" ]] || fail "printed '$out'"
  expect_stats 1
  ;;

no_arena)  # address space limited (ulimit -v): no slab arena, SuperSlabs mapped anywhere
  /usr/bin/python3 "${DATA[0]}" >ref.txt
  hak /usr/bin/python3 "${DATA[0]}" >/dev/null || fail "python3 exited with $?"
  grep -q 'slab arena reserved: *64 GiB' "$ERR" || fail "no 64 GiB arena without a limit"
  : >"$ERR"
  (ulimit -v 3000000 && hak /usr/bin/python3 "${DATA[0]}" >out.txt) || fail "python3 exited with $?"
  diff -u ref.txt out.txt || fail "output differs from the glibc run"
  grep -q 'slab arena reserved: *0 GiB' "$ERR" || fail "an arena was reserved under ulimit -v 3 GB"
  out="$(ulimit -v 3000000 && hak "${DATA[1]}")" || fail "stress exited with $?"
  [[ "$out" == "stress ok" ]] || fail "stress printed '$out'"
  expect_stats 2
  ;;

learner)  # HAKMEM_LEARN=1 in a real program: lazy start, windows, a fork, a clean exit
  out="$(HAKMEM_LEARN=1 HAKMEM_LEARN_WINDOW_MS=500 HAKMEM_LEARN_LOG="$WORK/learn.csv" \
    hak timeout 120 /usr/bin/python3 "${DATA[0]}")" || fail "python3 exited with $?"
  [[ "$out" == "learner workload ok" ]] || fail "printed '$out'"
  expect_stats 1
  windows="$(sed -n 's/^hakmem learner: \([0-9]*\) windows.*/\1/p' "$ERR" | head -n 1)"
  [[ -n "$windows" && "$windows" -ge 1 ]] || fail "the learner ran no window"
  head -n 1 "$WORK/learn.csv" | grep -q '^time_ms,kind,class,class_size,cap,new_cap,wmax,' ||
    fail "no CSV header in HAKMEM_LEARN_LOG"
  grep -q ',cap,' "$WORK/learn.csv" || fail "no per-class rows in HAKMEM_LEARN_LOG"
  echo "[$CASE] ok: the learner ran $windows windows"
  ;;

*)
  fail "unknown case"
  ;;
esac
