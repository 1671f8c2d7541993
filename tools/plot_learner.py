#!/usr/bin/python3
"""Draws the learner's trajectories from a HAKMEM_LEARN_LOG CSV as a PNG.

Usage: /usr/bin/python3 tools/plot_learner.py LEARN.csv OUT.png [--title TEXT]
                                               [--classes 25,28,32]

Panels, against time (s):
  1. CAP of each Mid class (after each window's decision), step plot, log scale;
     releases (a quiet class's CAP dropped to the minimum) marked with x;
  2. each class's CAP hit rate per window (spans reused / spans taken; windows
     without span traffic are left out), with the target band if known;
  3. requests per window per class (what the class was doing), log scale;
  4. W_MAX in force per window, if the log has W_MAX rows (HAKMEM_WMAX_LEARN=1).
Only classes that had requests or changed CAP are drawn (or those given with
--classes). The CSV columns are described in learner/learn_log.h. Runs with
Debian's /usr/bin/python3 and python3-matplotlib.
"""

import argparse
import csv
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after the backend is chosen)


def load(path):
    cap_rows, wmax_rows = [], []
    with open(path) as f:
        for row in csv.DictReader(f):
            (cap_rows if row["kind"] == "cap" else wmax_rows).append(row)
    if not cap_rows and not wmax_rows:
        sys.exit(f"plot_learner: no rows in {path}")
    return cap_rows, wmax_rows


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("csv")
    p.add_argument("png")
    p.add_argument("--title", default="")
    p.add_argument("--classes", default="", help="comma list of class indices to draw")
    p.add_argument("--target", type=float, default=0.65, help="HAKMEM_TARGET_HIT_MID (band +-0.03)")
    a = p.parse_args()
    cap_rows, wmax_rows = load(a.csv)

    series = {}
    for r in cap_rows:
        c = int(r["class"])
        s = series.setdefault(c, {"size": int(r["class_size"]), "t": [], "cap": [], "ht": [],
                                  "hit": [], "req": [], "rel": []})
        t = int(r["time_ms"]) / 1000.0
        s["t"].append(t)
        s["cap"].append(int(r["new_cap"]))
        s["req"].append(max(int(r["requests"]), 1))
        if r["hit_rate"]:
            s["ht"].append(t)
            s["hit"].append(float(r["hit_rate"]))
        if r["decision"] == "release":
            s["rel"].append((t, int(r["new_cap"])))
    if a.classes:
        keep = {int(x) for x in a.classes.split(",")}
    else:
        keep = {c for c, s in series.items()
                if max(s["req"]) > 1 or len(set(s["cap"])) > 1}
    classes = sorted(c for c in series if c in keep)

    panels = 4 if wmax_rows else 3
    fig, axes = plt.subplots(panels, 1, figsize=(11, 2.9 * panels), sharex=True)
    cmap = plt.get_cmap("viridis")
    for i, c in enumerate(classes):
        s = series[c]
        color = cmap(i / max(len(classes) - 1, 1))
        label = f"{s['size']} B"
        axes[0].step(s["t"], s["cap"], where="post", color=color, label=label)
        for t, cap in s["rel"]:
            axes[0].plot([t], [cap], "x", color=color)
        axes[1].plot(s["ht"], s["hit"], ".-", color=color, markersize=3, linewidth=0.8)
        axes[2].plot(s["t"], s["req"], color=color, linewidth=0.8)
    axes[0].set_ylabel("CAP (idle spans)")
    axes[0].set_yscale("log")
    axes[0].legend(fontsize=7, ncol=6, loc="upper right")
    axes[1].axhspan(a.target - 0.03, a.target + 0.03, color="#d62728", alpha=0.12,
                    label=f"target {a.target:.2f} +- 0.03")
    axes[1].set_ylabel("CAP hit rate")
    axes[1].set_ylim(-0.05, 1.05)
    axes[1].legend(fontsize=7, loc="lower right")
    axes[2].set_ylabel("requests / window")
    axes[2].set_yscale("log")
    if wmax_rows:
        t = [int(r["time_ms"]) / 1000.0 for r in wmax_rows]
        w = [float(r["wmax"]) for r in wmax_rows]
        axes[3].step(t, w, where="post", color="#1f77b4")
        axes[3].set_ylabel("W_MAX (Mid)")
    axes[-1].set_xlabel("time (s)")
    fig.suptitle(a.title or f"hakmem learner: {a.csv}")
    fig.tight_layout()
    fig.savefig(a.png, dpi=110)
    print(f"plot_learner: wrote {a.png} ({len(classes)} classes)")


if __name__ == "__main__":
    main()
