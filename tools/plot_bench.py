#!/usr/bin/python3
"""Charts a head-to-head report (schema hakmem-bench/1, bench/README.md) as a PNG.

Usage: /usr/bin/python3 tools/plot_bench.py REPORT.json OUT.png

Three panels, one group of bars per experiment (workload x threads), one bar per
allocator:
  1. M ops/s, median, with a min..max whisker (log scale: workloads differ by
     orders of magnitude);
  2. peak RSS in MiB, median (log scale);
  3. hakmem's median ops/s divided by the best peer's, with the 1.0 line that
     hakmem is meant to reach.
Runs with Debian's /usr/bin/python3 and python3-matplotlib (no display needed).
"""

import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after the backend is chosen)

ORDER = ["hakmem", "glibc", "mimalloc", "jemalloc", "tcmalloc"]
COLORS = {
    "hakmem": "#d62728",
    "glibc": "#7f7f7f",
    "mimalloc": "#1f77b4",
    "jemalloc": "#2ca02c",
    "tcmalloc": "#ff7f0e",
}


def load(path):
    with open(path) as f:
        report = json.load(f)
    if report.get("schema") != "hakmem-bench/1":
        sys.exit(f"plot_bench: {path} is not a hakmem-bench/1 report")
    return report


def allocator_names(experiments):
    seen = {a["name"] for e in experiments for a in e["allocators"]}
    return [n for n in ORDER if n in seen] + sorted(seen - set(ORDER))


def series(experiments, name, key):
    """Per experiment: (median, min, max) of `key` for allocator `name`, or None."""
    out = []
    for e in experiments:
        stat = next((a[key] for a in e["allocators"] if a["name"] == name), None)
        out.append(None if stat is None else (stat["median"], stat["min"], stat["max"]))
    return out


def bars(ax, experiments, names, key, scale, whiskers):
    width = 0.8 / max(len(names), 1)
    for i, name in enumerate(names):
        xs, ys, lo, hi = [], [], [], []
        for j, s in enumerate(series(experiments, name, key)):
            if s is None:
                continue
            med, mn, mx = (v * scale for v in s)
            xs.append(j - 0.4 + width * (i + 0.5))
            ys.append(med)
            lo.append(med - mn)
            hi.append(mx - med)
        ax.bar(xs, ys, width, label=name, color=COLORS.get(name),
               yerr=[lo, hi] if whiskers else None, capsize=2 if whiskers else 0,
               edgecolor="black" if name == "hakmem" else "none", linewidth=0.6)
    ax.set_yscale("log")
    ax.set_xticks(range(len(experiments)))
    ax.set_xticklabels([e["name"] for e in experiments])
    ax.grid(axis="y", which="both", alpha=0.3)


def ratio_panel(ax, experiments):
    ratios, labels = [], []
    for e in experiments:
        s = e["summary"]
        ratios.append(s["hakmem_vs_best_ops"] or 0)
        labels.append(f"vs {s['best_peer']}" if s["best_peer"] else "")
    colors = ["#2ca02c" if r >= 1 else "#d62728" for r in ratios]
    ax.bar(range(len(experiments)), ratios, 0.6, color=colors)
    ax.axhline(1.0, color="black", linewidth=1)
    for j, (r, label) in enumerate(zip(ratios, labels)):
        ax.annotate(f"{r:.2f}x\n{label}", (j, r), ha="center", va="bottom", fontsize=7)
    ax.set_xticks(range(len(experiments)))
    ax.set_xticklabels([e["name"] for e in experiments])
    ax.set_ylabel("hakmem / best peer\n(ops/s, median)")
    ax.set_ylim(0, max(ratios + [1.0]) * 1.3)
    ax.grid(axis="y", alpha=0.3)


def main(argv):
    if len(argv) != 3:
        sys.exit(__doc__)
    report = load(argv[1])
    experiments = report["experiments"]
    if not experiments:
        sys.exit("plot_bench: the report has no experiments")
    names = allocator_names(experiments)
    fig, (ops_ax, rss_ax, ratio_ax) = plt.subplots(
        3, 1, figsize=(max(8, 1.6 * len(experiments)), 11),
        gridspec_kw={"height_ratios": [3, 2, 2]})
    bars(ops_ax, experiments, names, "ops_per_sec", 1e-6, whiskers=True)
    ops_ax.set_ylabel("M ops/s (median, min..max)")
    ops_ax.legend(ncol=len(names), fontsize=8, loc="upper center",
                  bbox_to_anchor=(0.5, 1.16))
    bars(rss_ax, experiments, names, "peak_rss_mib", 1.0, whiskers=False)
    rss_ax.set_ylabel("peak RSS MiB (median)")
    ratio_panel(ratio_ax, experiments)
    host = report.get("host", {})
    fig.suptitle(f"hakmem head to head: {report['rounds']} interleaved round(s), "
                 f"{host.get('cpus', '?')} CPUs, kernel {host.get('kernel', '?')}",
                 fontsize=11)
    fig.tight_layout()
    fig.savefig(argv[2], dpi=110)
    print(f"plot_bench: wrote {argv[2]}", file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv)
