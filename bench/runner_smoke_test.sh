#!/usr/bin/env bash
# Runs the head-to-head runner once, briefly (tiny workload, 1 round, 0.2 s per
# allocator), and checks its three outputs: the text table and the markdown have
# a hakmem row with a number, and the JSON parses, follows schema hakmem-bench/1,
# and has a successful hakmem run whose malloc resolved to libhakmem.so.
# The runner exits non-zero if any run failed or was refused; that fails this test.
set -euo pipefail

runner="${TEST_SRCDIR:?run under bazel test}/hakmem/bench/runner"
out="${TEST_TMPDIR:?}"

"$runner" --workload=tiny --threads=1 --rounds=1 --seconds=0.2 --format=table \
  --json_out="$out/report.json" --markdown_out="$out/report.md" >"$out/table.txt"
cat "$out/table.txt"

fail() { echo "FAIL: $*" >&2; exit 1; }
grep -qE '^== tiny_1t: tiny, 1 thread' "$out/table.txt" || fail "no experiment heading in the table"
grep -qE '^allocator +Mops/s median +min +max' "$out/table.txt" || fail "no table header"
grep -qE '^hakmem +[0-9]+\.[0-9]+ ' "$out/table.txt" || fail "no hakmem row with a number"
grep -qE '^\| \*\*hakmem\*\* \| [0-9]+\.[0-9]+ \|' "$out/report.md" || fail "no hakmem row in the markdown"

[[ -x /usr/bin/python3 ]] || fail "/usr/bin/python3 is needed to check the JSON (tools/setup.sh installs it)"
/usr/bin/python3 - "$out/report.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
def check(cond, what):
    if not cond:
        sys.exit("FAIL: " + what)
check(r["schema"] == "hakmem-bench/1", "schema")
check(r["rounds"] == 1 and r["host"]["cpus"] >= 1, "rounds/host")
check(len(r["experiments"]) == 1, "one experiment")
e = r["experiments"][0]
check(e["name"] == "tiny_1t" and e["workload"] == "tiny" and e["threads"] == 1, "experiment id")
check(e["config"]["min_size"] == 8 and e["config"]["max_size"] == 1024, "config sizes")
by_name = {a["name"]: a for a in e["allocators"]}
check("hakmem" in by_name, "hakmem row")
h = by_name["hakmem"]
check(h["subject"] and h["ok_runs"] == 1 and h["failed_runs"] == 0, "hakmem run ok")
check(h["ops_per_sec"]["median"] > 0 and h["peak_rss_mib"]["median"] > 0, "hakmem numbers")
check(h["runs"][0]["malloc_lib"].endswith("libhakmem.so"), "hakmem malloc resolved to libhakmem.so")
for a in e["allocators"]:
    for run in a["runs"]:
        check(run["status"] == "ok", a["name"] + " run failed: " + run["error"])
peers = [a for a in e["allocators"] if not a["subject"]]
check(any(a["name"] == "glibc" for a in peers), "glibc row")
for a in peers:
    check(a["hakmem_ops_ratio"] > 0 and a["hakmem_rss_ratio"] > 0, a["name"] + " ratios")
s = e["summary"]
check(s["best_peer"] in by_name and s["hakmem_vs_best_ops"] > 0, "summary")
print("json ok:", len(e["allocators"]), "allocators, skipped:", [x["name"] for x in e["skipped"]])
PY
echo "runner_smoke_test: ok"
