// The Large tier on its own: mappings of the requested size and alignment,
// the big cache (reuse, "known zero" only for fresh memory, trim), in-place
// resizing bounds, and double/interior frees reported instead of acted on.
#include "pools/large/large_tier.h"

#include <chrono>
#include <cstdio>
#include <cstring>
#include <thread>
#include <vector>

#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "core/base/clock.h"
#include "core/base/config.h"
#include "core/base/invalid_free.h"
#include "core/base/os.h"
#include "core/base/range_map.h"
#include "core/base/size_classes.h"
#include "gtest/gtest.h"
#include "tests/resident_memory.h"

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

TEST(LargeTier, ResizeInPlaceShrinksIntoTheCacheAndGrowsIntoAFreeNeighbour) {
  Trim();
  bool zeroed;
  char* p = static_cast<char*>(Alloc(8 * kMiB, 0, &zeroed));
  LargeBlock* b = BlockOf(p);
  EXPECT_TRUE(ResizeInPlace(b, 3 * kMiB));  // the last 4 MiB go to the cache
  EXPECT_EQ(b->map_size, 4 * kMiB);
  EXPECT_EQ(GetLargeStats().cached_bytes, 4 * kMiB);
  EXPECT_TRUE(ResizeInPlace(b, 7 * kMiB));  // and come back
  EXPECT_EQ(b->map_size, 8 * kMiB);
  EXPECT_GE(b->usable, 7 * kMiB);
  EXPECT_FALSE(ResizeInPlace(b, 30 * kMiB));  // nothing free behind it
  Free(b, p);
  Trim();
}

TEST(LargeTier, AFreeRangeIsSplitForASmallerRequestAndMergedBack) {
  Trim();
  bool zeroed;
  char* p = static_cast<char*>(Alloc(24 * kMiB, 0, &zeroed));
  Free(BlockOf(p), p);
  char* q = static_cast<char*>(Alloc(13 * kMiB, 0, &zeroed));
  ASSERT_EQ(q, p);
  EXPECT_FALSE(zeroed);
  EXPECT_EQ(BlockOf(q)->map_size, 14 * kMiB);
  // The other 10 MiB are a free range of their own, and serve the next request.
  char* r = static_cast<char*>(Alloc(9 * kMiB, 0, &zeroed));
  EXPECT_EQ(r, q + 14 * kMiB);
  Free(BlockOf(q), q);
  Free(BlockOf(r), r);
  // Both freed: one range again, which serves a request of the whole.
  EXPECT_EQ(GetLargeStats().cached_bytes, 24 * kMiB);
  char* whole = static_cast<char*>(Alloc(24 * kMiB, 0, &zeroed));
  EXPECT_EQ(whole, p);
  Free(BlockOf(whole), whole);
  Trim();
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

// Expects the range map to hold the entries of [base, base + bytes)'s ends
// (its first 64 KiB and its last 2 MiB unit's first), both naming `b`, and
// none inside; RangeAround finds b from every unit of it.
void ExpectEnds(char* base, size_t bytes, LargeBlock* b) {
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->base, base);
  EXPECT_EQ(b->map_size, bytes);
  for (size_t off = 0; off < bytes; off += kUnitSize) {
    const uintptr_t e = RangeMap::Lookup(base + off);
    if (off == 0 || off == bytes - 2 * kMiB) {
      EXPECT_EQ(RangeMap::KindOf(e), RangeKind::kLarge) << off;
      EXPECT_EQ(RangeMap::MetaOf<LargeBlock>(e), b) << off;
    } else {
      EXPECT_EQ(e, 0u) << off;
    }
    EXPECT_EQ(RangeAround(base + off + 100), b) << off;
  }
}

// The range map knows a Large range by its ends: a block's, the tail a
// request split off a cached range, the range two neighbours merged into,
// and a block of more than the 4 GiB one leaf of the map covers.
TEST(LargeTier, TheRangeMapHoldsARangesEndsThroughSplitsAndMerges) {
  Trim();
  bool zeroed;
  constexpr size_t kBytes = 64 * kMiB;
  char* p = static_cast<char*>(Alloc(kBytes - 4096, 0, &zeroed));
  ASSERT_NE(p, nullptr);
  ExpectEnds(p, kBytes, BlockOf(p));
  Free(BlockOf(p), p);
  char* head = static_cast<char*>(Alloc(10 * kMiB, 0, &zeroed));
  ASSERT_EQ(head, p);  // split off the cached range
  ExpectEnds(p, 10 * kMiB, BlockOf(p));
  ExpectEnds(p + 10 * kMiB, kBytes - 10 * kMiB, BlockOf(p + 10 * kMiB));
  Free(BlockOf(head), head);  // merged with the tail again
  ExpectEnds(p, kBytes, BlockOf(p));
  Trim();
  EXPECT_EQ(RangeMap::Lookup(p), 0u);
  EXPECT_EQ(RangeMap::Lookup(p + kBytes - 2 * kMiB), 0u);
  EXPECT_EQ(RangeAround(p + kBytes / 2), nullptr);

  constexpr size_t kHuge = size_t{6} << 30;  // its ends in different leaves
  char* huge = static_cast<char*>(Alloc(kHuge, 0, &zeroed));
  if (huge == nullptr) GTEST_SKIP() << "no 6 GiB of address space";
  EXPECT_EQ(RangeMap::MetaOf<LargeBlock>(RangeMap::Lookup(huge + kHuge - 2 * kMiB)), BlockOf(huge));
  EXPECT_EQ(RangeMap::Lookup(huge + kHuge / 2), 0u);
  EXPECT_EQ(RangeAround(huge + kHuge - 1), BlockOf(huge));
  Free(BlockOf(huge), huge);
  Trim();
}

