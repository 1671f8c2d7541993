#!/usr/bin/env bash
# Installs everything hakmem needs to build, test and benchmark, from Debian's
# packages (Debian 12; no other network is needed). Idempotent: when every
# package is already installed it returns at once without touching apt.
set -euo pipefail

PACKAGES=(
  bazel-bootstrap             # Bazel 4.2.3 (shared/BAZEL_OFFLINE.md)
  g++
  libgtest-dev libgmock-dev   # tests
  libbenchmark-dev            # micro-benchmarks
  libabsl-dev                 # Abseil
  libgoogle-perftools-dev google-perftools  # tcmalloc (peer), profiler
  libmimalloc-dev libjemalloc-dev           # peers for head-to-head runs
  python3 python3-matplotlib gnuplot-nox    # charts (/usr/bin/python3)
  sqlite3 git default-jdk-headless  # programs run under LD_PRELOAD by the tests
  redis-server redis-tools  # app_redis: the runner starts its own server on a free port
  valgrind                  # runner --instructions (callgrind)
)

installed() {
  [[ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null)" == "installed" ]]
}

missing=()
for pkg in "${PACKAGES[@]}"; do
  installed "$pkg" || missing+=("$pkg")
done
if [[ ${#missing[@]} -eq 0 ]]; then
  echo "setup: all ${#PACKAGES[@]} packages already installed"
  exit 0
fi

SUDO=()
if [[ "$(id -u)" -ne 0 ]]; then
  command -v sudo >/dev/null || { echo "setup: run as root (or install sudo)" >&2; exit 1; }
  SUDO=(sudo)
fi

echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -q
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
  apt-get install -y -q --no-install-recommends "${missing[@]}"
echo "setup: done"
