#include "bench/workload/common.h"

#include <algorithm>
#include <cmath>
#include <thread>

namespace hakmem_bench {

void RunControl::StartAndTime(int n, const Config& cfg) {
  while (ready.load(std::memory_order_acquire) < n) std::this_thread::yield();
  start = Clock::now();
  go.store(true, std::memory_order_release);
  if (cfg.ops == 0) {
    std::this_thread::sleep_until(start + std::chrono::duration<double>(cfg.seconds));
    stop.store(true, std::memory_order_release);
  }
}

Outcome Collect(const RunControl& ctl, const ThreadResult* results, int n) {
  Outcome out;
  Clock::time_point last = ctl.start;
  for (int i = 0; i < n; ++i) {
    out.ops += results[i].ops;
    out.errors += results[i].errors;
    out.handoffs += results[i].handoffs;
    if (results[i].end > last) last = results[i].end;
  }
  out.elapsed_s = SecondsBetween(ctl.start, last);
  return out;
}

SkewedSizes::SkewedSizes(size_t lo, size_t hi, double shape) {
  // Quantiles of the size distribution (inverse CDF at i / kQuantiles).
  const double l = static_cast<double>(lo);
  const double h = static_cast<double>(hi);
  for (int i = 0; i <= kQuantiles; ++i) {
    const double u = static_cast<double>(i) / kQuantiles;
    const double x = shape > 0 ? l * std::pow(1 - u * (1 - std::pow(l / h, shape)), -1 / shape)
                               : l * std::pow(h / l, u);
    q_[i] = std::clamp(static_cast<size_t>(x + 0.5), lo, hi);
    if (i > 0 && q_[i] < q_[i - 1]) q_[i] = q_[i - 1];
  }
  q_[kQuantiles] = hi;
}

SpscRing::SpscRing(uint64_t limit) : limit_(limit) {
  uint64_t cap = 1;
  while (cap < limit) cap <<= 1;
  mask_ = cap - 1;
  items_ = static_cast<Block*>(calloc(cap, sizeof(Block)));
}

SpscRing::~SpscRing() { free(items_); }

}  // namespace hakmem_bench