// A thread's own ranges (ThreadRanges): a range it freed comes back to it for
// a request of that size without the big cache; one more than the slots hold
// displaces the oldest into the big cache; a second free of a range held
// there is reported and hands nothing out twice; a range that is too big, or
// a request of another size, goes through the big cache; and TakeThreadRanges
// with ReturnRanges give them all to the big cache.
TEST(LargeTier, AThreadsOwnRangesComeBackWithoutTheBigCache) {
  static_assert(ThreadRanges::kSlots == 2, "the displacement below names slot 0's range");
  Trim();
  ThreadRanges mine;
  bool zeroed;
  auto alloc = [&](size_t size) { return static_cast<char*>(Alloc(size, 0, &zeroed, &mine)); };
  char* four = alloc(3 * kMiB);     // a 4 MiB range
  char* two = alloc(kMiB + 1);      // a 2 MiB range
  char* big = alloc(5 * kMiB);      // 6 MiB: beyond ThreadRanges::kMaxBytes
  Free(BlockOf(four), four, &mine);  // slot 0
  Free(BlockOf(two), two, &mine);    // slot 1
  Free(BlockOf(big), big, &mine);
  EXPECT_EQ(GetLargeStats().cached_bytes, 6 * kMiB);  // only the big one went there
  const uint64_t hits = mine.hits.load();
  EXPECT_EQ(alloc(4 * kMiB), four);
  EXPECT_FALSE(zeroed);
  EXPECT_EQ(alloc(2 * kMiB), two);
  EXPECT_EQ(mine.hits.load(), hits + 2);
  EXPECT_EQ(GetLargeStats().cached_bytes, 6 * kMiB);

  Free(BlockOf(four), four, &mine);  // slot 0
  Free(BlockOf(two), two, &mine);    // slot 1
  char* other = static_cast<char*>(Alloc(kMiB + 1, 0, &zeroed));  // not the thread's: the big cache's
  EXPECT_NE(other, two);
  const uint64_t cached_before = GetLargeStats().cached_bytes;
  Free(BlockOf(other), other, &mine);  // displaces slot 0's range
  EXPECT_EQ(GetLargeStats().cached_bytes, cached_before + 4 * kMiB);
  EXPECT_NE(RangeMap::Lookup(four), 0u);  // cached, not unmapped

  const uint64_t invalid = InvalidFreeCount();
  testing::internal::CaptureStderr();
  Free(BlockOf(two), two, &mine);  // held by the thread: free already
  testing::internal::GetCapturedStderr();
  EXPECT_EQ(InvalidFreeCount(), invalid + 1);
  char* first = alloc(2 * kMiB);
  char* second = alloc(2 * kMiB);
  char* third = alloc(2 * kMiB);  // nothing of the thread's left: the big cache's
  EXPECT_TRUE((first == two && second == other) || (first == other && second == two));
  EXPECT_NE(third, two);
  EXPECT_NE(third, other);

  for (char* p : {first, second, third}) Free(BlockOf(p), p, &mine);
  const uint64_t cached = GetLargeStats().cached_bytes;
  ReturnRanges(TakeThreadRanges(&mine));
  EXPECT_EQ(GetLargeStats().cached_bytes, cached + 2 * 2 * kMiB);
  for (const auto& slot : mine.slot) EXPECT_EQ(slot.load(), nullptr);
  Trim();
}

