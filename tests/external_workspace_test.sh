#!/usr/bin/env bash
# A Bazel workspace outside this repository links hakmem the way README.md
# says: local_repository + hakmem_repositories(), deps on
# @hakmem//preload:hakmem, a plain `bazel build //:app` (no .bazelrc of ours,
# no extra flags). The program's malloc must be hakmem's (defined in the
# program itself, not in libc) and it must run; the same workspace builds
# @hakmem//preload:libhakmem.so, and a program preloaded with it gets its
# malloc from there.
#
# $1: the checkout's WORKSPACE file (a runfile; its real path is the checkout).
set -euo pipefail

checkout="$(dirname "$(readlink -f "$1")")"
work="${TEST_TMPDIR:-$(mktemp -d)}/consumer"
rm -rf "$work"
mkdir -p "$work"
export HOME="${TEST_TMPDIR:-$work}"

cat > "$work/WORKSPACE" <<EOT
workspace(name = "consumer")

local_repository(name = "hakmem", path = "$checkout")

load("@hakmem//:repositories.bzl", "hakmem_repositories")

hakmem_repositories()
EOT

cat > "$work/BUILD" <<'EOT'
cc_binary(
    name = "app",
    srcs = ["app.cc"],
    linkopts = ["-ldl"],
    deps = ["@hakmem//preload:hakmem"],
)

# No hakmem linked in: gets it only through LD_PRELOAD.
cc_binary(
    name = "plain",
    srcs = ["app.cc"],
    linkopts = ["-ldl"],
)
EOT

# Prints where malloc, free and operator new resolve, then uses them.
cat > "$work/app.cc" <<'EOT'
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <new>
#include <string>
#include <vector>

static const char* Where(void* f) {
  Dl_info info;
  return dladdr(f, &info) != 0 && info.dli_fname != nullptr ? info.dli_fname : "?";
}

int main() {
  void* (*volatile m)(size_t) = malloc;
  void (*volatile f)(void*) = free;
  printf("malloc_from=%s\n", Where(reinterpret_cast<void*>(m)));
  printf("free_from=%s\n", Where(reinterpret_cast<void*>(f)));
  std::vector<std::string> v;
  for (int i = 0; i < 100000; ++i) v.push_back(std::string(static_cast<size_t>(i % 300), 'x'));
  char* big = static_cast<char*>(m(5 << 20));
  memset(big, 1, 5 << 20);
  f(big);
  for (int i = 0; i < 100000; ++i) {
    if (v[i].size() != static_cast<size_t>(i % 300)) return 1;
  }
  printf("ran=ok\n");
  return 0;
}
EOT

cd "$work"
bazel_cmd=(bazel --batch --output_user_root="$HOME/bazel_root")
echo "--- bazel build //:app //:plain @hakmem//preload:libhakmem.so (in $work)"
if ! "${bazel_cmd[@]}" build //:app //:plain @hakmem//preload:libhakmem.so > build.log 2>&1; then
  tail -50 build.log
  echo "FAIL: the consumer workspace did not build"
  exit 1
fi

fail=0
out="$(./bazel-bin/app)"
echo "$out"
app_path="$(readlink -f bazel-bin/app)"
grep -q '^ran=ok$' <<<"$out" || { echo "FAIL: app did not run to the end"; fail=1; }
for sym in malloc free; do
  from="$(sed -n "s/^${sym}_from=//p" <<<"$out")"
  if [[ "$(readlink -f "$from" 2>/dev/null || echo "$from")" != "$app_path" ]]; then
    echo "FAIL: $sym resolves to $from, not the program ($app_path)"
    fail=1
  fi
done

so="$(readlink -f bazel-bin/external/hakmem/preload/libhakmem.so)"
out="$(LD_PRELOAD="$so" ./bazel-bin/plain)"
echo "$out"
grep -q '^ran=ok$' <<<"$out" || { echo "FAIL: preloaded program did not run to the end"; fail=1; }
from="$(sed -n 's/^malloc_from=//p' <<<"$out")"
if [[ "$(readlink -f "$from")" != "$so" ]]; then
  echo "FAIL: under LD_PRELOAD malloc resolves to $from, not $so"
  fail=1
fi

"${bazel_cmd[@]}" clean --expunge > /dev/null 2>&1 || true
[[ $fail -eq 0 ]] && echo "PASS"
exit $fail
