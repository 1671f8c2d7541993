// The Large tier on its own: mappings of the requested size and alignment,
// the big cache (reuse, "known zero" only for fresh memory, trim), in-place
// resizing bounds, and double/interior frees reported instead of acted on.
#include "pools/large/large_tier.h"

#include <cstring>

#include "core/base/invalid_free.h"
#include "core/base/os.h"
#include "core/base/range_map.h"
#include "gtest/gtest.h"

namespace hakmem::large {
namespace {

constexpr size_t kMiB = size_t{1} << 20;

LargeBlock* BlockOf(void* p) { return RangeMap::MetaOf<LargeBlock>(RangeMap::Lookup(p)); }

TEST(LargeTier, AMappingIsRegisteredPageAlignedAndUsable) {
  bool zeroed = false;
  char* p = static_cast<char*>(Alloc(3 * kMiB + 5, 0, &zeroed));
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % kPageSize, 0u);
  EXPECT_EQ(RangeMap::KindOf(RangeMap::Lookup(p)), RangeKind::kLarge);
  EXPECT_GE(BlockOf(p)->usable, 3 * kMiB + 5);
  p[3 * kMiB + 4] = 1;
  Free(BlockOf(p), p);
  Trim();
  EXPECT_EQ(RangeMap::Lookup(p), 0u);  // unmapped and unregistered
}

TEST(LargeTier, FreedMappingsAreReusedAndNotClaimedZero) {
  Trim();
  bool zeroed = false;
  char* p = static_cast<char*>(Alloc(4 * kMiB, 0, &zeroed));
  EXPECT_TRUE(zeroed);  // fresh from the OS
  std::memset(p, 0xab, 4 * kMiB);
  Free(BlockOf(p), p);
  const LargeStats before = GetLargeStats();
  char* q = static_cast<char*>(Alloc(4 * kMiB, 0, &zeroed));
  EXPECT_EQ(q, p);
  EXPECT_FALSE(zeroed);  // the program wrote it before
  EXPECT_EQ(GetLargeStats().cache_hits, before.cache_hits + 1);
  Free(BlockOf(q), q);
  EXPECT_GT(Trim(), 0u);
  EXPECT_EQ(GetLargeStats().cached_bytes, 0u);
}

TEST(LargeTier, AlignmentsBeyondTwoMegabytesAreHonoured) {
  for (size_t align : {4 * kMiB, 16 * kMiB}) {
    bool zeroed;
    void* p = Alloc(100, align, &zeroed);
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % align, 0u);
    Free(BlockOf(p), p);
  }
}

TEST(LargeTier, ResizeInPlaceStaysWithinTheMappingAndAboveAQuarter) {
  bool zeroed;
  char* p = static_cast<char*>(Alloc(kMiB + kMiB / 2, 0, &zeroed));
  LargeBlock* b = BlockOf(p);
  EXPECT_TRUE(ResizeInPlace(b, 2 * kMiB));
  EXPECT_EQ(b->usable, 2 * kMiB);
  EXPECT_FALSE(ResizeInPlace(b, 2 * kMiB + 1));  // past the mapping
  EXPECT_FALSE(ResizeInPlace(b, kMiB / 4));       // would strand most of it
  Free(b, p);
}

TEST(LargeTier, DoubleAndInteriorFreesAreReportedNotActedOn) {
  bool zeroed;
  char* p = static_cast<char*>(Alloc(5 * kMiB, 0, &zeroed));
  const uint64_t before = InvalidFreeCount();
  testing::internal::CaptureStderr();
  Free(BlockOf(p), p + 4096);
  Free(BlockOf(p), p);
  Free(BlockOf(p), p);
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_EQ(InvalidFreeCount() - before, 2u) << err;
  EXPECT_NE(err.find("double free"), std::string::npos) << err;
  Trim();
}

}  // namespace
}  // namespace hakmem::large