// A request no cached range is big enough for first moves the thread's own
// ranges (kept for requests of their own sizes) into the big cache, where
// they serve it split or gathered, rather than stay resident while fresh
// pages fault in beside them.
TEST(LargeTier, ARequestTheCacheCannotServeTakesTheThreadsRangesFirst) {
  Trim();
  ThreadRanges mine;
  bool zeroed;
  auto alloc = [&](size_t size) { return static_cast<char*>(Alloc(size, 0, &zeroed, &mine)); };
  char* four = alloc(3 * kMiB);  // a 4 MiB range
  four[0] = 'h';
  four[2 * kMiB] = 't';
  Free(BlockOf(four), four, &mine);
  ASSERT_EQ(GetLargeStats().cached_bytes, 0u);  // the thread's
  const uint64_t live = GetLargeStats().live_bytes;  // the kept range counts as live
  char* two = alloc(kMiB + 1);  // 2 MiB, another size: the head of `four`
  EXPECT_EQ(two, four);
  EXPECT_FALSE(zeroed);
  EXPECT_EQ(GetLargeStats().cached_bytes, 2 * kMiB);  // its tail
  EXPECT_EQ(GetLargeStats().live_bytes, live - 2 * kMiB);
  for (const auto& slot : mine.slot) EXPECT_EQ(slot.load(), nullptr);
  Free(BlockOf(two), two, &mine);  // kept by the thread again (2 MiB)
  char* eight = alloc(7 * kMiB);  // 8 MiB: the two ranges' pages and 4 MiB more
  EXPECT_EQ(GetLargeStats().cached_bytes, 0u);
  EXPECT_EQ(RangeMap::Lookup(four), 0u);  // its pages moved into `eight`
  EXPECT_EQ(eight[0], 'h');
  EXPECT_EQ(eight[2 * kMiB], 't');
  for (const auto& slot : mine.slot) EXPECT_EQ(slot.load(), nullptr);
  // A request the cache can serve leaves the thread's ranges alone.
  char* other = alloc(kMiB + 1);
  Free(BlockOf(other), other, &mine);  // kept (2 MiB)
  Free(BlockOf(eight), eight, &mine);  // cached (8 MiB)
  char* three = alloc(3 * kMiB);       // 4 MiB of the cached 8
  int kept = 0;
  for (const auto& slot : mine.slot) kept += slot.load() != nullptr;
  EXPECT_EQ(kept, 1);  // `other`'s range is still the thread's
  Free(BlockOf(three), three, &mine);
  ReturnRanges(TakeThreadRanges(&mine));
  Trim();
}

// The range a thread's next free displaces is the one it put in longest ago,
// also after it took one back in between; after its ranges were taken away
// (a decay pass), a request of their size goes to the big cache.
TEST(LargeTier, AThreadsNextFreeDisplacesItsOldestRange) {
  Trim();
  ThreadRanges mine;
  bool zeroed;
  auto alloc = [&](size_t size) { return static_cast<char*>(Alloc(size, 0, &zeroed, &mine)); };
  char* a = alloc(2 * kMiB);
  char* b = alloc(2 * kMiB);
  char* c = alloc(4 * kMiB);
  char* d = alloc(6 * kMiB);  // beyond kMaxBytes: a neighbour that is never the thread's
  Free(BlockOf(a), a, &mine);
  Free(BlockOf(c), c, &mine);           // a, then c
  EXPECT_EQ(alloc(2 * kMiB), a);        // a taken back: c is the oldest left
  Free(BlockOf(b), b, &mine);           // c, then b
  Free(BlockOf(a), a, &mine);           // displaces c, the oldest
  EXPECT_NE(RangeMap::Lookup(c), 0u);
  EXPECT_TRUE(BlockOf(c)->cached);      // in the big cache now
  EXPECT_FALSE(BlockOf(a)->cached);     // the thread's
  EXPECT_FALSE(BlockOf(b)->cached);
  ReturnRanges(TakeThreadRanges(&mine));  // what a decay pass does
  EXPECT_TRUE(BlockOf(a)->cached);
  EXPECT_TRUE(BlockOf(b)->cached);
  const uint64_t hits = mine.hits.load();
  char* again = alloc(2 * kMiB);
  EXPECT_EQ(mine.hits.load(), hits);    // from the big cache
  Free(BlockOf(again), again, &mine);
  Free(BlockOf(d), d, &mine);
  ReturnRanges(TakeThreadRanges(&mine));
  Trim();
}

TEST(LargeTier, ABigBufferFreedIsReusedNotFaultedInAgain) {
  Trim();
  bool zeroed;
  char* p = static_cast<char*>(Alloc(20 * kMiB, 0, &zeroed));
  std::memset(p, 1, 20 * kMiB);
  Free(BlockOf(p), p);
  EXPECT_GE(GetLargeStats().cached_bytes, 20 * kMiB);
  const uint64_t hits = GetLargeStats().cache_hits;
  char* q = static_cast<char*>(Alloc(18 * kMiB, 0, &zeroed));
  EXPECT_EQ(q, p);
  EXPECT_EQ(GetLargeStats().cache_hits, hits + 1);
  EXPECT_EQ(q[18 * kMiB - 1], 1);  // the same pages, still there
  Free(BlockOf(q), q);
  Trim();
}

