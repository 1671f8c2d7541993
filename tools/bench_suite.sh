#!/usr/bin/env bash
# Runs the whole head-to-head suite (//bench:suite) from anywhere in the tree:
# every preset (workload families and app_* programs) under hakmem and the peers,
# then bench_results/suite.{json,md,png}.
#   tools/bench_suite.sh                          # defaults: 3 rounds x 2 s
#   tools/bench_suite.sh --rounds=1 --seconds=0.5 --out_dir=/tmp/suite
# Flags are the runner's (bench/README.md) plus --out_dir.
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")/.."
exec bazel run //bench:suite -- "$@"
