#!/usr/bin/python3
"""A/B of hakmem settings: one workload under LD_PRELOAD=libhakmem.so, with two
(or more) sets of environment variables, interleaved (A B C, B C A, ...), medians.

Usage:
  /usr/bin/python3 tools/ab_env.py [--rounds 9] [--lib PATH] [--bin PATH] \
      --variant learn0:HAKMEM_LEARN=0 --variant learn1:HAKMEM_LEARN=1 \
      [--markdown OUT.md] -- --workload=mid --threads=1 --seconds=2

Each variant is NAME:VAR=VALUE[,VAR=VALUE...]; the pseudo-variable `lib` picks
another build of libhakmem.so for that variant (A/B of two commits:
--variant before:lib=/tmp/old/libhakmem.so --variant after:). Everything after `--` goes to
the workload program (bench/workload, bench/README.md). `{round}` in a value is
replaced by the round number (e.g. HAKMEM_LEARN_LOG=/tmp/learn_{round}.csv).
Each run must report status=ok with malloc resolved to the preloaded library,
or the tool stops. As in the runner (bench/README.md, "Steal time"), a run during
which the hypervisor stole more than --max_steal of the machine's CPU time is run
again, at most twice, and the least-stolen run counts. Besides the medians, the
table gives the median of the per-round ratios to the first variant ("paired"):
rounds run minutes apart on a VM whose speed drifts, and a ratio within one round
cancels the drift that a ratio of medians keeps. With 6 rounds or more (9 by
default) it also gives an interval that holds that median with probability 95 %
or more, and a verdict: > or < when the interval leaves out 1, ~ when it holds
it (median_interval: order statistics of the rounds' ratios; it assumes only
rounds independent of each other around one median, which a drift between the
VM's fast and slow modes can break; 6 - 8 rounds give their whole range). Two
builds of the same commit, 6 rounds of xthread_2t: paired 1.047x, interval
0.959 - 1.071, ~. Peak RSS is the child's own
VmHWM (self_peak_rss_kib in its result line; it agrees with the runner's wait4
figure within a few hundred KiB). The head-to-head runner (bench/runner)
compares allocators; this compares settings of one allocator.
"""

import argparse
import math
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def parse_variant(text):
    name, _, assignments = text.partition(":")
    env = {}
    for a in filter(None, assignments.split(",")):
        key, _, value = a.partition("=")
        env[key] = value
    return name, env


def median_interval(values):
    """An interval that holds the median of the distribution `values` come
    from with probability 95 % or more: the k-th smallest and the k-th
    largest, for the largest k at which each tail misses it with probability
    at most 2.5 % (the count of values below the median is binomial, if the
    values are independent draws around one median; bench/runner's
    MedianInterval is the same). None for fewer than 6 values, where no such
    interval reaches 95 %."""
    n = len(values)
    tail = 0.025
    k = 0
    below = 0.0  # P(at most j of n values fall below the median)
    for j in range(n + 1):
        below += math.comb(n, j) / 2**n
        if below > tail:
            break
        k = j + 1
    if k == 0:
        return None
    ordered = sorted(values)
    return ordered[k - 1], ordered[n - k]


def verdict(interval):
    """'>' or '<' when a ratio's interval leaves out 1, '~' when it holds it."""
    if interval is None:
        return ""
    low, high = interval
    return ">" if low > 1 else "<" if high < 1 else "~"


def stolen_seconds():
    """Steal time of all CPUs since boot (/proc/stat's "cpu" line, 8th number)."""
    with open("/proc/stat") as f:
        fields = f.readline().split()
    return int(fields[8]) / os.sysconf("SC_CLK_TCK") if len(fields) > 8 else 0.0


def run_least_stolen(lib, binary, args, env_extra, rnd, max_steal):
    best = None
    for _ in range(3):
        before = stolen_seconds()
        ops, rss, wall = run_once(lib, binary, args, env_extra, rnd)
        share = (stolen_seconds() - before) / (wall * os.cpu_count())
        if best is None or share < best[3]:
            best = (ops, rss, wall, share)
        if share <= max_steal:
            break
    return best