// calloc of a reused range: the pages the last user never touched are not
// faulted in to be cleared (an 8 GiB block with two pages touched took 1.5 s
// and 8 GiB of RSS a calloc), and a range found all resident is cleared in
// place the next time without asking the kernel.
TEST(LargeTier, AZeroFillOfAReusedRangeFaultsInOnlyWhatWasTouched) {
  Trim();
  constexpr size_t kBytes = 64 * kMiB;
  bool zeroed;
  char* p = static_cast<char*>(Alloc(kBytes, 0, &zeroed));
  ASSERT_NE(p, nullptr);
  EXPECT_TRUE(zeroed);
  OsPreferSmallPages(p, kBytes);  // under THP "always" a touch would fault in 2 MiB
  p[0] = 1;
  p[40 * kMiB] = 2;
  Free(BlockOf(p), p);
  char* q = static_cast<char*>(Alloc(kBytes - 100, 0, &zeroed));
  ASSERT_EQ(q, p);
  EXPECT_FALSE(zeroed);
  ZeroFill(q, kBytes - 100);
  EXPECT_EQ(q[0], 0);
  EXPECT_EQ(q[40 * kMiB], 0);
  EXPECT_LE(OsResidentPages(q, kBytes), 2u);
  EXPECT_EQ(BlockOf(q)->resident_bytes, 0u);
  // Written all over: the next fill finds every page resident...
  std::memset(q, 3, kBytes);
  Free(BlockOf(q), q);
  q = static_cast<char*>(Alloc(kBytes, 0, &zeroed));
  ASSERT_EQ(q, p);
  ZeroFill(q, kBytes);
  EXPECT_EQ(BlockOf(q)->resident_bytes, kBytes);
  EXPECT_EQ(q[kBytes - 1], 0);
  // ... and the one after clears the pages in place, split or not.
  std::memset(q, 4, kBytes);
  Free(BlockOf(q), q);
  q = static_cast<char*>(Alloc(kBytes / 2, 0, &zeroed));
  ASSERT_EQ(q, p);
  EXPECT_EQ(BlockOf(q)->resident_bytes, kBytes / 2);
  ZeroFill(q, kBytes / 2);
  for (size_t off = 0; off < kBytes / 2; off += kPageSize) ASSERT_EQ(q[off], 0) << off;
  EXPECT_EQ(q[kBytes / 2 - 1], 0);
  EXPECT_EQ(q[kBytes / 2], 4);  // the rest is cached, not cleared
  Free(BlockOf(q), q);
  Trim();
}

TEST(LargeTier, GrowthElsewhereTakesTheOldestCachedRangesAndOnlyWhatItAsks) {
  Trim();
  bool zeroed;
  char* older = static_cast<char*>(Alloc(2 * kMiB, 0, &zeroed));
  char* spacer = static_cast<char*>(Alloc(2 * kMiB, 0, &zeroed));  // no merging
  char* newer = static_cast<char*>(Alloc(6 * kMiB, 0, &zeroed));
  Free(BlockOf(older), older);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));  // freed_ms apart
  Free(BlockOf(newer), newer);
  ASSERT_EQ(GetLargeStats().cached_bytes, 8 * kMiB);
  const uint64_t yielded = GetLargeStats().yielded_bytes;

  EXPECT_EQ(YieldToSlabGrowth(2 * kMiB), 2 * kMiB);
  EXPECT_EQ(RangeMap::Lookup(older), 0u);  // the oldest, unmapped whole
  EXPECT_NE(RangeMap::Lookup(newer), 0u);
  EXPECT_EQ(YieldToSlabGrowth(kMiB + 1), 2 * kMiB);  // whole units of the next one
  EXPECT_EQ(RangeMap::Lookup(newer), 0u);
  EXPECT_EQ(RangeMap::KindOf(RangeMap::Lookup(newer + 2 * kMiB)), RangeKind::kLarge);
  EXPECT_EQ(GetLargeStats().cached_bytes, 4 * kMiB);  // the rest stays for reuse
  EXPECT_EQ(YieldToSlabGrowth(16 * kMiB), 4 * kMiB);  // no more than there is
  EXPECT_EQ(GetLargeStats().cached_bytes, 0u);
  EXPECT_EQ(GetLargeStats().yielded_bytes, yielded + 8 * kMiB);
  Free(BlockOf(spacer), spacer);
  Trim();
}

TEST(LargeTier, ARequestNoFreeRangeHoldsReusesTheLargestAndFaultsOnlyTheRest) {
  Trim();
  bool zeroed;
  char* p = static_cast<char*>(Alloc(6 * kMiB, 0, &zeroed));
  std::memset(p, 0x5a, 6 * kMiB);
  Free(BlockOf(p), p);
  char* q = static_cast<char*>(Alloc(10 * kMiB, 0, &zeroed));
  ASSERT_NE(q, nullptr);
  EXPECT_FALSE(zeroed);
  EXPECT_EQ(q[0], 0x5a);              // the old pages, moved (mremap), not copied
  EXPECT_EQ(q[6 * kMiB - 1], 0x5a);
  EXPECT_EQ(q[6 * kMiB], 0);          // fresh pages after them
  EXPECT_EQ(GetLargeStats().cached_bytes, 0u);
  EXPECT_EQ(BlockOf(q)->map_size, 10 * kMiB);
  Free(BlockOf(q), q);
  Trim();
}

