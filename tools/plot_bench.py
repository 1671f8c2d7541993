#!/usr/bin/python3
"""Charts a head-to-head report (schema hakmem-bench/2, bench/README.md) as one PNG.

Usage: /usr/bin/python3 tools/plot_bench.py REPORT.json OUT.png

One panel per family of experiments (hakmem_own, larson, glibc, ..., apps), one
group of bars per experiment:
  - speed: hakmem's median rate / the best peer's (above 1.0: hakmem is faster),
    annotated with the ratio and the best peer's name;
  - peak RSS: hakmem's median / the median peer's (below 1.0: hakmem used less);
  - with --instructions: instructions per op, hakmem / the peer with the fewest
    (below 1.0: hakmem ran fewer).
The line at 1.0 is parity. The title names the CPU model, the CPUs, the kernel,
glibc, hakmem's commit and the rounds. Runs with Debian's /usr/bin/python3 and
python3-matplotlib (no display needed).
"""

import json
import math
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after the backend is chosen)

SCHEMA = "hakmem-bench/2"
SERIES = [
    # (summary key, legend label, colour)
    ("hakmem_vs_best_rate", "speed: hakmem / best peer (higher is better)", "#1f77b4"),
    ("hakmem_vs_median_peer_rss", "peak RSS: hakmem / median peer (lower is better)", "#ff7f0e"),
    ("hakmem_vs_fewest_instructions",
     "instructions/op: hakmem / fewest peer (lower is better)", "#2ca02c"),
]


def load(path):
    with open(path) as f:
        report = json.load(f)
    if report.get("schema") != SCHEMA:
        sys.exit(f"plot_bench: {path} is not a {SCHEMA} report")
    return report


def families(experiments):
    """Family -> its experiments, in the order the families first appear."""
    out = {}
    for e in experiments:
        out.setdefault(e.get("family") or e["workload"], []).append(e)
    return out


def panel(ax, name, experiments, series):
    width = 0.8 / len(series)
    top = 1.0
    for i, (key, label, colour) in enumerate(series):
        xs, ys = [], []
        for j, e in enumerate(experiments):
            value = e["summary"].get(key)
            if value:
                xs.append(j - 0.4 + width * (i + 0.5))
                ys.append(value)
        ax.bar(xs, ys, width, color=colour, label=label)
        top = max([top] + ys)
        if key == "hakmem_vs_best_rate":
            for x, y, e in zip(xs, ys, [e for e in experiments if e["summary"].get(key)]):
                ax.annotate(f"{y:.2f}\n{e['summary']['best_peer']}", (x, y), ha="center",
                            va="bottom", fontsize=6)
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.set_title(name, fontsize=10)
    ax.set_xticks(range(len(experiments)))
    ax.set_xticklabels([e["name"] for e in experiments], rotation=30, ha="right", fontsize=7)
    ax.set_xlim(-0.6, len(experiments) - 0.4)
    ax.set_ylim(0, top * 1.25)
    ax.grid(axis="y", alpha=0.3)


def title(report):
    host = report.get("host", {})
    commit = host.get("hakmem_commit", "unknown")
    if commit != "unknown":
        commit = commit[:12] + ("-dirty" if commit.endswith("-dirty") else "")
    return (f"hakmem head to head: {host.get('cpu_model', '?')}, {host.get('cpus', '?')} CPUs, "
            f"Linux {host.get('kernel', '?')}, glibc {host.get('glibc', '?')}; "
            f"hakmem {commit}; {report['rounds']} interleaved round(s), medians")


def main(argv):
    if len(argv) != 3:
        sys.exit(__doc__)
    report = load(argv[1])
    if not report["experiments"]:
        sys.exit("plot_bench: the report has no experiments")
    groups = families(report["experiments"])
    series = [s for s in SERIES
              if any(e["summary"].get(s[0]) for e in report["experiments"])] or SERIES[:1]
    cols = min(3, len(groups))
    rows = math.ceil(len(groups) / cols)
    header = 0.55  # inches above the panels for the title and the legend
    height = 3.4 * rows + header
    fig, axes = plt.subplots(rows, cols, figsize=(5.5 * cols, height), squeeze=False)
    for ax, (name, experiments) in zip(axes.flat, groups.items()):
        panel(ax, name, experiments, series)
    for ax in list(axes.flat)[len(groups):]:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.suptitle(title(report), fontsize=10, y=1 - 0.08 / height, va="top")
    fig.legend(handles, labels, loc="upper center", ncol=len(series), fontsize=8,
               bbox_to_anchor=(0.5, 1 - 0.32 / height), frameon=False)
    fig.tight_layout(rect=(0, 0, 1, 1 - header / height))
    fig.savefig(argv[2], dpi=110)
    print(f"plot_bench: wrote {argv[2]}", file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv)
