// Test-only helpers for sync/ tests: iteration scaling under sanitizers and a
// 16-byte aligned test block. Not part of any library.
#ifndef HAKMEM_SYNC_TEST_UTIL_H_
#define HAKMEM_SYNC_TEST_UTIL_H_

#include <cstdint>

namespace hakmem::sync::testing {

// TSan slows atomics ~10x; the machines have 2 cores. Keep each test < 10 s.
#if defined(__SANITIZE_THREAD__)
inline constexpr int kScale = 1;
#else
inline constexpr int kScale = 4;
#endif

// A stand-in for an allocator's free block: the link in the first word, an id
// in the second (never touched by the lists, so tests may write it freely).
struct alignas(16) Block {
  void* link;
  uint64_t id;
};

}  // namespace hakmem::sync::testing

#endif  // HAKMEM_SYNC_TEST_UTIL_H_