TEST(LargeTier, ARequestNoFreeRangeHoldsGathersSeveralWithoutFreshPages) {
  Trim();
  bool zeroed;
  // Three freed ranges kept apart by live spacers, so they cannot merge.
  std::vector<char*> freed, spacers;
  for (size_t mib : {4, 6, 4}) {
    char* p = static_cast<char*>(Alloc(mib * kMiB, 0, &zeroed));
    std::memset(p, 0x11 * static_cast<int>(freed.size() + 1), mib * kMiB);
    freed.push_back(p);
    spacers.push_back(static_cast<char*>(Alloc(2 * kMiB, 0, &zeroed)));
  }
  for (char* p : freed) Free(BlockOf(p), p);
  ASSERT_EQ(GetLargeStats().cached_bytes, 14 * kMiB);
  // 12 MiB: the 6 MiB range, a 4 MiB one and half of the other.
  char* q = static_cast<char*>(Alloc(12 * kMiB, 0, &zeroed));
  ASSERT_NE(q, nullptr);
  EXPECT_FALSE(zeroed);
  EXPECT_EQ(BlockOf(q)->map_size, 12 * kMiB);
  EXPECT_EQ(GetLargeStats().cached_bytes, 2 * kMiB);
  for (size_t off = 0; off < 12 * kMiB; off += 4096) {
    ASSERT_NE(q[off], 0) << "fresh page at " << off;  // every page moved, none faulted in
    ASSERT_EQ(RangeAround(q + off), BlockOf(q));
  }
  // The block is now several kernel mappings: moving it keeps every byte.
  for (size_t off = 0; off < 12 * kMiB; off += 4096) q[off] = static_cast<char>(off >> 12);
  LargeBlock* b = BlockOf(q);
  char* r = static_cast<char*>(Remap(b, 20 * kMiB));
  ASSERT_NE(r, nullptr);
  for (size_t off = 0; off < 12 * kMiB; off += 4096) {
    ASSERT_EQ(r[off], static_cast<char>(off >> 12)) << off;
  }
  Free(b, r);
  for (char* p : spacers) Free(BlockOf(p), p);
  Trim();
}

// The address space limited to what the process has mapped now plus
// `headroom` while it lives (RLIMIT_AS): mappings beyond fail as they do under
// `ulimit -v`, whatever the machine's overcommit policy.
class AddressSpaceLimit {
 public:
  explicit AddressSpaceLimit(size_t headroom) {
    getrlimit(RLIMIT_AS, &saved_);
    unsigned long pages = 0;
    if (FILE* f = std::fopen("/proc/self/statm", "r")) {
      if (std::fscanf(f, "%lu", &pages) != 1) pages = 0;
      std::fclose(f);
    }
    rlimit lower = saved_;
    lower.rlim_cur = pages * static_cast<size_t>(sysconf(_SC_PAGESIZE)) + headroom;
    ok_ = pages != 0 && setrlimit(RLIMIT_AS, &lower) == 0;
  }
  ~AddressSpaceLimit() { setrlimit(RLIMIT_AS, &saved_); }
  bool ok() const { return ok_; }

 private:
  rlimit saved_{};
  bool ok_ = false;
};

// A request no mapping can be had for returns nullptr and leaves the cache
// as it was: the ranges gathered to build it go back, rather than being
// unmapped with the block that could not be made. One of the cache's order
// that only their address space can make room for gets it.
TEST(LargeTier, ARequestThatCannotBeMappedLeavesTheCacheAlone) {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  // The sanitizer's runtime maps memory of its own, from its own threads too,
  // and dies when it cannot while the limit is down.
  GTEST_SKIP() << "RLIMIT_AS under a sanitizer";
#endif
  Trim();
  bool zeroed;
  // A 4 and a 6 MiB range in the cache, kept apart by live spacers.
  std::vector<char*> spacers;
  auto cache_two_ranges = [&] {
    std::vector<char*> freed;
    for (size_t mib : {4, 6}) {
      char* p = static_cast<char*>(Alloc(mib * kMiB, 0, &zeroed));
      std::memset(p, 0x5A, mib * kMiB);
      freed.push_back(p);
      spacers.push_back(static_cast<char*>(Alloc(2 * kMiB, 0, &zeroed)));
    }
    for (char* p : freed) Free(BlockOf(p), p);
  };
  cache_two_ranges();
  ASSERT_EQ(GetLargeStats().cached_bytes, 10 * kMiB);
  {
    AddressSpaceLimit limit(64 * kMiB);
    ASSERT_TRUE(limit.ok());
    EXPECT_EQ(Alloc(size_t{1} << 30, 0, &zeroed), nullptr);
  }
  EXPECT_EQ(GetLargeStats().cached_bytes, 10 * kMiB);
  // The same ranges with their pages: a request of each size takes one back,
  // its contents there.
  for (size_t mib : {6, 4}) {
    char* q = static_cast<char*>(Alloc(mib * kMiB, 0, &zeroed));
    ASSERT_NE(q, nullptr);
    EXPECT_FALSE(zeroed);
    EXPECT_EQ(q[0], 0x5A);
    EXPECT_EQ(q[mib * kMiB - 1], 0x5A);
    Free(BlockOf(q), q);
  }
  for (char* p : spacers) Free(BlockOf(p), p);
  spacers.clear();
  Trim();
  // A request of the cache's order that only its ranges' address space can
  // make room for (8 MiB to spare, 12 MiB asked): it takes that room.
  cache_two_ranges();
  ASSERT_EQ(GetLargeStats().cached_bytes, 10 * kMiB);
  {
    AddressSpaceLimit limit(8 * kMiB);
    ASSERT_TRUE(limit.ok());
    char* q = static_cast<char*>(Alloc(12 * kMiB, 0, &zeroed));
    EXPECT_NE(q, nullptr);
    if (q != nullptr) {
      q[12 * kMiB - 1] = 1;
      Free(BlockOf(q), q);
    }
  }
  for (char* p : spacers) Free(BlockOf(p), p);
  Trim();
}

