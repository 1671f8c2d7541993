// Statistics over the runs of a head-to-head experiment.
#include <algorithm>
#include <cmath>
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

// The values of the successful runs.
template <typename Get>
std::vector<double> Collect(const AllocatorRuns& a, Get get) {
  std::vector<double> v;
  for (const auto& r : a.runs) {
    if (r.ok) v.push_back(get(r));
  }
  return v;
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

// hakmem's rate over a's, one per round in which both ran ok.
std::vector<double> PairedRateRatios(const AllocatorRuns* hakmem, const AllocatorRuns* a) {
  std::vector<double> ratios;
  if (hakmem == nullptr || a == nullptr) return ratios;
  for (const Run& h : hakmem->runs) {
    for (const Run& p : a->runs) {
      if (p.round == h.round && h.ok && p.ok && p.rate > 0) ratios.push_back(h.rate / p.rate);
    }
  }
  return ratios;
}

}  // namespace

void TakeUsage(const ChildResult& c, Run* r) {
  r->wall_s = c.wall_s;
  r->user_s = c.user_s;
  r->sys_s = c.sys_s;
  r->peak_rss_kib = c.peak_rss_kib;
}

Stat RateStat(const AllocatorRuns& a) {
  return StatOf(Collect(a, [](const Run& r) { return r.rate; }));
}

Stat RssMibStat(const AllocatorRuns& a) {
  return StatOf(Collect(a, [](const Run& r) { return static_cast<double>(r.peak_rss_kib) / 1024.0; }));
}

Stat WallStat(const AllocatorRuns& a) {
  return StatOf(Collect(a, [](const Run& r) { return r.wall_s; }));
}

Stat CpuStat(const AllocatorRuns& a) {
  return StatOf(Collect(a, [](const Run& r) { return r.user_s + r.sys_s; }));
}

Stat DetailStat(const AllocatorRuns& a, const std::string& key) {
  std::vector<double> v;
  for (const Run& r : a.runs) {
    const auto it = r.details.find(key);
    if (r.ok && it != r.details.end()) v.push_back(it->second);
  }
  return StatOf(v);
}

int FailedRuns(const AllocatorRuns& a) {
  return static_cast<int>(std::count_if(a.runs.begin(), a.runs.end(),
                                        [](const Run& r) { return !r.ok; }));
}

Comparison Compare(const Experiment& e) {
  Comparison c;
  std::vector<double> peer_rss;
  for (const auto& a : e.results) {
    if (a.allocator.subject) {
      if (RateStat(a).valid || a.instructions.valid) c.hakmem = &a;
      continue;
    }
    if (a.instructions.valid &&
        (c.fewest_instructions_peer == nullptr ||
         a.instructions.PerOp() < c.fewest_instructions_peer->instructions.PerOp())) {
      c.fewest_instructions_peer = &a;
    }
    const Stat rate = RateStat(a);
    if (!rate.valid) continue;
    if (c.best_peer == nullptr || rate.median > RateStat(*c.best_peer).median) c.best_peer = &a;
    const double rss = RssMibStat(a).median;
    peer_rss.push_back(rss);
    if (c.lowest_rss_peer == nullptr || rss < RssMibStat(*c.lowest_rss_peer).median) {
      c.lowest_rss_peer = &a;
    }
  }
  const Stat median = StatOf(peer_rss);
  c.median_peer_rss_mib = median.valid ? median.median : 0;
  return c;
}

double RateRatio(const AllocatorRuns* hakmem, const AllocatorRuns* a) {
  if (hakmem == nullptr || a == nullptr) return 0;
  const Stat h = RateStat(*hakmem), p = RateStat(*a);
  return h.valid && p.valid && p.median > 0 ? h.median / p.median : 0;
}

double PairedRateRatio(const AllocatorRuns* hakmem, const AllocatorRuns* a) {
  const Stat s = StatOf(PairedRateRatios(hakmem, a));
  return s.valid ? s.median : 0;
}

Interval MedianInterval(std::vector<double> values) {
  const size_t n = values.size();
  double below = 0;  // P(at most j of n values fall below the median)
  double choose = 1;  // n choose j
  size_t k = 0;
  for (size_t j = 0; j <= n; ++j) {
    below += std::ldexp(choose, -static_cast<int>(n));
    if (below > 0.025) break;
    k = j + 1;
    choose = choose * static_cast<double>(n - j) / static_cast<double>(j + 1);
  }
  if (k == 0) return {};
  std::sort(values.begin(), values.end());
  return {true, values[k - 1], values[n - k]};
}

Interval PairedRateInterval(const AllocatorRuns* hakmem, const AllocatorRuns* a) {
  return MedianInterval(PairedRateRatios(hakmem, a));
}

double RssRatio(const AllocatorRuns* hakmem, const AllocatorRuns* a) {
  if (hakmem == nullptr || a == nullptr) return 0;
  const Stat h = RssMibStat(*hakmem), p = RssMibStat(*a);
  return h.valid && p.valid && p.median > 0 ? h.median / p.median : 0;
}

double MedianPeerRssRatio(const Comparison& c) {
  if (c.hakmem == nullptr || c.median_peer_rss_mib <= 0) return 0;
  const Stat h = RssMibStat(*c.hakmem);
  return h.valid ? h.median / c.median_peer_rss_mib : 0;
}

double InstructionRatio(const AllocatorRuns* hakmem, const AllocatorRuns* a) {
  if (hakmem == nullptr || a == nullptr) return 0;
  const double h = hakmem->instructions.PerOp(), p = a->instructions.PerOp();
  return h > 0 && p > 0 ? h / p : 0;
}

RateDisplay DisplayOf(const std::string& metric) {
  if (metric == "ops/s") return {"Mops/s", 1e-6};
  if (metric == "requests/s") return {"kreq/s", 1e-3};
  return {metric, 1.0};
}

std::string DescribeConfig(const Experiment& e, int rounds) {
  const std::string times =
      " x " + std::to_string(rounds) + (rounds == 1 ? " round" : " rounds");
  if (e.kind == Kind::kApp) return e.app_description + ", fixed load" + times;
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
  s += times + ", touch=" + Field(e, "touch") + ", seed " + Field(e, "seed");
  if (e.workload == "larson") s += ", hand-over every " + Field(e, "larson_round_ops") + " ops";
  return s;
}

}  // namespace hakmem_bench
