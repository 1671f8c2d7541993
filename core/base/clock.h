// A coarse monotonic clock for decisions made on slow paths (when to give
// memory back): CLOCK_MONOTONIC_COARSE is read from the vDSO, without a system
// call, at tick resolution (a few ms), which is all decay needs.
#ifndef HAKMEM_CORE_BASE_CLOCK_H_
#define HAKMEM_CORE_BASE_CLOCK_H_

#include <time.h>

#include <cstdint>

namespace hakmem {

inline uint64_t NowMs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000 + static_cast<uint64_t>(ts.tv_nsec) / 1000000;
}

}  // namespace hakmem

#endif  // HAKMEM_CORE_BASE_CLOCK_H_
