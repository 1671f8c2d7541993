// A coarse monotonic clock for decisions made on slow paths (when to give
// memory back): CLOCK_MONOTONIC_COARSE is read from the vDSO, without a system
// call, at tick resolution (a few ms), which is all decay needs.
#ifndef HAKMEM_CORE_BASE_CLOCK_H_
#define HAKMEM_CORE_BASE_CLOCK_H_

#include <time.h>

#include <atomic>
#include <cstdint>

namespace hakmem {

inline uint64_t NowMs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000 + static_cast<uint64_t>(ts.tv_nsec) / 1000000;
}

// True for the one caller that moves `next_ms` from a time at or before `now`
// to now + every_ms: of any number of threads, at most one acts per period
// (decay passes, looks at idle heaps).
inline bool ClaimPeriod(std::atomic<uint64_t>& next_ms, uint64_t now, uint64_t every_ms) {
  uint64_t due = next_ms.load(std::memory_order_relaxed);
  return now >= due &&
         next_ms.compare_exchange_strong(due, now + every_ms, std::memory_order_relaxed);
}

}  // namespace hakmem

#endif  // HAKMEM_CORE_BASE_CLOCK_H_
