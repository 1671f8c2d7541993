// The Mid pool on the engine: CAP bounds the idle spans of a class (also under
// concurrent pushes), refills take a batch of spans, emptied spans are reused
// before new ones, and W_MAX borrowing stays within its bound.
#include "pools/mid/mid_pool.h"

#include <algorithm>
#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "core/base/clock.h"
#include "core/base/config.h"
#include "core/base/range_map.h"
#include "gtest/gtest.h"
#include "pools/mid/idle_spans.h"
#include "pools/mid/pool_policy.h"
#include "pools/tiny/cache_test_util.h"
#include "pools/tiny/span_source.h"
#include "pools/tiny/superslab_manager.h"

namespace hakmem::mid {
namespace {

using tiny::Slab;
using tiny::ThreadCache;

class MidPool : public testing::Test {
 protected:
  static void SetUpTestSuite() { Init(); }
  void SetUp() override { ReleaseAllIdleSpans(); }
  void TearDown() override {
    for (int c = 0; c < kNumClasses; ++c) {
      PoolPolicy::SetCap(c, TierOfClass(c) == Tier::kMid ? GetConfig().cap_mid : GetConfig().cap_large);
    }
    ReleaseAllIdleSpans();
  }
};

using tiny::cache_test::Alloc;
using tiny::cache_test::Free;
using tiny::cache_test::NewCache;

// Allocates `spans` spans' worth of class c in a fresh cache, frees them and
// drains the cache (as a thread exit does).
void Churn(int c, uint32_t spans) {
  auto cache = NewCache();
  std::vector<void*> v;
  for (uint32_t i = 0; i < spans * kClassInfo[c].capacity; ++i) v.push_back(Alloc(*cache, c));
  for (void* p : v) Free(*cache, p);
  cache->Drain();
}

TEST_F(MidPool, InstallsItsSpanSourceForMidAndL25Only) {
  EXPECT_EQ(tiny::SpanSourceFor(SizeToClass(512)), nullptr);
  EXPECT_NE(tiny::SpanSourceFor(SizeToClass(4096)), nullptr);
  EXPECT_NE(tiny::SpanSourceFor(SizeToClass(200000)), nullptr);
}

TEST_F(MidPool, CapIsClampedToTheTierRange) {
  const int c = SizeToClass(3000);
  PoolPolicy::SetCap(c, 1);
  EXPECT_EQ(PoolPolicy::Cap(c), GetConfig().cap_min_mid);
  PoolPolicy::SetCap(c, 1u << 30);
  EXPECT_EQ(PoolPolicy::Cap(c), GetConfig().cap_max_mid);
  PoolPolicy::SetCap(SizeToClass(100), 50);  // Tiny: no idle spans, ever
  EXPECT_EQ(PoolPolicy::Cap(SizeToClass(100)), 0u);
}

TEST_F(MidPool, ConcurrentPutsNeverKeepMoreThanCap) {
  const int c = SizeToClass(8192);
  PoolPolicy::SetCap(c, 8);
  // Span records only: PutIdleSpan reads the class and links the record.
  static Slab fake[4][50];
  std::atomic<uint32_t> kept{0};
  std::vector<std::thread> threads;
  for (uint32_t t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (Slab& s : fake[t]) {
        s.size_class = static_cast<uint8_t>(c);
        if (PutIdleSpan(&s, t)) kept.fetch_add(1);
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(kept.load(), 8u);
  EXPECT_EQ(IdleSpans(c), 8u);
  Slab* out[16];
  EXPECT_EQ(TakeIdleSpans(c, 0, out, 16), 8u);
  EXPECT_EQ(IdleSpans(c), 0u);
}

TEST_F(MidPool, ARefillTakesABatchOfNewSpans) {
  const int c = SizeToClass(20000);
  auto cache = NewCache();
  void* p = Alloc(*cache, c);
  EXPECT_EQ(cache->counters().spans_new[c].Read(), GetConfig().pool_refill_batch);
  Free(*cache, p);
  cache->Drain();
}

TEST_F(MidPool, EmptiedSpansAreKeptUpToCapAndReusedFirst) {
  const int c = SizeToClass(12000);
  PoolPolicy::SetCap(c, 10);
  Churn(c, 16);
  EXPECT_EQ(IdleSpans(c), 10u);
  auto cache = NewCache();
  void* p = Alloc(*cache, c);
  EXPECT_GT(cache->counters().spans_reused[c].Read(), 0u);
  EXPECT_EQ(cache->counters().spans_new[c].Read(), 0u);
  Free(*cache, p);
  cache->Drain();
}

// An idle span has no owner, in its Slab and in the range-map digest free()
// reads: a late free by its old owner must not take the owner's fast path.
TEST_F(MidPool, AnIdleSpanHasNoOwnerForTheFreeFastPath) {
  const int c = SizeToClass(12000);
  auto cache = NewCache();
  void* p = Alloc(*cache, c);
  Slab* s = RangeMap::MetaOf<Slab>(RangeMap::Lookup(p));
  EXPECT_EQ(RangeMap::UnitAliased(p).slab.owner.load(), cache.get());
  Free(*cache, p);
  const uint64_t idle = IdleSpans(c);
  cache->Drain();
  ASSERT_GT(IdleSpans(c), idle);  // the span was kept idle, its layout intact
  EXPECT_EQ(s->owner.load(), nullptr);
  for (uint32_t u = 0; u < s->units; ++u) {
    const char* unit = s->superslab->base + (size_t{s->first_unit} + u) * kUnitSize;
    EXPECT_EQ(RangeMap::UnitAliased(unit).slab.owner.load(), nullptr) << "unit " << u;
  }
}

TEST_F(MidPool, ReleaseIdleAboveKeepsExactlyWhatItIsTold) {
  const int c = SizeToClass(5000);
  Churn(c, 12);
  ASSERT_GT(IdleSpans(c), 4u);
  const uint64_t before = IdleSpans(c);
  EXPECT_EQ(ReleaseIdleAbove(c, 4), before - 4);
  EXPECT_EQ(IdleSpans(c), 4u);
}

TEST_F(MidPool, BorrowingTakesALargerClassOnlyWithinWmax) {
  auto cache = NewCache();
  const int c2560 = SizeToClass(2560);
  void* big = Alloc(*cache, c2560);
  Free(*cache, big);  // a 2560-byte block now sits in the bin
  const uint64_t wmax = PoolPolicy::WmaxX100(Tier::kMid);  // 1.40 by default
  // 2000 * 1.40 >= 2560: borrowed; 1500 * 1.40 < 2560: not.
  ASSERT_GE(wmax * 2000, 2560u * 100);
  ASSERT_LT(wmax * 1500, 2560u * 100);
  EXPECT_EQ(TryBorrow(*cache, SizeToClass(1500), 1500), nullptr);
  void* p = TryBorrow(*cache, SizeToClass(2000), 2000);
  EXPECT_EQ(p, big);
  EXPECT_EQ(cache->counters().borrowed[c2560].Read(), 1u);
  EXPECT_EQ(cache->counters().borrowed_waste[c2560].Read(), 560u);
  EXPECT_EQ(TryBorrow(*cache, SizeToClass(100), 100), nullptr);  // Tiny never borrows
  Free(*cache, p);
  cache->Drain();
}

// With every larger class's bin empty, a block of the next class freed back
// to its slabs serves the miss before new memory of the class is carved.
TEST_F(MidPool, BorrowingTakesTheNextClassesFreedBlocksWhenItsBinIsEmpty) {
  auto cache = NewCache();
  const int c = SizeToClass(2000);
  const int d = c + 1;
  ASSERT_LE(uint64_t{ClassSize(d)} * 100, PoolPolicy::WmaxX100(Tier::kMid) * 2000);
  EXPECT_EQ(TryBorrow(*cache, c, 2000), nullptr);  // nothing of class d anywhere
  std::vector<void*> v;
  for (int i = 0; i < 400; ++i) v.push_back(Alloc(*cache, d));
  for (void* p : v) Free(*cache, p);  // the bin keeps some, the rest go back to the slabs
  std::vector<void*> held;
  while (void* p = cache->TryPop(d)) held.push_back(p);  // bin d empty
  ASSERT_LT(held.size(), v.size());
  void* p = TryBorrow(*cache, c, 2000);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(RangeMap::MetaOf<Slab>(RangeMap::Lookup(p))->size_class, d);
  EXPECT_EQ(cache->counters().borrowed[d].Read(), 1u);
  EXPECT_EQ(cache->counters().spans_new[c].Read(), 0u);
  Free(*cache, p);
  for (void* q : held) Free(*cache, q);
  cache->Drain();
}

// A class served by borrowing gets more of the larger class's cached blocks
// with the first one, so its next requests are hits, but only where W_MAX
// holds for every request of the class (down to one byte above the class
// below), not just for the request that missed.
TEST_F(MidPool, BorrowingLendsAheadOnlyWhereWmaxHoldsForTheWholeClass) {
  const int c = SizeToClass(9000);
  ASSERT_EQ(ClassSize(c), 9216u);
  ASSERT_EQ(ClassSize(c - 1), 8192u);
  const uint64_t wmax = PoolPolicy::WmaxX100(Tier::kMid);
  for (const size_t lender_size : {size_t{10240}, size_t{12288}}) {
    const int d = SizeToClass(lender_size);
    ASSERT_EQ(ClassSize(d), lender_size);
    ASSERT_LE(lender_size * 100, wmax * 9000);  // the miss may borrow either
    const bool whole_class = lender_size * 100 <= wmax * (ClassSize(c - 1) + 1);
    EXPECT_EQ(whole_class, lender_size == 10240);
    auto cache = NewCache();
    std::vector<void*> v;
    // Within the bin's limit (two refills of 64 KiB worth: 12 and 10 blocks).
    for (int i = 0; i < 8; ++i) v.push_back(Alloc(*cache, d));
    for (void* p : v) Free(*cache, p);
    // The bin holds those and what the refills carved beyond them.
    std::vector<void*> cached;
    while (void* q = cache->TryPop(d)) cached.push_back(q);
    for (void* q : cached) Free(*cache, q);
    ASSERT_GE(cached.size(), 8u);

    void* p = TryBorrow(*cache, c, 9000);
    ASSERT_NE(p, nullptr);
    std::vector<void*> hits;
    while (void* q = cache->TryPop(c)) hits.push_back(q);
    if (whole_class) {
      // Half of what bin d held after p, at most a first refill's worth with
      // p: 7 blocks of 9216 B (64 KiB worth at most).
      EXPECT_EQ(hits.size(), std::min<size_t>((cached.size() - 1) / 2, 6));
    } else {
      EXPECT_TRUE(hits.empty());
    }
    for (void* q : hits) {
      EXPECT_EQ(RangeMap::MetaOf<Slab>(RangeMap::Lookup(q))->size_class, d);
    }
    const uint64_t lent = 1 + hits.size();
    EXPECT_EQ(cache->counters().borrowed[d].Read(), lent);
    EXPECT_EQ(cache->counters().borrowed_waste[d].Read(), lent * (lender_size - 9000));
    // What bin d kept and what was lent all go back to class d's slabs.
    Free(*cache, p);
    for (void* q : hits) Free(*cache, q);
    std::vector<void*> back;
    while (void* q = cache->TryPop(d)) back.push_back(q);
    EXPECT_EQ(back.size(), cached.size());
    for (void* q : back) Free(*cache, q);
    cache->Drain();
  }
}

// A class of one colour is popped for an aligned request with no test of the
// address (its blocks start at multiples of its size): W_MAX may let a larger
// class's blocks serve its misses (W_MAX Large raised to 1.50: 80 KiB for any
// request of the 64 KiB class), but lending them ahead into its bin would
// hand an aligned request of it an address 64 bytes past a page.
TEST_F(MidPool, LendingAheadKeepsTheAlignmentAClassOfOneColourIsPoppedFor) {
  const int c = SizeToClass(65536);
  const int d = c + 1;
  ASSERT_EQ(kClassInfo[c].colors, 1u);
  ASSERT_EQ(ClassSize(d), 81920u);
  ASSERT_GT(kClassInfo[d].colors, 1u);
  PoolPolicy::SetWmaxX100(Tier::kL25, 150);
  ASSERT_LE(uint64_t{ClassSize(d)} * 100, 150 * (uint64_t{ClassSize(c - 1)} + 1));
  auto cache = NewCache();
  // Big blocks allocated fast: the bins keep them (and have room to lend to).
  uint64_t now = 1000;
  cache->Upkeep(now, 1000, uint64_t{4} << 20);
  const uint64_t window = ThreadCache::kBigRateWindowMs;
  for (uint64_t i = 0; i < 2 * ThreadCache::kBigBinPopsPerMs * window; ++i) {
    Free(*cache, Alloc(*cache, c));
    Free(*cache, Alloc(*cache, d));
  }
  now += window;
  cache->Upkeep(now, 1000, uint64_t{4} << 20);
  std::vector<void*> v;
  for (int i = 0; i < 12; ++i) v.push_back(Alloc(*cache, d));
  for (int i = 0; i < 12; ++i) v.push_back(Alloc(*cache, c));
  for (void* q : v) Free(*cache, q);
  std::vector<void*> own;  // bin c empty, bin d full
  while (void* q = cache->TryPop(c)) own.push_back(q);
  void* p = TryBorrow(*cache, c, 60000);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(RangeMap::MetaOf<Slab>(RangeMap::Lookup(p))->size_class, d);  // the miss itself
  std::vector<void*> lent;
  while (void* q = cache->TryPop(c)) {
    EXPECT_EQ(reinterpret_cast<uintptr_t>(q) % 4096, 0u) << "a block of bin " << c << " not page-aligned";
    lent.push_back(q);
  }
  Free(*cache, p);
  for (void* q : lent) Free(*cache, q);
  for (void* q : own) Free(*cache, q);
  cache->Drain();
  PoolPolicy::SetWmaxX100(Tier::kL25, GetConfig().wmax_large);
}

// A class that lives on a larger class's blocks (their frees go back to the
// lender's bin, so its own bin keeps running dry) gets more of them with each
// borrow, as refills grow: lends of a first refill's worth each time made
// phase_1t's lulls (1 - 2 KiB blocks, the 2304-byte bin full from the 2 - 8
// KiB build before) borrow, and try a refill first, every eighth request.
TEST_F(MidPool, AClassLivingOnBorrowedBlocksGetsMoreWithEachBorrow) {
  const int c = SizeToClass(2000);
  const int d = c + 1;
  ASSERT_LE(uint64_t{ClassSize(d)} * 100,
            PoolPolicy::WmaxX100(Tier::kMid) * (ClassSize(c - 1) + 1));  // lends ahead
  auto cache = NewCache();
  std::vector<void*> v;
  for (int i = 0; i < 120; ++i) v.push_back(Alloc(*cache, d));
  for (void* p : v) Free(*cache, p);  // bin d holds them (its limit: 192)
  std::vector<size_t> lends;
  for (int borrow = 0; borrow < 3; ++borrow) {
    void* p = TryBorrow(*cache, c, 2000);
    ASSERT_NE(p, nullptr);
    std::vector<void*> lent{p};
    while (void* q = cache->TryPop(c)) lent.push_back(q);
    lends.push_back(lent.size());
    for (void* q : lent) Free(*cache, q);  // back to bin d, as the program's frees go
  }
  EXPECT_EQ(lends[0], 8u);  // a first refill's worth
  EXPECT_GT(lends[1], lends[0]);
  EXPECT_GT(lends[2], lends[1]);
  cache->Drain();
}

// Borrows for class c from the next class until c has handed out `blocks`
// blocks, or until a borrow fails; the blocks it got to. Every lent block is
// popped and freed again (back to the lender's bin, as the program's frees
// go), and with `own` (a block of c's own, on top of bin c once the lent ones
// are gone) so is `own`, once for each lent one: half of what c hands out is
// lent then.
uint32_t PumpFromNextClass(ThreadCache& cache, int c, uint32_t blocks, void* own) {
  uint32_t done = 0;
  while (done < blocks) {
    void* p = TryBorrow(cache, c, ClassSize(c));
    if (p == nullptr) break;
    std::vector<void*> lent{p};
    while (void* q = cache.TryPop(c)) {
      if (q == own) {  // below the lent ones
        Free(cache, own);
        break;
      }
      lent.push_back(q);
    }
    done += static_cast<uint32_t>(lent.size());
    for (size_t i = 0; own != nullptr && i < lent.size(); ++i) {
      EXPECT_EQ(cache.TryPop(c), own);
      Free(cache, own);
      ++done;
    }
    for (void* q : lent) Free(cache, q);
  }
  return done;
}

// A class that lives on a larger class's blocks for good (more than two
// thirds of the blocks it hands out lent, kBorrowStreak windows in a row)
// carves its own instead until it goes quiet: each lend walked the lender's
// list, a miss per block (phase_1t's lulls: the 2048-byte class lived on the
// 2304-byte blocks left from the build before, for the whole lull). A class
// that borrows for a smaller share, or does so for fewer windows in a row,
// goes on borrowing.
TEST_F(MidPool, AClassLivingOnBorrowedBlocksForGoodCarvesItsOwnUntilItGoesQuiet) {
  const int c = SizeToClass(2000);
  const int d = c + 1;
  ASSERT_LE(uint64_t{ClassSize(d)} * 100,
            PoolPolicy::WmaxX100(Tier::kMid) * (ClassSize(c - 1) + 1));  // lends ahead
  constexpr uint32_t kWindow = ThreadCache::kBorrowWindow;
  constexpr uint32_t kStreak = ThreadCache::kBorrowStreak;
  auto cache = NewCache();
  std::vector<void*> lender;
  for (int i = 0; i < 120; ++i) lender.push_back(Alloc(*cache, d));
  void* kept = lender.back();  // its span stays, with the others freed on it
  lender.pop_back();
  for (void* p : lender) Free(*cache, p);  // bin d holds them
  void* own = Alloc(*cache, c);
  std::vector<void*> carved;
  while (void* q = cache->TryPop(c)) carved.push_back(q);  // bin c empty
  Free(*cache, own);

  // All lent for fewer windows than the streak, then half: the streak
  // starts over (the window across the change may count either way).
  EXPECT_EQ(PumpFromNextClass(*cache, c, (kStreak - 1) * kWindow, nullptr) / kWindow, kStreak - 1);
  EXPECT_GE(PumpFromNextClass(*cache, c, 3 * kWindow, own), 3 * kWindow);
  // All lent again: refused after kStreak windows, the one across the
  // change perhaps among them.
  const uint32_t lent_for_good = PumpFromNextClass(*cache, c, (kStreak + 2) * kWindow, nullptr);
  EXPECT_GE(lent_for_good, (kStreak - 1) * kWindow);
  EXPECT_LT(lent_for_good, (kStreak + 2) * kWindow);
  void* q = cache->TryPop(d);
  EXPECT_NE(q, nullptr);  // refused with the lender's bin not empty
  if (q != nullptr) Free(*cache, q);
  EXPECT_EQ(TryBorrow(*cache, c, 2000), nullptr);

  // Quiet for a decay delay (the lender too: its bin goes back to its
  // slabs, whose freed blocks the next borrow takes), it borrows again.
  const uint64_t budget = 64 << 20;
  cache->Upkeep(1000, 100, budget);  // the activity so far seen
  cache->Upkeep(2000, 100, budget);  // quiet since
  void* again = TryBorrow(*cache, c, 2000);
  ASSERT_NE(again, nullptr);
  EXPECT_EQ(RangeMap::MetaOf<Slab>(RangeMap::Lookup(again))->size_class, d);
  Free(*cache, again);
  for (void* p : carved) Free(*cache, p);
  Free(*cache, kept);
  cache->Drain();
}

TEST_F(MidPool, IdleSpansOfOneClassAreReclaimedBeforeAnotherMapsNewMemory) {
  tiny::TrimSuperSlabs();
  const int a = SizeToClass(3000);
  const int b = SizeToClass(6000);
  Churn(a, 40);  // leaves up to CAP idle spans of class a
  const uint64_t idle_a = IdleSpans(a);
  ASSERT_GT(idle_a, 8u);
  const uint64_t superslabs = tiny::LiveSuperSlabs();
  // Class b needs about as much memory as a's idle spans hold.
  auto cache = NewCache();
  std::vector<void*> v;
  const uint32_t blocks = static_cast<uint32_t>(idle_a * kClassInfo[a].span_units * kUnitSize / 6144);
  for (uint32_t i = 0; i < blocks * 9 / 10; ++i) v.push_back(Alloc(*cache, b));
  EXPECT_LT(IdleSpans(a), idle_a);                    // a gave spans back...
  EXPECT_LE(tiny::LiveSuperSlabs(), superslabs + 1);  // ...and b mapped (almost) nothing new
  for (void* p : v) Free(*cache, p);
  cache->Drain();
}

// The first L2.5 class whose spans hold one block each (above 128 KiB):
// each of its blocks is a span of its own to keep idle or give back
// (kNumClasses if there is none).
int FirstOneBlockClass() {
  int c = 0;
  while (c < kNumClasses && !HasOneBlockSpans(c)) ++c;
  return c;
}

// A cache judged to live on big blocks of class c (fast, and all of its
// allocations): the rate and the share are judged at upkeeps.
std::unique_ptr<ThreadCache> CacheLivingOnBigBlocks(int c) {
  auto big = NewCache();
  uint64_t now = 1000;
  big->Upkeep(now, 1000, uint64_t{4} << 20);
  for (uint32_t i = 0; i < ThreadCache::kBigBinPopsPerMs * ThreadCache::kBigRateWindowMs; ++i) {
    Free(*big, Alloc(*big, c));
  }
  now += ThreadCache::kBigRateWindowMs;
  big->Upkeep(now, 1000, uint64_t{4} << 20);
  return big;
}

// n blocks of class c allocated, then all freed.
void ChurnIn(ThreadCache& cache, int c, uint32_t n) {
  std::vector<void*> v;
  for (uint32_t i = 0; i < n; ++i) v.push_back(Alloc(cache, c));
  for (void* p : v) Free(cache, p);
}

uint64_t InUseUnits() { return tiny::InUseBytes() / kUnitSize; }

// CAP_LARGE 0: an emptied L2.5 span goes back to the SuperSlab manager, but
// for a thread living on big blocks (fast, and an eighth of its allocations
// or more), whose emptied spans wait in the class's idle stack,
// kBigBlockIdleUnits' worth, for the next refill of any thread.
TEST_F(MidPool, AnL25ClassKeepsIdleSpansOnlyForAThreadLivingOnBigBlocks) {
  const int c = FirstOneBlockClass();
  ASSERT_LT(c, kNumClasses);
  PoolPolicy::SetCap(c, 0);  // HAKMEM_CAP_LARGE's default
  const uint32_t kept = kBigBlockIdleUnits / kClassInfo[c].span_units;
  ASSERT_GT(kept, 0u);

  // Big blocks now and then among small ones: none kept.
  auto usual = NewCache();
  const int tiny = SizeToClass(64);
  std::vector<void*> small;
  for (int i = 0; i < 1000; ++i) small.push_back(Alloc(*usual, tiny));
  usual->Upkeep(1000, 1000, uint64_t{4} << 20);
  ChurnIn(*usual, c, kept + 8);
  usual->Drain();
  EXPECT_EQ(IdleSpans(c), 0u);

  // Blocks of a bigger class in use, enough for the budget of all L2.5 idle
  // spans (a kBigBlockIdleShare-th of the units in use) to hold the class's
  // own bound.
  const int d = SizeToClass(1 << 20);
  std::vector<void*> held;
  while (InUseUnits() < (kBigBlockIdleUnits + 2 * kClassInfo[c].span_units) * kBigBlockIdleShare) {
    held.push_back(Alloc(*usual, d));
    ASSERT_NE(held.back(), nullptr);
  }
  auto big = CacheLivingOnBigBlocks(c);
  ChurnIn(*big, c, kept + 8);
  big->Drain();  // every block back to its span: the spans empty
  EXPECT_EQ(IdleSpans(c), kept);

  // The next refill of the class, in another thread, takes one of them.
  void* p = Alloc(*usual, c);
  EXPECT_EQ(usual->counters().spans_reused[c].Read(), 1u);
  EXPECT_EQ(IdleSpans(c), kept - 1);
  Free(*usual, p);
  for (void* q : small) Free(*usual, q);
  for (void* q : held) Free(*usual, q);
  usual->Drain();
}

// All L2.5 classes together keep idle for threads living on big blocks at
// most a kBigBlockIdleShare-th of the units in use: 64 units a class, for
// each of 20 classes, held 22 MiB idle beside 9 MiB of blocks in use (16
// blocks of 64 KiB - 1 MiB replaced at random: 53 MiB peak, mimalloc 27).
TEST_F(MidPool, IdleSpansKeptForBigBlocksStayWithinAShareOfTheUnitsInUse) {
  const int c = FirstOneBlockClass();
  ASSERT_LT(c, kNumClasses);
  PoolPolicy::SetCap(c, 0);  // HAKMEM_CAP_LARGE's default
  const uint32_t kept = kBigBlockIdleUnits / kClassInfo[c].span_units;
  auto big = CacheLivingOnBigBlocks(c);
  std::vector<void*> v;
  for (uint32_t i = 0; i < kept; ++i) v.push_back(Alloc(*big, c));
  const uint64_t most_in_use = InUseUnits();  // frees only lower it
  ASSERT_LT(most_in_use / kBigBlockIdleShare, kept * kClassInfo[c].span_units);
  for (void* p : v) Free(*big, p);
  big->Drain();
  EXPECT_GT(IdleSpans(c), 0u);
  EXPECT_LE(IdleSpans(c) * kClassInfo[c].span_units, most_in_use / kBigBlockIdleShare);
}

TEST_F(MidPool, IdleSpansDecayAfterTheDelay) {
  const int c = SizeToClass(9000);
  Churn(c, 6);
  const uint64_t idle = IdleSpans(c);
  ASSERT_GT(idle, 0u);
  const uint64_t now = NowMs();
  EXPECT_EQ(DecayIdleSpans(now, 60000), 0u);  // not idle that long yet
  EXPECT_EQ(IdleSpans(c), idle);
  EXPECT_GE(DecayIdleSpans(now + 60000, 60000), idle);
  EXPECT_EQ(IdleSpans(c), 0u);
}

}  // namespace
}  // namespace hakmem::mid