// Freed ranges are kept, beyond the configured bound, while they only take the
// program back to the most it had live in Large blocks; a mapping the cache
// cannot serve (over-aligned) counts as live, so the oldest ranges go first
// and the mappings do not grow past that crest.
TEST(LargeTier, TheCacheKeepsWhatThePeakNeedsAndTheMappingsStayWithinIt) {
  Config c = GetConfig();
  c.large_cache_bytes = 16 * kMiB;
  c.decay_ms = 10000;  // no range decays by time here
  SetConfigForTesting(c);
  Trim();  // a window from nothing live
  std::vector<char*> v;
  std::vector<char*> spacers;  // live between them: the freed ranges stay apart
  bool zeroed;
  for (int i = 0; i < 6; ++i) {
    v.push_back(static_cast<char*>(Alloc(15 * kMiB, 0, &zeroed)));
    spacers.push_back(static_cast<char*>(Alloc(2 * kMiB, 0, &zeroed)));
  }
  for (char* p : v) Free(BlockOf(p), p);
  EXPECT_EQ(GetLargeStats().cached_bytes, 6 * 16 * kMiB);  // the peak's, over the bound
  for (char* p : v) EXPECT_NE(RangeMap::Lookup(p), 0u);
  const uint64_t decayed = GetLargeStats().decayed_bytes;
  char* aligned = static_cast<char*>(Alloc(64 * kMiB, 4 * kMiB, &zeroed));
  ASSERT_NE(aligned, nullptr);
  EXPECT_EQ(GetLargeStats().cached_bytes, 2 * 16 * kMiB);  // 76 live + 32 cached: the crest
  for (int i = 0; i < 4; ++i) EXPECT_EQ(RangeMap::Lookup(v[i]), 0u) << i;  // the oldest went
  for (int i = 4; i < 6; ++i) EXPECT_NE(RangeMap::Lookup(v[i]), 0u) << i;
  EXPECT_EQ(GetLargeStats().decayed_bytes, decayed);  // by the bound, not by time
  Free(BlockOf(aligned), aligned);
  for (char* p : spacers) Free(BlockOf(p), p);
  SetConfigForTesting(Config{});
  Trim();
}

// A thread taking a range from the cache gets one it freed itself (its lines
// are in this core's caches) before a newer one another thread freed.
TEST(LargeTier, AThreadGetsARangeItFreedBeforeANewerOneOfAnotherThread) {
  Trim();
  bool zeroed;
  // Spacers keep the two from merging into one range when both are free.
  char* spacers[3];
  spacers[0] = static_cast<char*>(Alloc(3 * kMiB, 0, &zeroed));
  char* mine = static_cast<char*>(Alloc(3 * kMiB, 0, &zeroed));
  spacers[1] = static_cast<char*>(Alloc(3 * kMiB, 0, &zeroed));
  char* theirs = static_cast<char*>(Alloc(3 * kMiB, 0, &zeroed));
  spacers[2] = static_cast<char*>(Alloc(3 * kMiB, 0, &zeroed));
  Free(BlockOf(mine), mine);
  std::thread([theirs] { Free(BlockOf(theirs), theirs); }).join();  // the newest
  char* got = static_cast<char*>(Alloc(3 * kMiB, 0, &zeroed));
  EXPECT_EQ(got, mine);
  char* next = static_cast<char*>(Alloc(3 * kMiB, 0, &zeroed));
  EXPECT_EQ(next, theirs);  // when none of its own is left, another's
  for (char* p : {got, next, spacers[0], spacers[1], spacers[2]}) Free(BlockOf(p), p);
  Trim();
}

// Rather than another thread's range of the size, a thread takes a larger one
// it freed itself (up to twice the size), split to fit.
TEST(LargeTier, AThreadSplitsALargerRangeOfItsOwnBeforeTakingAnothersOfTheSize) {
  Trim();
  bool zeroed;
  char* spacers[3];
  spacers[0] = static_cast<char*>(Alloc(3 * kMiB, 0, &zeroed));
  char* mine = static_cast<char*>(Alloc(4 * kMiB, 0, &zeroed));  // two units
  spacers[1] = static_cast<char*>(Alloc(3 * kMiB, 0, &zeroed));
  char* theirs = static_cast<char*>(Alloc(2 * kMiB, 0, &zeroed));  // one unit
  spacers[2] = static_cast<char*>(Alloc(3 * kMiB, 0, &zeroed));
  Free(BlockOf(mine), mine);
  std::thread([theirs] { Free(BlockOf(theirs), theirs); }).join();
  char* got = static_cast<char*>(Alloc(2 * kMiB, 0, &zeroed));
  EXPECT_EQ(got, mine);
  EXPECT_EQ(BlockOf(got)->map_size, 2 * kMiB);  // the rest went back to the cache
  for (char* p : {got, spacers[0], spacers[1], spacers[2]}) Free(BlockOf(p), p);
  Trim();
}

