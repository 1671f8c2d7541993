#!/usr/bin/env bash
# //bench:suite — every head-to-head preset (runner --preset=all: the workload
# families and the app_* programs) in one run, written as one JSON report, one
# markdown report and one chart:
#   <out_dir>/suite.json   schema hakmem-bench/2 (bench/README.md)
#   <out_dir>/suite.md     host line, summary, one table per experiment
#   <out_dir>/suite.png    a panel per family: hakmem / best peer (speed) and
#                          hakmem / median peer (peak RSS) per experiment
#                          (tools/plot_bench.py, /usr/bin/python3 + matplotlib)
# The text table goes to stdout, progress to stderr (its first line is the
# runner's estimate of the whole run).
#
# Usage: bazel run //bench:suite -- [--out_dir=DIR] [runner flags]
#   e.g. bazel run //bench:suite -- --rounds=1 --seconds=0.5 --out_dir=/tmp/suite
# DIR defaults to bench_results/ under the directory bazel was run from. Any
# other flag goes to the runner (it can override --preset too, and
# --instructions adds the callgrind counts of the single-thread workloads).
# Duration at the defaults (3 rounds x 5 allocators, 2 s per workload run):
# about rounds x allocators x (2.15 s per workload experiment + 15.15 s for
# phase) + the apps' ~21 s per round and allocator; bench/README.md ("Suite")
# has the count; it stays under 40 minutes on 2 cores (more when runs are
# repeated for steal time, bench/README.md).
set -euo pipefail

out_dir="bench_results"
runner_args=()
for arg in "$@"; do
  case "$arg" in
    --out_dir=*) out_dir="${arg#--out_dir=}" ;;
    *) runner_args+=("$arg") ;;
  esac
done
if [[ "$out_dir" != /* ]]; then
  out_dir="${BUILD_WORKING_DIRECTORY:-$PWD}/$out_dir"
fi
mkdir -p "$out_dir"

# The runner and its own runfiles (workload, libhakmem.so) are in our runfiles.
if [[ -z "${RUNFILES_DIR:-}" && -d "$0.runfiles" ]]; then
  export RUNFILES_DIR="$0.runfiles"
fi
runner="${RUNFILES_DIR:?run this through bazel run //bench:suite}/hakmem/bench/runner"

# The plotting script lives in the source tree (tools/ is not a Bazel package).
script_dir="$(dirname "$(readlink -f "$0")")"
plot="${BUILD_WORKSPACE_DIRECTORY:-$script_dir/..}/tools/plot_bench.py"

status=0
"$runner" --preset=all --format=table \
  --json_out="$out_dir/suite.json" --markdown_out="$out_dir/suite.md" \
  "${runner_args[@]+"${runner_args[@]}"}" || status=$?
if [[ ! -s "$out_dir/suite.json" ]]; then
  echo "suite: the runner wrote no report (exit $status)" >&2
  exit "$((status == 0 ? 1 : status))"
fi
/usr/bin/python3 "$plot" "$out_dir/suite.json" "$out_dir/suite.png" || status=$?
echo "suite: $out_dir/suite.json, $out_dir/suite.md, $out_dir/suite.png" >&2
exit "$status"
