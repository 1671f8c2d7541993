// The soak's RSS rule (tests/soak.h), a pure function of the RSS samples.
//
// The live set is bounded and constant in expectation (fixed slots per band,
// fixed size distributions: soak_blocks.h), so once the allocator's caches have
// warmed up RSS levels off; growth after that is a leak, caching without bound
// or fragmentation that keeps growing.
//  - Baseline at Tb = min(20 s, run / 3), counted in operations: Tb ends when
//    the run has done Tb x the nominal rate (soak.cc), or at half the run if
//    that comes first. Warm-up is a matter of operations, not seconds: hakmem's
//    RSS on this workload rises until ~10M operations and is level from there
//    to 31M (a 150 s run), and a machine busy with other builds halves the
//    rate, which put a clock-time Tb inside the warm-up.
//  - Over the samples (every 100 ms) with [Tb / 2, Tb] worth of operations: the
//    max RSS and the max overhead, overhead = RSS - live bytes (the requested
//    bytes of every live block at that moment).
//  - Every later sample fails the run if its overhead exceeds the baseline
//    overhead by more than 10% of the baseline RSS: RSS > 1.10 x baseline RSS
//    "for the same live set", with the live set's wander (a Large block is
//    1-4 MiB, and a retiring thread frees half its blocks) taken out.
//  - Shorter runs than 60 s take the baseline inside the warm-up and get a
//    10% x 20 s / Tb allowance (20% for 30 s, 120% for 5 s): the 60 s run holds
//    the 10% line; a 5 s run catches gross growth only.
#ifndef HAKMEM_TESTS_SOAK_RSS_H_
#define HAKMEM_TESTS_SOAK_RSS_H_

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace hakmem_test::soak {

struct RssSample {
  double t;      // seconds since the start
  uint64_t ops;  // operations done so far
  size_t rss;    // bytes
  int64_t live;  // requested bytes of the live blocks
};

struct RssVerdict {
  bool judged = false;  // samples on both sides of Tb
  bool grew = false;
  double base_from = 0, base_to = 0;  // seconds
  size_t base_rss = 0, later_rss = 0;  // max RSS in the baseline window / after
  int64_t base_over = INT64_MIN, later_over = INT64_MIN;  // max overhead
  double later_over_t = 0;  // when the max overhead after Tb was seen
  double allowance = 0, limit = 0;  // fraction of base_rss; overhead limit, bytes
};

inline RssVerdict ApplyRssRule(const std::vector<RssSample>& samples, double run_seconds,
                               double nominal_ops_per_second) {
  RssVerdict v;
  const double tb_nominal = std::min(20.0, run_seconds / 3);
  const double tb_ops = tb_nominal * nominal_ops_per_second;
  double tb = run_seconds / 2;
  uint64_t nb = 0;
  for (const RssSample& s : samples) {
    nb = s.ops;
    if (static_cast<double>(s.ops) >= tb_ops || s.t >= tb) {
      tb = s.t;
      break;
    }
  }
  for (const RssSample& s : samples) {
    const int64_t over = static_cast<int64_t>(s.rss) - s.live;
    if (s.t <= tb && s.ops >= nb / 2) {
      if (v.base_rss == 0) v.base_from = s.t;
      v.base_to = s.t;
      v.base_rss = std::max(v.base_rss, s.rss);
      v.base_over = std::max(v.base_over, over);
    } else if (s.t > tb) {
      v.later_rss = std::max(v.later_rss, s.rss);
      if (over > v.later_over) v.later_over = over, v.later_over_t = s.t;
    }
  }
  v.judged = v.base_rss != 0 && v.later_over != INT64_MIN;
  v.allowance = 0.10 * std::max(1.0, 20.0 / tb_nominal);
  v.limit = static_cast<double>(v.base_over) + v.allowance * static_cast<double>(v.base_rss);
  v.grew = v.judged && static_cast<double>(v.later_over) > v.limit;
  return v;
}

}  // namespace hakmem_test::soak

#endif  // HAKMEM_TESTS_SOAK_RSS_H_