// Whether the kernel gives a huge page to a fault in an advised range right
// now (THP "madvise", and a free huge page to be had), tried on a mapping of
// the test's own.
bool KernelGivesHugePages() {
  if (OsHugePageMode() != HugePageMode::kOnAdvice) return false;
  char* p = static_cast<char*>(OsMapAligned(kSuperSlabSize, kSuperSlabSize));
  if (p == nullptr) return false;
  const size_t before = test::AnonHugeBytes();
  OsAdviseHuge(p, kSuperSlabSize, true);
  p[0] = 1;
  const bool huge = test::AnonHugeBytes() >= before + kSuperSlabSize;
  OsUnmap(p, kSuperSlabSize);
  return huge;
}

// A range the program keeps taking from the cache goes onto huge pages once it
// has been reused kHugeMinReuses times (by the decay thread, called here by
// hand): the kernel says so (AnonHugePages), the RSS does not grow, and it
// comes back known zero; not before, and not again once huge.
TEST(LargeTier, ARangeTheProgramKeepsReusingGoesToHugePages) {
  if (OsHugePageMode() != HugePageMode::kOnAdvice) GTEST_SKIP() << "THP is not \"madvise\" here";
  // A range about to decay (half the delay after its free, by the real
  // clock) is no candidate: a stall while the test reads /proc must not
  // make it one.
  Config c = GetConfig();
  c.decay_ms = 60000;
  SetConfigForTesting(c);
  Trim();
  bool zeroed;
  auto cycle = [&] {
    char* p = static_cast<char*>(Alloc(4 * kMiB, 0, &zeroed));
    memset(p, 7, 4 * kMiB);
    Free(BlockOf(p), p);
    return p;
  };
  char* first = cycle();
  const uint64_t later = NowMs() + kHugeQuietMs + 1;  // past any overflow of the tests before
  for (uint32_t i = 1; i < kHugeMinReuses; ++i) ASSERT_EQ(cycle(), first);
  EXPECT_EQ(MakeCachedRangesHuge(later), 0u);  // one reuse short
  ASSERT_EQ(cycle(), first);
  const size_t huge_before = test::AnonHugeBytes();
  const size_t resident_before = test::ResidentBytes();
  const uint64_t ranges_before = GetLargeStats().huge_ranges;
  const size_t made_huge = MakeCachedRangesHuge(later);
  if (made_huge == 0 && !KernelGivesHugePages()) {
    SetConfigForTesting(Config{});
    GTEST_SKIP() << "no huge page to be had now";
  }
  EXPECT_EQ(made_huge, 4 * kMiB);
  EXPECT_EQ(GetLargeStats().huge_ranges, ranges_before + 1);
  EXPECT_GE(test::AnonHugeBytes(), huge_before + 4 * kMiB);
  EXPECT_LE(test::ResidentBytes(), resident_before + 64 * 1024);  // no more resident than before
  EXPECT_EQ(MakeCachedRangesHuge(later + kHugeRetryMs), 0u);     // huge already
  char* p = static_cast<char*>(Alloc(4 * kMiB, 0, &zeroed));
  EXPECT_EQ(p, first);
  EXPECT_TRUE(zeroed);  // its old contents were dropped
  EXPECT_EQ(p[12345], 0);
  Free(BlockOf(p), p);
  SetConfigForTesting(Config{});
  Trim();
}

// A range whose pages the kernel will not drop (the program locked them: mlock)
// keeps its contents, and is not claimed to be zero.
TEST(LargeTier, ALockedRangeKeepsItsContents) {
  if (OsHugePageMode() != HugePageMode::kOnAdvice) GTEST_SKIP() << "THP is not \"madvise\" here";
  Trim();
  bool zeroed;
  char* first = nullptr;
  for (uint32_t i = 0; i < kHugeMinReuses + 1; ++i) {
    char* p = static_cast<char*>(Alloc(4 * kMiB, 0, &zeroed));
    memset(p, 7, 4 * kMiB);
    // The system call itself: the sanitizers' mlock does nothing.
    if (i == kHugeMinReuses && syscall(SYS_mlock, p, 4 * kMiB) != 0) {
      GTEST_SKIP() << "mlock refused here";
    }
    Free(BlockOf(p), p);
    if (first == nullptr) first = p;
    ASSERT_EQ(p, first);
  }
  EXPECT_EQ(MakeCachedRangesHuge(NowMs() + kHugeBackoffMs + kHugeQuietMs + 1), 0u);
  char* p = static_cast<char*>(Alloc(4 * kMiB, 0, &zeroed));
  syscall(SYS_munlock, first, 4 * kMiB);
  EXPECT_EQ(p, first);
  EXPECT_FALSE(zeroed);
  EXPECT_EQ(p[12345], 7);
  Free(BlockOf(p), p);
  Trim();
}

