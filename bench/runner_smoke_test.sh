#!/usr/bin/env bash
# Runs the head-to-head runner briefly and checks what it writes:
#  1. a workload (tiny_1t, 0.2 s) and an app experiment (app_python on 2% of its
#     load), 1 round: the text table and the markdown have a hakmem row with a
#     number; the JSON parses, follows schema hakmem-bench/2, records the host,
#     and every run succeeded with its malloc resolved to the allocator's library;
#  2. if valgrind is installed, --instructions on tiny_1t (20000 ops, hakmem and
#     glibc, no timed rounds): instructions_per_op for both.
# The runner exits non-zero if any run failed or was refused; that fails this test.
set -euo pipefail

runner="${TEST_SRCDIR:?run under bazel test}/hakmem/bench/runner"
out="${TEST_TMPDIR:?}"

fail() { echo "FAIL: $*" >&2; exit 1; }
[[ -x /usr/bin/python3 ]] || fail "/usr/bin/python3 is needed (tools/setup.sh installs it)"

"$runner" --preset=tiny_1t,app_python --rounds=1 --seconds=0.2 --app_scale=0.02 --format=table \
  --json_out="$out/report.json" --markdown_out="$out/report.md" >"$out/table.txt"
cat "$out/table.txt"

grep -qE '^host: .+, [0-9]+ CPUs, Linux ' "$out/table.txt" || fail "no host line in the table"
grep -qE '^== tiny_1t: tiny, 1 thread' "$out/table.txt" || fail "no experiment heading in the table"
grep -qE '^allocator +Mops/s median +min +max' "$out/table.txt" || fail "no table header"
grep -qE '^hakmem +[0-9]+\.[0-9]+ ' "$out/table.txt" || fail "no hakmem row with a number"
grep -qE '^allocator +runs/s median +min +max' "$out/table.txt" || fail "no app table header"
grep -qE '^\| \*\*hakmem\*\* \| [0-9]+\.[0-9]+ \|' "$out/report.md" || fail "no hakmem row in the markdown"
grep -qE '^Host: ' "$out/report.md" || fail "no host line in the markdown"

/usr/bin/python3 - "$out/report.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
def check(cond, what):
    if not cond:
        sys.exit("FAIL: " + what)
check(r["schema"] == "hakmem-bench/2", "schema")
h = r["host"]
check(r["rounds"] == 1 and h["cpus"] >= 1 and h["cpu_model"] and h["glibc"], "rounds/host")
check("hakmem" in h["allocator_versions"] and "python3" in h["program_versions"], "versions")
check([e["name"] for e in r["experiments"]] == ["tiny_1t", "app_python"], "experiments")
for e in r["experiments"]:
    app = e["kind"] == "app"
    check(e["family"] == ("apps" if app else "hakmem_own"), e["name"] + " family")
    check(e["metric"] == ("runs/s" if app else "ops/s"), e["name"] + " metric")
    by_name = {a["name"]: a for a in e["allocators"]}
    check("hakmem" in by_name and "glibc" in by_name, e["name"] + ": hakmem and glibc rows")
    hk = by_name["hakmem"]
    check(hk["subject"] and hk["ok_runs"] == 1 and hk["failed_runs"] == 0, "hakmem run ok")
    check(hk["rate"]["median"] > 0 and hk["peak_rss_mib"]["median"] > 0, "hakmem numbers")
    check(hk["cpu_s"]["median"] >= 0 and hk["wall_s"]["median"] > 0, "hakmem times")
    run = hk["runs"][0]
    check(run["malloc_lib"].endswith("libhakmem.so"), e["name"] + ": malloc resolved to libhakmem.so")
    if app:
        check(run["processes"] >= 1, "app_python: identified processes")
    else:
        check(e["config"]["min_size"] == 8 and e["config"]["max_size"] == 1024, "config sizes")
    for a in e["allocators"]:
        for x in a["runs"]:
            check(x["status"] == "ok", e["name"] + " " + a["name"] + " run failed: " + x["error"])
            check(0 <= x["steal_share"] < 1 and 1 <= x["attempts"] <= 3, "steal fields")
        if not a["subject"]:
            check(a["hakmem_rate_ratio"] > 0 and a["hakmem_rss_ratio"] > 0, a["name"] + " ratios")
            # One round: the paired ratio is that round's, the ratio of the medians.
            check(abs(a["hakmem_paired_rate_ratio"] - a["hakmem_rate_ratio"]) < 1e-6 * a["hakmem_rate_ratio"],
                  a["name"] + " paired ratio")
    s = e["summary"]
    check(s["best_peer"] in by_name and s["hakmem_vs_best_rate"] > 0, "summary")
    check(s["hakmem_vs_best_rate_paired"] > 0, "paired summary")
    check(s["hakmem_vs_median_peer_rss"] > 0, "median-peer RSS ratio")
print("json ok:", [(e["name"], len(e["allocators"])) for e in r["experiments"]])
PY

if [[ ! -x /usr/bin/valgrind ]]; then
  echo "runner_smoke_test: ok (valgrind not installed: --instructions not checked)"
  exit 0
fi
"$runner" --preset=tiny_1t --instructions --rounds=0 --ops=20000 --allocators=hakmem,glibc \
  --format=json >"$out/instructions.json"
/usr/bin/python3 - "$out/instructions.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
def check(cond, what):
    if not cond:
        sys.exit("FAIL: " + what)
check(r["instructions"] and r["rounds"] == 0, "instructions report")
e = r["experiments"][0]
for a in e["allocators"]:
    check(a["instructions"]["status"] == "ok", a["name"] + ": " + a["instructions"]["error"])
    check(a["instructions"]["ops"] == 20000, a["name"] + " ops")
    check(a["instructions_per_op"] > 10, a["name"] + " instructions_per_op")
check(e["summary"]["fewest_instructions_peer"] == "glibc", "fewest-instructions peer")
check(e["summary"]["hakmem_vs_fewest_instructions"] > 0, "instruction ratio")
print("instructions ok:", {a["name"]: a["instructions_per_op"] for a in e["allocators"]})
PY
echo "runner_smoke_test: ok"
