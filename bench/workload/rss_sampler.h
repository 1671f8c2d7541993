// The resident set size of this process over a run, sampled every 50 ms by a
// thread of its own from the start barrier until Stop(): what a program holds
// between its peaks (the phase workload's quiet phases), which the peak RSS
// alone does not show. Reads /proc/self/statm with plain system calls.
#ifndef HAKMEM_BENCH_WORKLOAD_RSS_SAMPLER_H_
#define HAKMEM_BENCH_WORKLOAD_RSS_SAMPLER_H_

#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

#include "bench/workload/common.h"

namespace hakmem_bench {

struct RssSample {
  double ms;         // since the run's start barrier
  uint64_t rss_kib;
};

class RssSampler {
 public:
  static constexpr int kIntervalMs = 50;
  // Starts sampling once `ctl` gives the go; room for `seconds` of samples is
  // reserved now, so the sampler allocates nothing while the run is timed.
  void Start(const RunControl* ctl, double seconds);
  void Stop();
  const std::vector<RssSample>& samples() const { return samples_; }

 private:
  std::vector<RssSample> samples_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// Resident bytes of this process now, in KiB (0 if /proc is unreadable).
uint64_t CurrentRssKib();

}  // namespace hakmem_bench

#endif  // HAKMEM_BENCH_WORKLOAD_RSS_SAMPLER_H_
