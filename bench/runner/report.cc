// Statistics over the runs of a head-to-head experiment.
#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "bench/runner/report.h"

namespace hakmem_bench {
namespace {

Stat StatOf(std::vector<double> v) {
  Stat s;
  if (v.empty()) return s;
  std::sort(v.begin(), v.end());
  s.valid = true;
  s.min = v.front();
  s.max = v.back();
  const size_t n = v.size();
  s.median = n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
  return s;
}

std::string Field(const Experiment& e, const char* key) {
  const auto it = e.config.find(key);
  return it == e.config.end() ? "?" : it->second;
}

std::string HumanBytes(const std::string& bytes) {
  char* end = nullptr;
  const unsigned long long b = strtoull(bytes.c_str(), &end, 10);
  if (end == bytes.c_str() || *end != '\0') return bytes;
  char buf[32];
  if (b >= (1ull << 20) && b % (1ull << 20) == 0) {
    snprintf(buf, sizeof buf, "%llu MiB", b >> 20);
  } else if (b >= 1024 && b % 1024 == 0) {
    snprintf(buf, sizeof buf, "%llu KiB", b >> 10);
  } else {
    snprintf(buf, sizeof buf, "%llu B", b);
  }
  return buf;
}

}  // namespace

Stat OpsStat(const AllocatorRuns& a) {
  std::vector<double> v;
  for (const auto& r : a.runs) {
    if (r.ok) v.push_back(r.ops_per_sec);
  }
  return StatOf(std::move(v));
}

Stat RssMibStat(const AllocatorRuns& a) {
  std::vector<double> v;
  for (const auto& r : a.runs) {
    if (r.ok) v.push_back(static_cast<double>(r.peak_rss_kib) / 1024.0);
  }
  return StatOf(std::move(v));
}

int FailedRuns(const AllocatorRuns& a) {
  return static_cast<int>(std::count_if(a.runs.begin(), a.runs.end(),
                                        [](const Run& r) { return !r.ok; }));
}

Comparison Compare(const Experiment& e) {
  Comparison c;
  for (const auto& a : e.results) {
    const Stat ops = OpsStat(a);
    if (!ops.valid) continue;
    if (a.allocator.subject) {
      c.hakmem = &a;
      continue;
    }
    if (c.best_peer == nullptr || ops.median > OpsStat(*c.best_peer).median) c.best_peer = &a;
    if (c.lowest_rss_peer == nullptr ||
        RssMibStat(a).median < RssMibStat(*c.lowest_rss_peer).median) {
      c.lowest_rss_peer = &a;
    }
  }
  return c;
}

double OpsRatio(const AllocatorRuns* hakmem, const AllocatorRuns* a) {
  if (hakmem == nullptr || a == nullptr) return 0;
  const Stat h = OpsStat(*hakmem), p = OpsStat(*a);
  return h.valid && p.valid && p.median > 0 ? h.median / p.median : 0;
}

double RssRatio(const AllocatorRuns* hakmem, const AllocatorRuns* a) {
  if (hakmem == nullptr || a == nullptr) return 0;
  const Stat h = RssMibStat(*hakmem), p = RssMibStat(*a);
  return h.valid && p.valid && p.median > 0 ? h.median / p.median : 0;
}

std::string DescribeConfig(const Experiment& e, int rounds) {
  std::string s = e.workload + ", " + std::to_string(e.threads) +
                  (e.threads == 1 ? " thread, " : " threads, ") +
                  HumanBytes(Field(e, "min_size")) + " .. " + HumanBytes(Field(e, "max_size")) +
                  ", " + Field(e, "slots") +
                  (e.workload == "xthread" ? " queued/direction, " : " slots/thread, ");
  const std::string ops_limit = Field(e, "ops_limit");
  if (ops_limit != "0" && ops_limit != "?") {
    s += ops_limit + " ops/thread";
  } else {
    s += Field(e, "seconds") + " s";
  }
  s += " x " + std::to_string(rounds) + (rounds == 1 ? " round" : " rounds") +
       ", touch=" + Field(e, "touch") + ", seed " + Field(e, "seed");
  if (e.workload == "larson") s += ", hand-over every " + Field(e, "larson_round_ops") + " ops";
  return s;
}

}  // namespace hakmem_bench
