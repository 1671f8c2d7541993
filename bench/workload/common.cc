#include "bench/workload/common.h"

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

}  // namespace hakmem_bench
