// Memory goes back to the OS measurably: resident set size falls after large
// and small frees on malloc_trim (decay_test: by time).
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <vector>

#include "core/hakmem.h"
#include "gtest/gtest.h"
#include "tests/resident_memory.h"

namespace hakmem {
namespace {

constexpr size_t kMiB = size_t{1} << 20;

using test::ResidentBytes;

// How much RSS fell from `high` to `low` (negative if it grew).
long long DroppedBy(size_t high, size_t low) {
  return static_cast<long long>(high) - static_cast<long long>(low);
}

TEST(Rss, ALargeFreeGoesBackOnTrim) {
  // A freed big buffer stays in the big cache for reuse (up to
  // HAKMEM_LARGE_CACHE_BYTES, for HAKMEM_DECAY_MS); malloc_trim gives it back.
  const size_t kBytes = 24 * kMiB;
  char* p = static_cast<char*>(hak_alloc(kBytes));
  ASSERT_NE(p, nullptr);
  std::memset(p, 1, kBytes);
  const size_t high = ResidentBytes();
  hak_free(p);
  hak_trim(0);
  const size_t low = ResidentBytes();
  EXPECT_GT(DroppedBy(high, low), static_cast<long long>(20 * kMiB))
      << "high " << high << " low " << low;
}

TEST(Rss, DropsAfterSmallFreesAndTrim) {
  std::vector<void*> blocks;
  const size_t kBlock = 512;
  for (size_t i = 0; i < 128 * kMiB / kBlock; ++i) {
    void* p = hak_alloc(kBlock);
    ASSERT_NE(p, nullptr);
    std::memset(p, 2, kBlock);
    blocks.push_back(p);
  }
  const size_t high = ResidentBytes();
  for (void* p : blocks) hak_free(p);
  hak_trim(0);
  const size_t low = ResidentBytes();
  EXPECT_GT(DroppedBy(high, low), static_cast<long long>(100 * kMiB))
      << "high " << high << " low " << low;
}

}  // namespace
}  // namespace hakmem
