#include "sync/cache_line.h"

#include <atomic>
#include <cstdint>

#include "gtest/gtest.h"

namespace hakmem::sync {
namespace {

// Layout is the whole point of the wrapper, so it is checked at compile time.
static_assert(alignof(CacheLinePadded<char>) == kCacheLineSize);
static_assert(sizeof(CacheLinePadded<char>) == kCacheLineSize);
static_assert(sizeof(CacheLinePadded<char[65]>) == 2 * kCacheLineSize);
static_assert(sizeof(CacheLinePadded<std::atomic<uint64_t>>[2]) ==
              2 * kCacheLineSize);

TEST(CacheLinePadded, NeighboursInAnArrayDoNotShareALine) {
  CacheLinePadded<std::atomic<int>> a[3];
  for (auto& x : a) {
    auto addr = reinterpret_cast<uintptr_t>(&x.value);
    EXPECT_EQ(addr % kCacheLineSize, 0u);
  }
  a[1]->store(7);
  EXPECT_EQ((*a[1]).load(), 7);
}

}  // namespace
}  // namespace hakmem::sync
