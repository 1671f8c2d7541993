#!/usr/bin/env bash
# Runs every test three times: the plain (optimised) build, then ASan, then
# TSan (tests tagged noasan/notsan are skipped by those configs, see .bazelrc).
# Ends with one line, "N passed, N failed", summed over the three runs from
# Bazel's per-test PASSED/FAILED lines; exits non-zero if anything failed.
# A run that breaks before its tests can report (build or analysis error)
# counts as one failure. Extra arguments go to every `bazel test`.
set -uo pipefail
cd "$(dirname "$0")/.."

total_passed=0
total_failed=0
log="$(mktemp)"
trap 'rm -f "$log"' EXIT

for config in plain asan tsan; do
  flags=()
  [[ "$config" != plain ]] && flags=("--config=$config")
  echo "=== bazel test ${flags[*]} //...  ($config)"
  bazel test "${flags[@]}" --keep_going --color=no --curses=no "$@" //... 2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
  # "//pkg:name   PASSED in 1.2s", "(cached) PASSED", "FAILED in ...",
  # "FAILED TO BUILD", "TIMEOUT", "NO STATUS", "INCOMPLETE", "FLAKY, failed in ..."
  passed=$(grep -cE '^//[^ ]+ +(\(cached\) )?PASSED' "$log" || true)
  failed=$(grep -cE '^//[^ ]+ +(\(cached\) )?(FAILED|TIMEOUT|NO STATUS|INCOMPLETE|FLAKY)' \
    "$log" || true)
  if [[ $rc -ne 0 && $failed -eq 0 ]]; then
    echo "=== $config: bazel exited with $rc before any test failed: counted as 1 failure"
    failed=1
  fi
  echo "=== $config: $passed passed, $failed failed"
  total_passed=$((total_passed + passed))
  total_failed=$((total_failed + failed))
done

echo "$total_passed passed, $total_failed failed"
[[ $total_failed -eq 0 ]]
