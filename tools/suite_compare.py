#!/usr/bin/env python3
"""Before/after table of two suite runs (bench/README.md, "Suite"), as docs/BENCHMARKS.md
shows them, and the counts a results section quotes.

Usage:
  python3 tools/suite_compare.py BEFORE/suite.json AFTER/suite.json

Prints, in markdown: one row per experiment of AFTER (hakmem's median rate in both runs,
its speed against the best peer of each run, its peak RSS, and its peak RSS against the
leanest of mimalloc, jemalloc and tcmalloc, issue 12's bar); then for each run the rows
at or above the best peer (by medians and paired by round), within 1.10x the leanest
peer's RSS and at or below the median peer's; the RSS late in the quiet phases of the
phase rows; and how many runs were repeated for steal time.
"""
import json
import statistics
import sys

LEAN_PEERS = ("mimalloc", "jemalloc", "tcmalloc")
RSS_BAR = 1.10


def load(path):
    with open(path) as f:
        doc = json.load(f)
    return doc, {e["name"]: e for e in doc["experiments"]}


def commit(doc):
    return doc["host"].get("hakmem_commit", "?")[:7]


def allocator(exp, name):
    for a in exp["allocators"]:
        if a["name"] == name:
            return a
    return None


def rate_text(v):
    return f"{v / 1e6:.2f} M" if v >= 1e6 else f"{v:.3g}"


def leanest(exp):
    """(hakmem's peak RSS / the leanest of LEAN_PEERS', that peer) or (None, None)."""
    hak = allocator(exp, "hakmem")
    peers = [(a["peak_rss_mib"]["median"], a["name"]) for a in exp["allocators"]
             if a["name"] in LEAN_PEERS and a["ok_runs"] > 0]
    if hak is None or not peers:
        return None, None
    rss, name = min(peers)
    return hak["peak_rss_mib"]["median"] / rss, name


def at_least_one(ratio):
    """A ratio counts as shown, to two decimals: 0.996 is the tie 1.00."""
    return round(ratio or 0, 2) >= 1.0


def counts(experiments):
    s = experiments.values()
    faster = sum(1 for e in s if at_least_one(e["summary"]["hakmem_vs_best_rate"]))
    paired = sum(1 for e in s if at_least_one(e["summary"].get("hakmem_vs_best_rate_paired")))
    within = sum(1 for e in s if (leanest(e)[0] or 9) <= RSS_BAR)
    median = sum(1 for e in s if (e["summary"].get("hakmem_vs_median_peer_rss") or 9) <= 1.0)
    return faster, paired, within, median


def quiet_rss(exp):
    """Median quiet_rss_mib per allocator (phase rows only)."""
    out = {}
    for a in exp["allocators"]:
        vals = [r["details"].get("quiet_rss_mib") for r in a.get("runs", [])
                if isinstance(r.get("details"), dict) and r["details"].get("quiet_rss_mib")]
        if vals:
            out[a["name"]] = statistics.median(float(v) for v in vals)
    return out


def steal(doc):
    runs = [r for e in doc["experiments"] for a in e["allocators"] for r in a.get("runs", [])]
    repeated = sum(1 for r in runs if (r.get("attempts") or 1) > 1)
    still = sum(1 for r in runs if (r.get("steal_share") or 0) > 0.05)
    return len(runs), repeated, still


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    before_doc, before = load(sys.argv[1])
    after_doc, after = load(sys.argv[2])
    a, b = commit(before_doc), commit(after_doc)
    print(f"| row | hakmem {a} | hakmem {b} | speed / best peer {a} → {b} "
          f"| peak RSS MiB {a} → {b} | RSS / leanest {a} → {b} |")
    print("|---|---|---|---|---|---|")
    for name, exp in after.items():
        old = before.get(name)
        hak = allocator(exp, "hakmem")
        old_hak = allocator(old, "hakmem") if old else None
        if hak is None or hak["ok_runs"] == 0:
            continue
        s = exp["summary"]
        old_rate = rate_text(old_hak["rate"]["median"]) if old_hak else "-"
        old_speed = (f"{old['summary']['hakmem_vs_best_rate']:.2f} ({old['summary']['best_peer']})"
                     if old else "-")
        old_rss = f"{old_hak['peak_rss_mib']['median']:.1f}" if old_hak else "-"
        old_lean = f"{leanest(old)[0]:.2f}" if old and leanest(old)[0] else "-"
        lean, lean_peer = leanest(exp)
        print(f"| {name} | {old_rate} | {rate_text(hak['rate']['median'])} "
              f"| {old_speed} → **{s['hakmem_vs_best_rate']:.2f}** ({s['best_peer']}) "
              f"| {old_rss} → {hak['peak_rss_mib']['median']:.1f} "
              f"| {old_lean} → **{lean:.2f}** ({lean_peer}) |")
    print()
    for label, exps in ((a, before), (b, after)):
        faster, paired, within, median = counts(exps)
        print(f"{label}: speed >= best peer on {faster} of {len(exps)} (paired by round: "
              f"{paired}); RSS <= {RSS_BAR:.2f}x leanest on {within}; "
              f"RSS <= median peer on {median}")
    print()
    for name in ("phase_1t", "phase_short_2t"):
        if name in after:
            q = quiet_rss(after[name])
            print(f"{name} RSS late in the quiet phases (MiB): " +
                  ", ".join(f"{k} {v:.1f}" for k, v in q.items()))
    runs, repeated, still = steal(after_doc)
    print(f"steal: {repeated} of {runs} runs repeated, {still} still above 5 %")


if __name__ == "__main__":
    main()
