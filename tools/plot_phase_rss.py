#!/usr/bin/python3
"""RSS over time of the phase workload (1 s builds, 1.5 s lulls, 2 threads) under
hakmem with its defaults, hakmem with HAKMEM_LEARN=1 and the peers, sampled every
50 ms by the workload itself (--rss_trace), as one PNG and a markdown table.

Build first, from the checkout:
    bazel build //bench:workload //preload:libhakmem.so

Usage:
    /usr/bin/python3 tools/plot_phase_rss.py OUT.png [--rounds N] [--seconds S]
        [--phase_ms MS] [--peers mimalloc,jemalloc,tcmalloc,glibc]

Every configuration runs --rounds times, interleaved; the table gives medians
(M ops/s, peak RSS, RSS late in the lulls: the workload's quiet_rss_kib). The
chart shows each configuration's first round. The chart's lines are hakmem
(defaults), hakmem (learner) and the peer with the lowest median quiet-phase RSS
among mimalloc, jemalloc and tcmalloc (the fast peers; glibc is in the table).
Runs with Debian's /usr/bin/python3 and python3-matplotlib.
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after the backend is chosen)

LIB = "/usr/lib/x86_64-linux-gnu/"
PEERS = {
    "glibc": "",
    "mimalloc": LIB + "libmimalloc.so.2",
    "jemalloc": LIB + "libjemalloc.so.2",
    "tcmalloc": LIB + "libtcmalloc_minimal.so.4",
}
FAST_PEERS = ("mimalloc", "jemalloc", "tcmalloc")


def run(workload, preload, env_extra, args, trace):
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    if preload:
        env["LD_PRELOAD"] = preload
    env.update(env_extra)
    out = subprocess.run([workload] + args + ["--rss_trace=" + trace], env=env,
                         capture_output=True, text=True, check=True).stdout
    fields = dict(kv.split("=", 1) for kv in out.split()[1:] if "=" in kv)
    if fields.get("status") != "ok":
        sys.exit("plot_phase_rss: a run failed: " + out)
    with open(trace) as f:
        samples = [(float(ms) / 1000, int(kib) / 1024) for ms, kib, _ in
                   (line.split() for line in f)]
    return {
        "mops": float(fields["ops_per_sec"]) / 1e6,
        "peak": int(fields["self_peak_rss_kib"]) / 1024,
        "quiet": int(fields["quiet_rss_kib"]) / 1024,
        "samples": samples,
    }


def main():
    p = argparse.ArgumentParser()
    p.add_argument("out")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--seconds", type=float, default=10)
    p.add_argument("--phase_ms", type=int, default=1000)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--peers", default="mimalloc,jemalloc,tcmalloc,glibc")
    p.add_argument("--workload", default="bazel-bin/bench/workload")
    p.add_argument("--hakmem", default="bazel-bin/preload/libhakmem.so")
    a = p.parse_args()
    hakmem = os.path.realpath(a.hakmem)
    configs = [("hakmem", hakmem, {}), ("hakmem, HAKMEM_LEARN=1", hakmem, {"HAKMEM_LEARN": "1"})]
    configs += [(name, PEERS[name], {}) for name in a.peers.split(",") if name]
    args = ["--workload=phase", "--threads=%d" % a.threads, "--seconds=%g" % a.seconds,
            "--phase_ms=%d" % a.phase_ms]
    results = {name: [] for name, _, _ in configs}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(a.rounds):
            for name, lib, env in configs:
                print("[round %d] %s" % (r + 1, name), file=sys.stderr)
                results[name].append(run(a.workload, lib, env, args, os.path.join(tmp, "t")))

    def med(name, key):
        return statistics.median(x[key] for x in results[name])

    print("| allocator | M ops/s | peak RSS MiB | RSS late in the lulls MiB |")
    print("|---|---:|---:|---:|")
    for name, _, _ in configs:
        print("| %s | %.1f | %.1f | %.1f |" % (name, med(name, "mops"), med(name, "peak"),
                                               med(name, "quiet")))
    fast = [n for n in FAST_PEERS if n in results]
    leanest = min(fast, key=lambda n: med(n, "quiet")) if fast else None

    fig, ax = plt.subplots(figsize=(10, 4.5))
    for name, colour in (("hakmem", "#1f77b4"), ("hakmem, HAKMEM_LEARN=1", "#2ca02c"),
                         (leanest, "#d62728")):
        if name is None:
            continue
        t, rss = zip(*results[name][0]["samples"])
        ax.plot(t, rss, label=name, color=colour, linewidth=1.4)
    half = a.phase_ms / 2000
    cycle = 10 * half
    t = 0.0
    while t < a.seconds:  # shade the lulls: 1.5 phase_ms after each 1 phase_ms build
        for start in (2 * half, 7 * half):
            ax.axvspan(t + start, min(t + start + 3 * half, a.seconds), color="#eeeeee", zorder=0)
        t += cycle
    ax.set_xlabel("seconds since the start (grey: lulls, a few KiB of 1-2 KiB blocks live)")
    ax.set_ylabel("RSS (MiB), sampled every 50 ms")
    ax.set_title("phase workload, %d threads, builds %.1f s / lulls %.1f s" %
                 (a.threads, a.phase_ms / 1000, 1.5 * a.phase_ms / 1000))
    ax.legend(loc="upper right")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(a.out, dpi=100)
    print("\nplot_phase_rss: wrote %s (leanest fast peer: %s)" % (a.out, leanest), file=sys.stderr)


if __name__ == "__main__":
    main()
