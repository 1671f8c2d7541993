// A program that builds its big memory in its first moments and then makes
// no more slow-path calls (it runs on its bins, or never calls malloc again)
// still gets it back by time: the decay thread starts early once hakmem has
// 32 MiB mapped (core/decay.cc), not only at a refill 250 ms after start-up.
// A binary of its own: the first allocation must come right after start-up.
#include <unistd.h>

#include <cstring>
#include <vector>

#include "core/hakmem.h"
#include "gtest/gtest.h"
#include "pools/large/large_tier.h"

namespace hakmem {
namespace {

constexpr size_t kMiB = size_t{1} << 20;

TEST(DecayEarly, BuffersFreedAtStartUpGoBackWithNoMoreCalls) {
  std::vector<void*> buffers;
  for (int i = 0; i < 6; ++i) {
    void* p = hak_alloc(8 * kMiB);
    ASSERT_NE(p, nullptr);
    std::memset(p, 1, 8 * kMiB);
    buffers.push_back(p);
  }
  for (void* p : buffers) hak_free(p);
  // The big cache keeps them for the decay time (HAKMEM_DECAY_MS, 500 ms).
  EXPECT_GE(large::GetLargeStats().cached_bytes, 40 * kMiB);
  // No call into hakmem from here on: only the decay thread can act.
  for (int waited_ms = 0; waited_ms < 5000 && large::GetLargeStats().cached_bytes != 0;
       waited_ms += 100) {
    usleep(100 * 1000);
  }
  EXPECT_EQ(large::GetLargeStats().cached_bytes, 0u);
  EXPECT_GE(large::GetLargeStats().decayed_bytes, 40 * kMiB);
}

}  // namespace
}  // namespace hakmem