// Only a range all of whose pages are resident goes onto huge pages: making it
// huge must not add to the program's RSS.
TEST(LargeTier, APartlyResidentRangeStaysOnSmallPages) {
  Trim();
  bool zeroed;
  char* first = nullptr;
  for (uint32_t i = 0; i < kHugeMinReuses + 1; ++i) {
    char* p = static_cast<char*>(Alloc(4 * kMiB, 0, &zeroed));
    memset(p, 7, kMiB);  // a quarter of it
    Free(BlockOf(p), p);
    if (first == nullptr) first = p;
    ASSERT_EQ(p, first);
  }
  const size_t huge_before = test::AnonHugeBytes();
  // Past the refusal's backoff in the test before.
  EXPECT_EQ(MakeCachedRangesHuge(NowMs() + 2 * (kHugeBackoffMs + kHugeQuietMs)), 0u);
  if (OsHugePageMode() == HugePageMode::kOnAdvice) EXPECT_EQ(test::AnonHugeBytes(), huge_before);
  char* p = static_cast<char*>(Alloc(4 * kMiB, 0, &zeroed));
  EXPECT_EQ(p, first);
  EXPECT_FALSE(zeroed);
  EXPECT_EQ(p[12345], 7);  // left as it was
  Free(BlockOf(p), p);
  Trim();
}

TEST(LargeTier, CachedMappingsDecayWhenUnused) {
  Trim();
  Config c = GetConfig();
  c.decay_ms = 100;
  SetConfigForTesting(c);
  bool zeroed;
  char* p = static_cast<char*>(Alloc(4 * kMiB, 0, &zeroed));
  Free(BlockOf(p), p);
  EXPECT_GT(GetLargeStats().cached_bytes, 0u);
  usleep(300 * 1000);
  // The next Large call (any) gives back what decayed.
  char* q = static_cast<char*>(Alloc(40 * kMiB, 0, &zeroed));
  EXPECT_EQ(GetLargeStats().cached_bytes, 0u);
  EXPECT_GE(GetLargeStats().decayed_bytes, 4 * kMiB);
  Free(BlockOf(q), q);
  SetConfigForTesting(Config{});
  Trim();
}

// A decay pass with a shorter idle time (core/decay.cc, while the program
// grows elsewhere) gives back the ranges unused that long, keeps the younger.
TEST(LargeTier, ADecayPassGivesBackOnlyRangesIdleForItsTime) {
  Trim();
  Config c = GetConfig();
  c.decay_ms = 60000;  // the Large calls' own decay gives nothing back meanwhile
  SetConfigForTesting(c);
  bool zeroed;
  char* older = static_cast<char*>(Alloc(2 * kMiB, 0, &zeroed));
  char* spacer = static_cast<char*>(Alloc(2 * kMiB, 0, &zeroed));  // no merging
  char* newer = static_cast<char*>(Alloc(4 * kMiB, 0, &zeroed));
  Free(BlockOf(older), older);
  const uint64_t older_freed = NowMs();
  std::this_thread::sleep_for(std::chrono::milliseconds(60));
  Free(BlockOf(newer), newer);
  ASSERT_EQ(GetLargeStats().cached_bytes, 6 * kMiB);

  const uint64_t now = NowMs();
  Decay(now, now - older_freed);  // the older one's age, not the newer one's
  EXPECT_EQ(RangeMap::Lookup(older), 0u);
  EXPECT_NE(RangeMap::Lookup(newer), 0u);
  EXPECT_EQ(GetLargeStats().cached_bytes, 4 * kMiB);
  Decay(now, 1000 * 1000);  // nothing that young goes, whatever the bound allows
  EXPECT_EQ(GetLargeStats().cached_bytes, 4 * kMiB);
  Free(BlockOf(spacer), spacer);
  SetConfigForTesting(Config{});
  Trim();
}

TEST(LargeTier, RemapMovesThePagesWithTheirContent) {
  bool zeroed;
  char* p = static_cast<char*>(Alloc(3 * kMiB, 0, &zeroed));
  for (size_t i = 0; i < 3 * kMiB; i += 4096) p[i] = static_cast<char>(i >> 12);
  LargeBlock* b = BlockOf(p);
  char* q = static_cast<char*>(Remap(b, 30 * kMiB));
  ASSERT_NE(q, nullptr);
  EXPECT_EQ(BlockOf(q), b);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(q) % (2 * kMiB), 0u);
  EXPECT_GE(b->usable, 30 * kMiB);
  for (size_t i = 0; i < 3 * kMiB; i += 4096) ASSERT_EQ(q[i], static_cast<char>(i >> 12)) << i;
  q[30 * kMiB - 1] = 1;
  if (q != p) {
    EXPECT_NE(RangeMap::Lookup(p), RangeMap::Lookup(q));
  }
  Free(b, q);
  Trim();
}

}  // namespace
}  // namespace hakmem::large