def run_once(lib, binary, args, env_extra, rnd):
    env = dict(os.environ)
    for k, v in env_extra.items():
        env[k] = v.replace("{round}", str(rnd))
    lib = os.path.realpath(env.pop("lib", lib))
    env["LD_PRELOAD"] = lib
    start = time.monotonic()
    proc = subprocess.Popen([binary] + args, env=env, stdout=subprocess.PIPE, text=True)
    out, _ = proc.communicate()
    wall = time.monotonic() - start
    fields = {}
    for line in out.splitlines():
        if line.startswith("hakmem_bench_result "):
            for kv in line.split()[1:]:
                k, _, v = kv.partition("=")
                fields[k] = v
    if fields.get("status") != "ok" or proc.returncode != 0:
        sys.exit(f"ab_env: run failed (exit {proc.returncode}): {out}")
    if os.path.realpath(fields.get("malloc_lib", "")) != os.path.realpath(lib):
        sys.exit(f"ab_env: malloc resolved to {fields.get('malloc_lib')}, not {lib}")
    return float(fields["ops_per_sec"]), int(fields["self_peak_rss_kib"]), wall


def main():
    argv = sys.argv[1:]
    workload_args = []
    if "--" in argv:
        i = argv.index("--")
        argv, workload_args = argv[:i], argv[i + 1:]
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=9)
    p.add_argument("--lib", default=os.path.join(ROOT, "bazel-bin/preload/libhakmem.so"))
    p.add_argument("--bin", default=os.path.join(ROOT, "bazel-bin/bench/workload"))
    p.add_argument("--variant", action="append", required=True)
    p.add_argument("--markdown", default="")
    p.add_argument("--max_steal", type=float, default=0.05)
    a = p.parse_args(argv)
    variants = [parse_variant(v) for v in a.variant]
    lib = os.path.realpath(a.lib)
    results = {name: [] for name, _ in variants}
    for rnd in range(1, a.rounds + 1):
        # Round r starts at variant (r - 1) mod n (A B C, B C A, ...; two
        # variants: A B, B A): none always takes a round's first run
        # (bench/runner does the same).
        start = (rnd - 1) % len(variants)
        for name, env in variants[start:] + variants[:start]:
            ops, rss, wall, share = run_least_stolen(lib, a.bin, workload_args, env, rnd, a.max_steal)
            results[name].append((ops, rss))
            print(f"[{rnd}/{a.rounds}] {name:12s} {ops / 1e6:9.3f} Mops/s {rss / 1024:8.1f} MiB "
                  f"({wall:.1f} s, steal {100 * share:.0f}%)", file=sys.stderr)
    base_name = variants[0][0]
    base_ops = statistics.median(o for o, _ in results[base_name])
    base_rss = statistics.median(r for _, r in results[base_name])
    lines = [
        "workload: `" + " ".join(workload_args) + f"`, {a.rounds} interleaved rounds, medians",
        "",
        "| variant | env | Mops/s median | min | max | peak RSS MiB (median) | ops/s vs "
        + base_name + " | paired | paired 95 % | RSS vs " + base_name + " |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|---:|",
    ]
    for name, env in variants:
        ops = [o for o, _ in results[name]]
        rss = [r for _, r in results[name]]
        med_ops = statistics.median(ops)
        med_rss = statistics.median(rss)
        ratios = [o / b for (o, _), (b, _) in zip(results[name], results[base_name])]
        paired = statistics.median(ratios)
        interval = median_interval(ratios) if name != base_name else None
        interval_text = f"{verdict(interval)} {interval[0]:.3f} - {interval[1]:.3f}" if interval else ""
        env_text = " ".join(f"{k}={v}" for k, v in env.items())
        lines.append(
            f"| {name} | `{env_text}` | {med_ops / 1e6:.3f} | {min(ops) / 1e6:.3f} | {max(ops) / 1e6:.3f} "
            f"| {med_rss / 1024:.1f} | {med_ops / base_ops:.3f}x | {paired:.3f}x | {interval_text} "
            f"| {med_rss / base_rss:.3f}x |")
    text = "\n".join(lines) + "\n"
    print(text)
    if a.markdown:
        with open(a.markdown, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
