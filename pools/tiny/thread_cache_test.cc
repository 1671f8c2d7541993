// The SuperSlab engine on its own: thread caches refilled from their slabs,
// blocks of other caches' slabs sent home through the remote lists, a
// placeholder cache that keeps nothing, Tiny spans given straight back to the
// SuperSlab manager, and the span-source hook a tier plugs into.
#include "pools/tiny/thread_cache.h"

#include <algorithm>
#include <cstring>
#include <initializer_list>
#include <atomic>
#include <mutex>
#include <random>
#include <set>
#include <thread>
#include <vector>

#include "core/base/clock.h"
#include "core/base/invalid_free.h"
#include "core/base/range_map.h"
#include "core/base/size_classes.h"
#include "gtest/gtest.h"
#include "pools/tiny/cache_test_util.h"
#include "pools/tiny/span_source.h"
#include "pools/tiny/superslab_manager.h"

namespace hakmem::tiny {
namespace {

using cache_test::Alloc;
using cache_test::Free;
using cache_test::NewCache;
using cache_test::SlabOf;

// free() reads a span's start, owner, carved bytes and class from the range
// map entry of the block's unit (its digest), not from the Slab: every unit of
// a span must carry them, in step as the owner carves and lets the span go.
TEST(ThreadCache, EveryUnitOfASpanCarriesItsSlabsDigest) {
  int c = 0;
  while (c < kNumClasses && kClassInfo[c].span_units < 4) ++c;
  ASSERT_LT(c, kNumClasses);
  auto cache = NewCache();
  auto expect_digests_match = [](const Slab* s) {
    for (uint32_t u = 0; u < s->units; ++u) {
      const char* unit = s->superslab->base + (size_t{s->first_unit} + u) * kUnitSize;
      const SlabDigest& d = RangeMap::UnitAliased(unit).slab;
      EXPECT_EQ(d.neg_start.load(), 0 - reinterpret_cast<uintptr_t>(s->start)) << "unit " << u;
      EXPECT_EQ(d.owner.load(), s->owner.load()) << "unit " << u;
      EXPECT_EQ(d.carved.load(), s->Carved()) << "unit " << u;
      EXPECT_EQ(d.class_offset.load(), s->size_class * kDigestClassScale) << "unit " << u;
    }
  };
  std::vector<void*> blocks;
  blocks.push_back(Alloc(*cache, c));
  Slab* s = SlabOf(blocks[0]);
  ASSERT_GE(s->units, 4u);
  EXPECT_EQ(s->owner.load(), cache.get());
  expect_digests_match(s);
  const uint32_t carved = s->Carved();
  while (s->Carved() == carved) blocks.push_back(Alloc(*cache, c));  // the next carve
  expect_digests_match(s);
  for (void* p : blocks) Free(*cache, p);
  cache->Drain();  // the span goes back: no owner, nothing carved
  EXPECT_EQ(s->owner.load(), nullptr);
  expect_digests_match(s);
}

TEST(ThreadCache, EveryClassGivesDistinctAlignedBlocksOfItsSize) {
  auto cache = NewCache();
  for (int c = 0; c < kNumClasses; ++c) {
    std::vector<char*> blocks;
    for (int i = 0; i < 20; ++i) {
      char* p = static_cast<char*>(Alloc(*cache, c));
      ASSERT_NE(p, nullptr);
      ASSERT_EQ(reinterpret_cast<uintptr_t>(p) % (ClassSize(c) >= 16 ? 16 : 8), 0u);
      ASSERT_EQ(SlabOf(p)->size_class, c);
      ASSERT_EQ(SlabOf(p)->UsableFrom(p), ClassSize(c));
      std::memset(p, c, ClassSize(c));
      blocks.push_back(p);
    }
    EXPECT_EQ(std::set<char*>(blocks.begin(), blocks.end()).size(), blocks.size());
    for (char* p : blocks) Free(*cache, p);
  }
  cache->Drain();
}

// An alignment above 64 that a coloured class's blocks keep only at colour
// 0 (size_classes.h: kColourZero): the block comes from a span of the class
// laid out at colour 0, is an ordinary block (freed into the bin), and the
// next such request takes it back from the bin's head. Every class with
// coloured spans, at each alignment its size is a multiple of.
TEST(ThreadCache, AlignedRequestsOfAColouredClassTakeColourZeroSpansBlocks) {
  auto cache = NewCache();
  int coloured = 0;
  for (int c = 0; c < kNumClasses; ++c) {
    if (kClassInfo[c].colors == 1) continue;
    ++coloured;
    for (size_t alignment = 128; alignment <= kUnitSize && ClassSize(c) % alignment == 0;
         alignment *= 2) {
      SCOPED_TRACE(testing::Message() << "class " << c << " alignment " << alignment);
      std::vector<void*> blocks;
      for (int i = 0; i < 3; ++i) {
        void* p = cache->AllocColourZero(c, alignment);
        ASSERT_NE(p, nullptr);
        ASSERT_EQ(reinterpret_cast<uintptr_t>(p) % alignment, 0u);
        ASSERT_EQ(SlabOf(p)->size_class, c);
        ASSERT_EQ(reinterpret_cast<uintptr_t>(SlabOf(p)->start) % kUnitSize, 0u);  // colour 0
        ASSERT_EQ(SlabOf(p)->owner.load(), cache.get());
        blocks.push_back(p);
      }
      if (TierOfClass(c) != Tier::kL25) {  // an L2.5 bin keeps no block (FullLimit)
        Free(*cache, blocks.back());
        EXPECT_EQ(cache->TryPopAligned(c, alignment), blocks.back());
      }
      for (void* p : blocks) Free(*cache, p);
    }
  }
  EXPECT_GT(coloured, 0);
  cache->Drain();
  // The colour-0 spans went back with the drain (Release forgets them): new
  // ones serve the next requests.
  const int c = SizeToClass(4096);
  void* p = cache->AllocColourZero(c, 4096);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % 4096, 0u);
  EXPECT_EQ(SlabOf(p)->owner.load(), cache.get());
  Free(*cache, p);
  cache->Drain();
}

// A thread whose only requests of a class are aligned ones takes back what
// another thread freed of them (FillBin from AllocColourZero): round after
// round of blocks handed to another cache and freed there, the owner lays
// out no more spans than the first round took (without it, one round's worth
// more every round).
TEST(ThreadCache, AlignedOnlyRequestsTakeBackOthersFrees) {
  const int c = SizeToClass(4096);
  ASSERT_GT(kClassInfo[c].colors, 1);
  auto owner = NewCache();
  auto other = NewCache();
  constexpr int kBlocks = 600;
  uint64_t first_round = 0;
  for (int round = 0; round < 20; ++round) {
    std::vector<void*> blocks;
    for (int i = 0; i < kBlocks; ++i) {
      void* p = owner->AllocColourZero(c, 4096);
      ASSERT_NE(p, nullptr);
      ASSERT_EQ(reinterpret_cast<uintptr_t>(p) % 4096, 0u);
      blocks.push_back(p);
    }
    for (void* p : blocks) Free(*other, p);  // home to the owner's slabs
    other->Drain();
    if (round == 0) first_round = owner->counters().spans_new[c].Read();
  }
  EXPECT_LE(owner->counters().spans_new[c].Read(), 2 * first_round);
  owner->Drain();
}

TEST(ThreadCache, AFreedBlockIsTheNextOneHandedOut) {
  auto cache = NewCache();
  const int c = SizeToClass(48);
  void* p = Alloc(*cache, c);
  Free(*cache, p);
  EXPECT_EQ(Alloc(*cache, c), p);
  Free(*cache, p);
  cache->Drain();
}

TEST(ThreadCache, BlocksFreedByAnotherCacheGoHomeThroughTheRemoteLists) {
  auto owner = NewCache();
  const int c = SizeToClass(64);
  constexpr int kBlocks = 20000;
  std::vector<void*> blocks(kBlocks);
  for (void*& p : blocks) p = Alloc(*owner, c);
  std::thread([&] {
    auto other = NewCache();
    // Home: by the owner's ring while it has room, the rest chained per slab.
    for (void* p : blocks) Free(*other, p);
    other->Drain();
    EXPECT_GE(other->counters().remote_frees.Read(), uint64_t{kBlocks} / 2);
  }).join();
  const uint64_t superslabs = LiveSuperSlabs();
  for (void*& p : blocks) p = Alloc(*owner, c);
  EXPECT_LE(LiveSuperSlabs(), superslabs);  // the owner reused its own blocks
  for (void* p : blocks) Free(*owner, p);
  owner->Drain();
}

// A remote free into a parked (full) slab names that slab to its owner, whose
// next refill takes the block back without walking its other parked slabs;
// more revivals than the owner has entries for are found by a walk of the
// class's parked slabs. Every freed block comes back before a new one is
// carved, whichever way its slab was found, and one refill takes the blocks
// of a few revived slabs.
TEST(ThreadCache, EveryRevivedSlabIsFoundByTheNextRefills) {
  const int c = SizeToClass(64);
  const uint32_t capacity = kClassInfo[c].capacity;
  for (uint32_t revived : {4u, 3 * ThreadCache::kRevivedEntries}) {
    auto owner = NewCache();
    std::vector<void*> v;
    for (uint32_t i = 0; i < (revived + 1) * capacity; ++i) v.push_back(Alloc(*owner, c));
    while (void* p = owner->TryPop(c)) v.push_back(p);
    // One block of each of `revived` spans, whose every block is out.
    std::set<Slab*> spans;
    std::set<void*> freed;
    for (void* p : v) {
      if (spans.size() == revived) break;
      if (SlabOf(p)->queue == SlabQueue::kFull && spans.insert(SlabOf(p)).second) freed.insert(p);
    }
    ASSERT_EQ(spans.size(), revived);
    // Chained, not by the ring (ThreadCache::GoesByRing), which revives no
    // slab: as for a cache whose thread exited.
    owner->CloseRing();
    auto other = NewCache();
    for (void* p : freed) Free(*other, p);
    other->Drain();  // each on its span's remote list: the span revived
    const uint64_t refills = owner->counters().refills[c].Read();
    std::set<void*> again;
    for (uint32_t i = 0; i < revived; ++i) again.insert(Alloc(*owner, c));
    EXPECT_EQ(again, freed) << revived << " revived spans";
    // A refill goes on to the next revived slabs for a few more blocks.
    if (revived <= ThreadCache::kGatherBlocks) {
      EXPECT_EQ(owner->counters().refills[c].Read() - refills, 1u);
    }
    for (void* p : again) Free(*owner, p);
    for (void* p : v) {
      if (freed.count(p) == 0) Free(*owner, p);
    }
    owner->Drain();
  }
}

// A slab's remote list can pile up far more blocks than a bin's limit (many
// pushes the refills did not reach). The refill takes it whole, without a
// walk over its cold blocks, and counts it as half the limit: the owner's
// next frees do not flush it (a flush walked them twice), nothing new is
// carved, no block is handed out twice.
TEST(ThreadCache, ARemoteChainLongerThanTheBinIsTakenWholeWithoutAFlush) {
  auto owner = NewCache();
  const int c = SizeToClass(64);
  constexpr int kBlocks = 900;  // one span holds about 1,000; the bin's limit is far less
  std::vector<void*> blocks(kBlocks);
  for (void*& p : blocks) p = Alloc(*owner, c);
  Slab* slab = SlabOf(blocks[0]);
  ASSERT_EQ(SlabOf(blocks.back()), slab);
  std::vector<void*> own;  // the rest of the last refill: the bin is empty after
  while (void* p = owner->TryPop(c)) own.push_back(p);
  // Chained, not by the owner's ring (ThreadCache::GoesByRing): as for a
  // cache whose thread exited, or past what its ring holds.
  owner->CloseRing();
  std::thread([&] {
    auto other = NewCache();
    for (void* p : blocks) Free(*other, p);
    other->Drain();  // every block on the slab's remote list
  }).join();
  ASSERT_EQ(slab->local_free, nullptr);
  const uint32_t carved = slab->Carved();
  const uint64_t flushes = owner->counters().flushes.Read();
  std::vector<void*> again{Alloc(*owner, c)};  // the refill finds the chain
  EXPECT_EQ(slab->local_free, nullptr);        // taken whole, not walked onto the slab
  EXPECT_TRUE(slab->remote.Empty());
  for (void* p : own) Free(*owner, p);         // fewer than the bin's room
  EXPECT_EQ(owner->counters().flushes.Read(), flushes);
  const size_t total = kBlocks + own.size();
  while (again.size() < total) again.push_back(Alloc(*owner, c));
  EXPECT_EQ(slab->Carved(), carved);  // every one of them came back
  std::sort(again.begin(), again.end());
  EXPECT_EQ(std::unique(again.begin(), again.end()), again.end());
  for (void* p : again) Free(*owner, p);
  owner->Drain();
}

TEST(ThreadCache, ThePlaceholderKeepsNothingAndSendsBlocksHome) {
  auto owner = NewCache();
  const int c = SizeToClass(200);
  void* p = Alloc(*owner, c);
  Slab* slab = SlabOf(p);
  std::thread([&] {
    ThreadCache placeholder;  // never Init(): what a thread with no heap frees through
    Free(placeholder, p);
    EXPECT_EQ(placeholder.TryPop(c), nullptr);
  }).join();
  EXPECT_FALSE(slab->remote.Empty());  // sent home at once
  owner->Drain();  // the owner takes it back
  EXPECT_TRUE(slab->remote.Empty());
}

TEST(ThreadCache, TinySpansGoStraightBackToTheSuperSlabManager) {
  ASSERT_EQ(SpanSourceFor(SizeToClass(512)), nullptr);
  TrimSuperSlabs();
  const uint64_t before = LiveSuperSlabs();
  {
    auto cache = NewCache();
    const int c = SizeToClass(512);
    std::vector<void*> v;
    // More spans than one SuperSlab holds: a new one must be mapped.
    for (uint32_t i = 0; i < 40 * kClassInfo[c].capacity; ++i) v.push_back(Alloc(*cache, c));
    EXPECT_GT(LiveSuperSlabs(), before);
    for (void* p : v) Free(*cache, p);
    cache->Drain();
  }
  TrimSuperSlabs();  // nothing idle holds them: every SuperSlab is empty again
  EXPECT_EQ(LiveSuperSlabs(), before);
}

// A thread that allocated blocks and then waits (a join) while others free
// them never refills again: another thread takes its slabs' remote frees and
// gives back the spans they emptied.
// Every block of `spans` spans' worth of class c allocated through `owner`,
// its bin drained too, so that each span can empty; their spans in *out.
std::vector<void*> TakeWholeSpans(ThreadCache& owner, int c, uint32_t spans, std::set<Slab*>* out) {
  std::vector<void*> v;
  for (uint32_t i = 0; i < spans * kClassInfo[c].capacity; ++i) v.push_back(Alloc(owner, c));
  while (void* p = owner.TryPop(c)) v.push_back(p);
  for (void* p : v) out->insert(SlabOf(p));
  return v;
}

// Whether others' frees wait in its ring or on its spans' remote lists (a
// ring closed, as an exited thread's, or full).
TEST(ThreadCache, AnIdleOwnersEmptiedSpansAreGivenBackForIt) {
  const int c = SizeToClass(512);
  for (bool by_ring : {true, false}) {
    auto owner = NewCache();
    std::set<Slab*> spans;
    const std::vector<void*> v = TakeWholeSpans(*owner, c, 4, &spans);
    ASSERT_GE(spans.size(), 4u);
    ASSERT_LE(v.size(), RemoteRing::kSlots);
    if (!by_ring) owner->CloseRing();
    auto other = NewCache();
    for (void* p : v) Free(*other, p);
    other->Drain();
    EXPECT_EQ(owner->RingHoldsBlocks(), by_ring);
    for (Slab* s : spans) ASSERT_EQ(s->owner.load(), owner.get());
    owner->ReleaseEmptiedSpansForIdleOwner(1000);
    for (Slab* s : spans) EXPECT_NE(s->owner.load(), owner.get()) << by_ring;
    owner->Drain();
  }
}

// Another thread's frees scattered at random over many of the owner's
// slabs (a block here, a block there) come home through the owner's inbox,
// chained per class, rather than pushed one by one onto each slab: the
// slabs' remote lists stay (nearly: the first window is judged first)
// empty, and the owner's next allocations get every block back, each once,
// in few refills.
TEST(ThreadCache, ScatteredFreesComeHomeThroughTheOwnersInbox) {
  // Spans far more than the freeing thread's pending slots: its chains
  // hardly ever get a second block.
  const int c = SizeToClass(256);
  auto owner = NewCache();
  std::set<Slab*> spans;
  std::vector<void*> v = TakeWholeSpans(*owner, c, 512, &spans);
  std::shuffle(v.begin(), v.end(), std::mt19937_64(7));
  const std::vector<void*> freed(v.begin(), v.begin() + static_cast<ptrdiff_t>(v.size() / 2));
  auto other = NewCache();
  for (void* p : freed) Free(*other, p);
  other->Drain();  // pushes what it still chains
  uint64_t via_slabs = 0;
  for (Slab* s : spans) via_slabs += s->remote.Count();
  EXPECT_LT(via_slabs, freed.size() / 16);
  const uint64_t refills = owner->counters().refills[c].Read();
  std::set<void*> again;
  for (size_t i = 0; i < freed.size(); ++i) again.insert(Alloc(*owner, c));
  EXPECT_EQ(again, std::set<void*>(freed.begin(), freed.end()));
  EXPECT_LT(owner->counters().refills[c].Read() - refills, freed.size() / 16);
  for (void* p : v) Free(*owner, p);
  owner->Drain();
}

// Blocks another cache freed, waiting in the owner's inbox or ring, are
// counted out by their slabs: an owner that does not allocate the class again
// gives them back to the slabs when it drains (thread exit, decay) or when
// another thread looks at it idle, and the spans they emptied go back with
// them. `spans` whole spans of class c, freed in a shuffled order.
void ExpectOthersFreesGoBackWithTheOwnersSpans(int c, uint32_t spans, uint64_t seed) {
  for (bool idle_look : {false, true}) {
    SCOPED_TRACE(idle_look ? "idle look" : "drain");
    auto owner = NewCache();
    std::set<Slab*> taken;
    std::vector<void*> v = TakeWholeSpans(*owner, c, spans, &taken);
    std::shuffle(v.begin(), v.end(), std::mt19937_64(seed));
    auto other = NewCache();
    for (void* p : v) Free(*other, p);
    other->Drain();
    for (Slab* s : taken) ASSERT_EQ(s->owner.load(), owner.get());
    if (idle_look) {
      owner->ReleaseEmptiedSpansForIdleOwner(1000);
    } else {
      owner->Drain();
    }
    size_t kept = 0;
    for (Slab* s : taken) kept += s->owner.load() == owner.get();
    EXPECT_LE(kept, 1u);  // the current slab may stay (MaybeRelease)
    owner->Drain();
  }
}

TEST(ThreadCache, AnInboxIsGivenBackWithItsOwnersSpans) {
  ExpectOthersFreesGoBackWithTheOwnersSpans(SizeToClass(256), 512, 11);
}

// Another thread's frees of Mid blocks at random over the owner's spans go
// by address into the owner's ring, not onto each span's remote list (only
// a block of the slab the class's last one went to, a run, is chained); a
// second free of one waiting there is caught; the owner's next refill puts
// them all into its bin, each once, with no block carved.
TEST(ThreadCache, MidBlocksFreedAtRandomComeHomeThroughTheOwnersRing) {
  const int c = SizeToClass(4096);
  ASSERT_EQ(TierOfClass(c), Tier::kMid);
  auto owner = NewCache();
  std::set<Slab*> spans;
  std::vector<void*> v = TakeWholeSpans(*owner, c, 8, &spans);
  ASSERT_GE(spans.size(), 8u);
  std::shuffle(v.begin(), v.end(), std::mt19937_64(5));
  const std::vector<void*> freed(v.begin(), v.begin() + static_cast<ptrdiff_t>(v.size() / 2));
  ASSERT_LT(freed.size(), RemoteRing::kSlots);
  auto other = NewCache();
  for (void* p : freed) Free(*other, p);
  other->Drain();
  uint64_t via_slabs = 0;
  for (Slab* s : spans) via_slabs += s->remote.Count();
  EXPECT_LT(via_slabs, freed.size() / 4);
  const uint64_t invalid = InvalidFreeCount();
  Free(*other, freed[0]);  // a double free: reported, the block not sent again
  EXPECT_EQ(InvalidFreeCount(), invalid + 1);
  const uint64_t refills = owner->counters().refills[c].Read();
  std::set<void*> again;
  for (size_t i = 0; i < freed.size(); ++i) again.insert(Alloc(*owner, c));
  EXPECT_EQ(again, std::set<void*>(freed.begin(), freed.end()));
  EXPECT_LE(owner->counters().refills[c].Read() - refills, 1 + via_slabs);
  for (void* p : v) Free(*owner, p);
  owner->Drain();
}

// A Mid miss that may borrow refills the next class first (mid::TryBorrow),
// which takes the whole ring: a block of the missing class can land in its
// bin then, and the class's own refill that follows hands it out (it does
// not cover it with carved blocks, its stash or its inbox, which lost it).
TEST(ThreadCache, ARingBlockAnotherClasssRefillTookIsHandedOutFirst) {
  const int c = SizeToClass(4096);
  const int d = c + 1;
  ASSERT_EQ(TierOfClass(d), Tier::kMid);
  auto owner = NewCache();
  std::vector<void*> v;
  for (int i = 0; i < 8; ++i) v.push_back(Alloc(*owner, c));
  while (void* p = owner->TryPop(c)) v.push_back(p);  // bin c empty
  auto other = NewCache();
  void* x = v[3];
  Free(*other, x);
  other->FlushRemote();  // into the owner's ring
  EXPECT_EQ(owner->Refill(d, ThreadCache::Fresh::kNo), nullptr);  // d has nothing freed
  const uint64_t refills = owner->counters().refills[c].Read();
  EXPECT_EQ(owner->Refill(c), x);
  EXPECT_EQ(owner->counters().refills[c].Read(), refills);
  for (void* p : v) Free(*owner, p);
  other->Drain();
  owner->Drain();
}

// Blocks on their way to an owner's ring go together: the freeing cache
// holds them until it has kRingBatch for that owner, a block for another
// owner comes, or it flushes what it sends home (FlushRemote); each arrives
// once.
TEST(ThreadCache, MidBlocksForOneOwnersRingGoTogether) {
  const int c = SizeToClass(4096);
  auto owner = NewCache();
  auto second = NewCache();
  std::set<Slab*> spans;
  std::vector<void*> v = TakeWholeSpans(*owner, c, 4, &spans);
  std::shuffle(v.begin(), v.end(), std::mt19937_64(9));
  // No two in a row from one slab (a run goes onto its slab instead).
  std::vector<void*> scattered;
  for (void* p : v) {
    if (scattered.empty() || SlabOf(scattered.back()) != SlabOf(p)) scattered.push_back(p);
  }
  ASSERT_GE(scattered.size(), ThreadCache::kRingBatch + 2);
  auto other = NewCache();
  for (uint32_t i = 0; i + 1 < ThreadCache::kRingBatch; ++i) Free(*other, scattered[i]);
  EXPECT_FALSE(owner->RingHoldsBlocks());
  const uint64_t invalid = InvalidFreeCount();
  Free(*other, scattered[0]);  // a double free of a gathered block: reported, not gathered again
  EXPECT_EQ(InvalidFreeCount(), invalid + 1);
  Free(*other, scattered[ThreadCache::kRingBatch - 1]);
  EXPECT_TRUE(owner->RingHoldsBlocks());
  EXPECT_EQ(other->counters().remote_frees.Read(), ThreadCache::kRingBatch);
  // One more, then a block of another owner's: the first goes on.
  Free(*other, scattered[ThreadCache::kRingBatch]);
  void* elsewhere = Alloc(*second, c);
  Free(*other, elsewhere);
  EXPECT_EQ(other->counters().remote_frees.Read(), ThreadCache::kRingBatch + 1);
  other->FlushRemote();
  EXPECT_EQ(other->counters().remote_frees.Read(), ThreadCache::kRingBatch + 2);
  EXPECT_TRUE(second->RingHoldsBlocks());
  for (Slab* s : spans) EXPECT_EQ(s->remote.Count(), 0u);  // all by the ring
  // The owner takes back exactly the blocks freed, each once.
  const std::set<void*> freed(scattered.begin(), scattered.begin() + ThreadCache::kRingBatch + 1);
  std::set<void*> again;
  for (size_t i = 0; i < freed.size(); ++i) again.insert(Alloc(*owner, c));
  EXPECT_EQ(again, freed);
  for (void* p : v) Free(*owner, p);
  other->Drain();
  owner->Drain();
  second->Drain();  // elsewhere, in its ring, goes back with it
}

// Tiny blocks another thread frees of a class it keeps none of come home
// through the owner's ring, runs of one slab too (a consumer freeing its
// producer's batch: the owner's refill writes each block's link, misses that
// overlap, where a chain's pops missed one after another). The refill of
// their class takes them into its bin, up to its limit, and onto its
// stash; another class's refill puts them onto their own class's stash, which
// that class's next refill takes whole. Each comes back once, and a double
// free of one is reported wherever it waits.
TEST(ThreadCache, TinyBlocksOfAClassNoOneKeepsComeHomeThroughTheOwnersRing) {
  const int c = SizeToClass(64);
  const int d = SizeToClass(128);
  ASSERT_EQ(TierOfClass(c), Tier::kTiny);
  ASSERT_EQ(TierOfClass(d), Tier::kTiny);
  auto owner = NewCache();
  std::set<Slab*> spans;
  const std::vector<void*> vc = TakeWholeSpans(*owner, c, 1, &spans);
  const std::vector<void*> vd = TakeWholeSpans(*owner, d, 1, &spans);
  // In the order they were handed out: runs of one slab.
  const std::vector<void*> freed_c(vc.begin(), vc.begin() + 300);  // past a bin's limit
  const std::vector<void*> freed_d(vd.begin(), vd.begin() + 16);
  ASSERT_LT(freed_c.size() + freed_d.size(), RemoteRing::kSlots);
  auto other = NewCache();
  for (void* p : freed_d) Free(*other, p);
  for (void* p : freed_c) Free(*other, p);
  other->FlushRemote();
  EXPECT_EQ(other->counters().remote_frees.Read(), freed_c.size() + freed_d.size());
  EXPECT_TRUE(owner->RingHoldsBlocks());
  for (Slab* s : spans) EXPECT_EQ(s->remote.Count(), 0u);  // all by the ring
  // Class c's refill empties the ring: c's blocks come back, each once,
  // before any other block of c, in two refills (the bin's limit, then the
  // stash), none of them by its slab.
  const uint64_t refills_c = owner->counters().refills[c].Read();
  std::set<void*> again;
  for (size_t i = 0; i < freed_c.size(); ++i) again.insert(Alloc(*owner, c));
  EXPECT_FALSE(owner->RingHoldsBlocks());
  EXPECT_EQ(again, std::set<void*>(freed_c.begin(), freed_c.end()));
  EXPECT_EQ(owner->counters().refills[c].Read(), refills_c + 2);
  EXPECT_EQ(SlabOf(freed_c[0])->local_free, nullptr);
  EXPECT_EQ(SlabOf(freed_d[0])->local_free, nullptr);  // d's wait on its stash
  // Class d's waited on its stash, free: a double free is reported, and one
  // refill hands them all out.
  const uint64_t invalid = InvalidFreeCount();
  Free(*other, freed_d[0]);
  EXPECT_EQ(InvalidFreeCount(), invalid + 1);
  const uint64_t refills = owner->counters().refills[d].Read();
  again.clear();
  for (size_t i = 0; i < freed_d.size(); ++i) again.insert(Alloc(*owner, d));
  EXPECT_EQ(again, std::set<void*>(freed_d.begin(), freed_d.end()));
  EXPECT_EQ(owner->counters().refills[d].Read(), refills + 1);
  for (void* p : vc) Free(*owner, p);
  for (void* p : vd) Free(*owner, p);
  other->Drain();
  owner->Drain();
}

// A ring that refused a batch is not tried again until its owner takes
// from it (full: its thread was not refilling) or, closed (its thread
// exited), until it is open again (a new thread took the cache over, whose
// first take waits for a push): the blocks meanwhile go home chained, and
// after that by the ring again.
void ExpectARingThatRefusedIsTriedAgain(bool closed) {
  const int c = SizeToClass(64);
  auto owner = NewCache();
  std::set<Slab*> spans;
  const std::vector<void*> v = TakeWholeSpans(*owner, c, 2, &spans);
  constexpr size_t kRefused = 8 * ThreadCache::kRingBatch;
  const size_t fill = closed ? 0 : RemoteRing::kSlots;
  ASSERT_GT(v.size(), fill + kRefused + ThreadCache::kRingBatch);
  if (closed) owner->CloseRing();
  auto other = NewCache();
  size_t freed = 0;
  for (; freed < fill + kRefused; ++freed) Free(*other, v[freed]);
  other->FlushRemote();
  uint64_t chained = 0;
  for (Slab* s : spans) chained += s->remote.Count();
  EXPECT_EQ(chained, kRefused);
  void* first = nullptr;
  if (closed) {
    owner->StartOver();
  } else {
    first = Alloc(*owner, c);  // the refill takes the ring
  }
  EXPECT_FALSE(owner->RingHoldsBlocks());
  for (size_t end = freed + ThreadCache::kRingBatch; freed < end; ++freed) Free(*other, v[freed]);
  EXPECT_TRUE(owner->RingHoldsBlocks());
  if (first != nullptr) Free(*owner, first);
  for (; freed < v.size(); ++freed) Free(*owner, v[freed]);
  other->Drain();
  owner->Drain();
}

TEST(ThreadCache, AFullRingIsTriedAgainOnceItsOwnerTakesFromIt) {
  ExpectARingThatRefusedIsTriedAgain(/*closed=*/false);
}

TEST(ThreadCache, AClosedRingIsTriedAgainOnceANewThreadTakesTheCacheOver) {
  ExpectARingThatRefusedIsTriedAgain(/*closed=*/true);
}

// Mid blocks freed by another thread in the order they were handed out (a
// consumer freeing its producer's batch) are runs of one slab: chained onto
// the slab's remote list, which the owner's refill takes back whole.
TEST(ThreadCache, ARunOfOneSlabsMidBlocksGoesHomeOnItsSlab) {
  const int c = SizeToClass(4096);
  auto owner = NewCache();
  std::set<Slab*> spans;
  const std::vector<void*> v = TakeWholeSpans(*owner, c, 1, &spans);
  ASSERT_EQ(spans.size(), 1u);
  auto other = NewCache();
  for (void* p : v) Free(*other, p);
  other->Drain();
  EXPECT_EQ((*spans.begin())->remote.Count(), v.size() - 1);  // all but the first
  std::set<void*> again;
  for (size_t i = 0; i < v.size(); ++i) again.insert(Alloc(*owner, c));
  EXPECT_EQ(again, std::set<void*>(v.begin(), v.end()));
  for (void* p : v) Free(*owner, p);
  owner->Drain();
}

// An owner whose thread exited takes no ring blocks (CloseRing): others'
// frees of its Mid blocks go onto their slabs, where the next thread to take
// the cache over, or a decay pass, finds them; what the ring held when it
// closed went there too.
TEST(ThreadCache, AnExitedOwnersMidBlocksGoHomeOnTheirSlabs) {
  const int c = SizeToClass(4096);
  auto owner = NewCache();
  std::set<Slab*> spans;
  std::vector<void*> v = TakeWholeSpans(*owner, c, 8, &spans);
  std::shuffle(v.begin(), v.end(), std::mt19937_64(17));
  auto other = NewCache();
  const size_t half = v.size() / 2;
  for (size_t i = 0; i < half; ++i) Free(*other, v[i]);  // into the ring, most of them
  owner->CloseRing();
  for (size_t i = half; i < v.size(); ++i) Free(*other, v[i]);
  other->Drain();
  uint64_t via_slabs = 0;
  for (Slab* s : spans) via_slabs += s->remote.Count() + s->local_count;
  EXPECT_EQ(via_slabs, v.size());
  owner->Drain();
}

TEST(ThreadCache, ARingIsGivenBackWithItsOwnersSpans) {
  ExpectOthersFreesGoBackWithTheOwnersSpans(SizeToClass(4096), 4, 13);  // Mid: by the ring
}

// Another thread's frees of big blocks (L2.5 above 128 KiB: a block per
// span) come home through the owner's inbox, not by reviving each span; the
// owner's refills take them back from there, each block once. What the refills have
// not taken yet is not counted in the bins' bytes (the budget would give the
// spans back one by one), and a drain or a look at the idle owner gives it
// back with the spans.
TEST(ThreadCache, BigBlocksFreedByAnotherThreadComeHomeThroughTheInbox) {
  const int c = SizeToClass(192 << 10);
  ASSERT_TRUE(HasOneBlockSpans(c));
  constexpr uint32_t kBlocks = 16;
  for (int end = 0; end < 3; ++end) {
    SCOPED_TRACE(end == 0 ? "taken again" : end == 1 ? "drain" : "idle look");
    auto owner = NewCache();
    std::set<Slab*> spans;
    std::vector<void*> v = TakeWholeSpans(*owner, c, kBlocks, &spans);
    ASSERT_EQ(spans.size(), v.size());
    auto other = NewCache();
    for (void* p : v) Free(*other, p);
    other->Drain();
    for (Slab* s : spans) EXPECT_EQ(s->remote.Count(), 0u);
    void* first = Alloc(*owner, c);
    EXPECT_LT(owner->CachedBytes(), uint64_t{kBlocks / 2} * ClassSize(c));
    if (end == 0) {
      std::set<void*> again{first};
      for (uint32_t i = 1; i < kBlocks; ++i) again.insert(Alloc(*owner, c));
      EXPECT_EQ(again, std::set<void*>(v.begin(), v.end()));
      for (void* p : again) Free(*owner, p);
    } else {
      Free(*owner, first);
      if (end == 1) {
        owner->Drain();
      } else {
        owner->ReleaseEmptiedSpansForIdleOwner(1000);
      }
      for (Slab* s : spans) EXPECT_NE(s->owner.load(), owner.get());
    }
    owner->Drain();
  }
}

// While L2.5 blocks are a good share of a cache's allocations (judged at its
// upkeep), its emptied one-block spans stay with it and are laid out again
// for its next one-block classes whose spans are as long, with no trip
// to the SuperSlab manager; beyond kSpareSpans the oldest goes back, and
// all go back on Drain or when the share falls. A free of an old block
// meanwhile is still a double free, not a block handed out. Before any
// upkeep an emptied span goes back at once.
TEST(ThreadCache, EmptiedBigSpansServeTheNextBigBlocksOfTheirLength) {
  int a = -1;
  int b = -1;
  for (int c = 0; c < kNumClasses && b < 0; ++c) {
    if (!HasOneBlockSpans(c)) continue;
    if (a >= 0 && kClassInfo[c].span_units == kClassInfo[a].span_units) b = c;
    if (a < 0) a = c;
  }
  ASSERT_GE(b, 0);
  const uint32_t units = kClassInfo[a].span_units;
  const uint32_t spares = std::min(ThreadCache::kSpareSpans, ThreadCache::kSpareUnits / units);
  ASSERT_GT(spares, 1u);
  auto given_back = [](void* p) { return !RangeMap::IsSlab(RangeMap::Lookup(p)); };
  auto cache = NewCache();
  void* p = Alloc(*cache, a);
  Free(*cache, p);  // an L2.5 bin keeps nothing: the span empties
  EXPECT_TRUE(given_back(p));  // no upkeep yet

  std::vector<void*> v;  // a span each
  for (uint32_t i = 0; i <= spares; ++i) v.push_back(Alloc(*cache, a));
  cache->Upkeep(1000, 1000, uint64_t{4} << 20);  // its allocations: all L2.5
  for (void* q : v) Free(*cache, q);
  EXPECT_TRUE(given_back(v[0]));  // the oldest, beyond kSpareSpans or kSpareUnits
  for (size_t i = 1; i < v.size(); ++i) EXPECT_FALSE(given_back(v[i]));
  Free(*cache, v.back());  // a double free: reported, and nothing changes

  const uint64_t fresh = cache->counters().spans_new[b].Read();
  void* q = Alloc(*cache, b);
  EXPECT_EQ(SlabOf(q), SlabOf(v.back()));  // the newest
  EXPECT_EQ(SlabOf(q)->block_size, ClassSize(b));
  EXPECT_EQ(cache->counters().spans_new[b].Read(), fresh);
  Free(*cache, q);
  cache->Drain();
  for (void* r : v) EXPECT_TRUE(given_back(r));

  // Small blocks take over: the next judgement gives the spares back.
  for (uint32_t i = 0; i < 3; ++i) v[i] = Alloc(*cache, a);
  const int tiny = SizeToClass(64);
  std::vector<void*> small;
  for (int i = 0; i < 1000; ++i) small.push_back(Alloc(*cache, tiny));
  for (uint32_t i = 0; i < 3; ++i) Free(*cache, v[i]);
  EXPECT_FALSE(given_back(v[2]));
  cache->Upkeep(1001, 1000, uint64_t{4} << 20);
  for (uint32_t i = 0; i < 3; ++i) EXPECT_TRUE(given_back(v[i]));
  for (void* r : small) Free(*cache, r);
  cache->Drain();
}

// A spare span up to kSpareSlackUnits longer than a class's span serves that
// class (laid out for it: one block of its size); a longer one does not.
TEST(ThreadCache, ASpareSpanAFewUnitsLongerServesAShorterClass) {
  int shorter = -1;
  int longer = -1;
  int too_long = -1;
  for (int c = 0; c < kNumClasses; ++c) {
    if (!HasOneBlockSpans(c)) continue;
    const uint32_t units = kClassInfo[c].span_units;
    if (shorter < 0) {
      shorter = c;
    } else if (longer < 0 && units > kClassInfo[shorter].span_units &&
               units <= kClassInfo[shorter].span_units + ThreadCache::kSpareSlackUnits) {
      longer = c;
    } else if (too_long < 0 && units > kClassInfo[shorter].span_units + ThreadCache::kSpareSlackUnits) {
      too_long = c;
    }
  }
  ASSERT_GE(longer, 0);
  ASSERT_GE(too_long, 0);
  ASSERT_LE(kClassInfo[longer].span_units + kClassInfo[too_long].span_units, ThreadCache::kSpareUnits);
  auto given_back = [](void* p) { return !RangeMap::IsSlab(RangeMap::Lookup(p)); };
  auto cache = NewCache();
  void* near = Alloc(*cache, longer);
  void* far = Alloc(*cache, too_long);
  cache->Upkeep(1000, 1000, uint64_t{4} << 20);  // its allocations: all L2.5
  Free(*cache, near);
  Free(*cache, far);  // the newest spare: looked at first
  ASSERT_FALSE(given_back(near));
  ASSERT_FALSE(given_back(far));

  const uint64_t fresh = cache->counters().spans_new[shorter].Read();
  void* q = Alloc(*cache, shorter);
  EXPECT_EQ(SlabOf(q), SlabOf(near));  // not far's, too long
  EXPECT_EQ(SlabOf(q)->block_size, ClassSize(shorter));
  EXPECT_EQ(SlabOf(q)->capacity, 1u);
  EXPECT_EQ(cache->counters().spans_new[shorter].Read(), fresh);
  Free(*cache, q);
  cache->Drain();
  EXPECT_TRUE(given_back(q));
  EXPECT_TRUE(given_back(far));
}

// The slack is for one-block spans alone: a class whose span holds several
// blocks takes a spare span of exactly its length or none (a longer one
// would carve more blocks than its class's span is sized for).
TEST(ThreadCache, ASmallerTiersClassTakesASpareSpanOfItsOwnLengthOnly) {
  // A one-block span of 4 units; the L2.5 classes that share spans of 3 and
  // of 4 units (the largest such: 96 and 128 KiB).
  int big = 0;
  while (big < kNumClasses && !(HasOneBlockSpans(big) && kClassInfo[big].span_units == 4)) ++big;
  ASSERT_LT(big, kNumClasses);
  const uint32_t units = kClassInfo[big].span_units;
  auto shared_of = [](uint32_t len) {
    for (int c = kNumClasses - 1; c >= 0; --c) {
      if (!HasOneBlockSpans(c) && kClassInfo[c].span_units == len) return c;
    }
    return -1;
  };
  const int mid_one = shared_of(units - 1);
  const int mid_two = shared_of(units);
  ASSERT_GE(mid_one, 0);
  ASSERT_GE(mid_two, 0);
  ASSERT_EQ(TierOfClass(mid_one), Tier::kL25);
  ASSERT_EQ(TierOfClass(mid_two), Tier::kL25);
  auto cache = NewCache();
  void* spare = Alloc(*cache, big);
  cache->Upkeep(1000, 1000, uint64_t{4} << 20);  // its allocations: all L2.5
  Free(*cache, spare);
  ASSERT_TRUE(RangeMap::IsSlab(RangeMap::Lookup(spare)));  // kept as a spare

  void* shorter = Alloc(*cache, mid_one);
  EXPECT_NE(SlabOf(shorter), SlabOf(spare));  // one unit longer: not for a shared span
  EXPECT_EQ(SlabOf(spare)->block_size, ClassSize(big));  // still the spare, untouched
  void* exact = Alloc(*cache, mid_two);
  EXPECT_EQ(SlabOf(exact), SlabOf(spare));  // its own length: taken
  EXPECT_EQ(SlabOf(exact)->block_size, ClassSize(mid_two));
  Free(*cache, shorter);
  Free(*cache, exact);
  cache->Drain();
}

// L2.5 blocks up to 128 KiB share their spans: the next block of the class
// comes from the span of the last, with no new span, and the span goes back
// as soon as its last block is freed (a span of a few big blocks is not kept
// empty as a Mid class's current one is).
TEST(ThreadCache, BigBlocksUpTo128KiBShareASpanThatGoesBackEmpty) {
  const int c = SizeToClass(100 << 10);
  ASSERT_EQ(TierOfClass(c), Tier::kL25);
  ASSERT_FALSE(HasOneBlockSpans(c));
  auto given_back = [](void* p) { return !RangeMap::IsSlab(RangeMap::Lookup(p)); };
  auto cache = NewCache();
  std::vector<void*> v;
  for (uint32_t i = 0; i < kClassInfo[c].capacity; ++i) v.push_back(Alloc(*cache, c));
  for (void* p : v) EXPECT_EQ(SlabOf(p), SlabOf(v[0]));
  EXPECT_EQ(cache->counters().spans_new[c].Read(), 1u);
  for (void* p : v) Free(*cache, p);
  EXPECT_TRUE(given_back(v[0]));
  cache->Drain();
}

// Another thread's free of a block of a shared L2.5 span goes onto that
// span's remote list, as a Mid block's does (not by the owner's inbox, which
// is for one-block spans), and the owner's next refill of the class takes it.
TEST(ThreadCache, ABlockOfASharedBigSpanFreedByAnotherThreadGoesOntoItsSpan) {
  const int c = SizeToClass(64 << 10);
  ASSERT_FALSE(HasOneBlockSpans(c));
  auto owner = NewCache();
  void* p = Alloc(*owner, c);
  std::vector<void*> held{Alloc(*owner, c)};  // keeps the span in use
  while (void* r = owner->TryPop(c)) held.push_back(r);  // carved ahead: the bin is empty
  for (void* r : held) ASSERT_EQ(SlabOf(r), SlabOf(p));
  auto other = NewCache();
  Free(*other, p);
  other->Drain();
  EXPECT_EQ(SlabOf(p)->remote.Count(), 1u);
  EXPECT_EQ(Alloc(*owner, c), p);
  Free(*owner, p);
  for (void* r : held) Free(*owner, r);
  owner->Drain();
}

// Big blocks stay in their bins only while the thread allocates them fast:
// below kBigBinPopsPerMs a freed one leaves the bin; above it (or a window's
// worth of them in less than a window), it serves the next malloc of its
// class without a refill; when the rate falls again, the bins give their
// blocks back.
TEST(ThreadCache, BigBlocksStayInTheirBinsOnlyWhileAllocatedFast) {
  int c = 0;  // one block per refill: the bin's limit grows with each
  while (c < kNumClasses && !HasOneBlockSpans(c)) ++c;
  ASSERT_LT(c, kNumClasses);
  auto cache = NewCache();
  auto refills = [&] { return cache->counters().refills[c].Read(); };
  auto upkeep_after = [&](uint64_t* now, uint64_t ms) {
    *now += ms;
    cache->Upkeep(*now, 1000, uint64_t{4} << 20);
  };
  uint64_t now = 1000;
  upkeep_after(&now, 0);
  constexpr uint64_t kWindow = ThreadCache::kBigRateWindowMs;
  const uint32_t fast = ThreadCache::kBigBinPopsPerMs * kWindow;

  for (uint32_t i = 0; i < fast / 2; ++i) Free(*cache, Alloc(*cache, c));
  upkeep_after(&now, kWindow);  // half the rate
  Free(*cache, Alloc(*cache, c));
  EXPECT_EQ(cache->CachedBytes(), 0u);

  for (uint32_t i = 0; i < fast; ++i) Free(*cache, Alloc(*cache, c));
  upkeep_after(&now, kWindow);
  void* p = Alloc(*cache, c);  // a refill, after which the bin has room
  Free(*cache, p);
  EXPECT_EQ(cache->CachedBytes(), ClassSize(c));
  const uint64_t before = refills();
  EXPECT_EQ(Alloc(*cache, c), p);
  EXPECT_EQ(refills(), before);
  // Refills let the bin hold more, never beyond kBigBinBlocks.
  std::vector<void*> v{p};
  for (uint32_t i = 0; i < 4 * ThreadCache::kBigBinBlocks; ++i) v.push_back(Alloc(*cache, c));
  for (uint32_t i = 0; i < ThreadCache::kBigBinBlocks; ++i) Free(*cache, v[i]);
  EXPECT_EQ(cache->CachedBytes(), ThreadCache::kBigBinBlocks * ClassSize(c));
  for (size_t i = ThreadCache::kBigBinBlocks; i < v.size(); ++i) Free(*cache, v[i]);
  EXPECT_LE(cache->CachedBytes(), ThreadCache::kBigBinBlocks * ClassSize(c));

  upkeep_after(&now, kWindow);  // far too few allocated in the window
  EXPECT_EQ(cache->CachedBytes(), 0u);

  // A window's worth in less than a window: the bins keep blocks from the
  // next upkeep on, not after the window.
  upkeep_after(&now, kWindow);
  for (uint32_t i = 0; i < fast; ++i) Free(*cache, Alloc(*cache, c));
  upkeep_after(&now, 1);
  p = Alloc(*cache, c);
  Free(*cache, p);
  EXPECT_EQ(cache->CachedBytes(), ClassSize(c));
  cache->Drain();
}

// The same for an L2.5 class whose spans hold several blocks: its bin keeps
// nothing while the thread allocates such blocks slowly, and keeps a freed
// block for the next malloc (no refill) while it allocates them fast.
TEST(ThreadCache, ASharedBigClassKeepsBlocksInItsBinOnlyWhileAllocatedFast) {
  const int c = SizeToClass(64 << 10);
  ASSERT_EQ(TierOfClass(c), Tier::kL25);
  ASSERT_FALSE(HasOneBlockSpans(c));
  auto cache = NewCache();
  uint64_t now = 1000;
  cache->Upkeep(now, 1000, uint64_t{4} << 20);
  constexpr uint64_t kWindow = ThreadCache::kBigRateWindowMs;
  Free(*cache, Alloc(*cache, c));
  EXPECT_EQ(cache->CachedBytes(), 0u);

  for (uint32_t i = 0; i < ThreadCache::kBigBinPopsPerMs * kWindow; ++i) {
    Free(*cache, Alloc(*cache, c));
  }
  now += kWindow;
  cache->Upkeep(now, 1000, uint64_t{4} << 20);
  void* p = Alloc(*cache, c);
  Free(*cache, p);
  EXPECT_GE(cache->CachedBytes(), ClassSize(c));
  const uint64_t refills = cache->counters().refills[c].Read();
  EXPECT_EQ(Alloc(*cache, c), p);
  EXPECT_EQ(cache->counters().refills[c].Read(), refills);
  Free(*cache, p);

  now += kWindow;  // none allocated in the window
  cache->Upkeep(now, 1000, uint64_t{4} << 20);
  EXPECT_EQ(cache->CachedBytes(), 0u);
  cache->Drain();
}

// Aligned requests of a coloured L2.5 class refill as any request does: its
// bin keeps nothing while the thread allocates such blocks slowly, and keeps
// a freed aligned block for the next aligned malloc while it allocates them
// fast (before, the colour-0 refill never grew the bin's limit, and every
// aligned malloc and free laid out a colour-0 span and gave it back).
TEST(ThreadCache, AlignedRequestsOfASharedBigClassKeepBlocksInItsBinWhileAllocatedFast) {
  const int c = SizeToClass(56 << 10);
  constexpr size_t kAlignment = 4096;
  ASSERT_EQ(TierOfClass(c), Tier::kL25);
  ASSERT_GT(kClassInfo[c].colors, 1);
  ASSERT_EQ(ClassSize(c) % kAlignment, 0u);
  auto cache = NewCache();
  auto aligned_pair = [&] {
    void* p = cache->TryPopAligned(c, kAlignment);
    if (p == nullptr) p = cache->AllocColourZero(c, kAlignment);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % kAlignment, 0u);
    Free(*cache, p);
    return p;
  };
  uint64_t now = 1000;
  cache->Upkeep(now, 1000, uint64_t{4} << 20);
  constexpr uint64_t kWindow = ThreadCache::kBigRateWindowMs;
  aligned_pair();
  EXPECT_EQ(cache->CachedBytes(), 0u);

  for (uint32_t i = 0; i < ThreadCache::kBigBinPopsPerMs * kWindow; ++i) aligned_pair();
  now += kWindow;
  cache->Upkeep(now, 1000, uint64_t{4} << 20);
  void* p = aligned_pair();  // a refill, after which the bin has room
  EXPECT_GE(cache->CachedBytes(), ClassSize(c));
  const uint64_t refills = cache->counters().refills[c].Read();
  const uint64_t spans = cache->counters().spans_new[c].Read();
  for (int i = 0; i < 100; ++i) EXPECT_EQ(aligned_pair(), p);
  EXPECT_EQ(cache->counters().refills[c].Read(), refills);
  EXPECT_EQ(cache->counters().spans_new[c].Read(), spans);

  now += kWindow;  // far too few allocated in the window
  cache->Upkeep(now, 1000, uint64_t{4} << 20);
  EXPECT_EQ(cache->CachedBytes(), 0u);
  cache->Drain();
}

// A look at an idle owner that gives nothing back makes the next wait twice
// as long, up to a bound; the owner working again (its upkeep) ends the wait.
TEST(ThreadCache, AnIdleOwnerIsLookedAtLessOftenWhileNothingComesBack) {
  const int c = SizeToClass(512);
  auto owner = NewCache();
  auto other = NewCache();
  std::vector<void*> v;
  std::set<Slab*> spans;
  auto take_all = [&] {  // every block of four spans out
    spans.clear();
    v = TakeWholeSpans(*owner, c, 4, &spans);
  };
  auto free_all = [&] {
    for (void* p : v) Free(*other, p);
    other->Drain();  // in the owner's ring (or on their spans' remote lists): each span can go back
  };
  auto owned = [&] {
    size_t n = 0;
    for (Slab* s : spans) n += s->owner.load() == owner.get();
    return n;
  };
  constexpr uint64_t kFirst = ThreadCache::kIdleLookDelayMs;
  constexpr uint64_t kMax = ThreadCache::kIdleLookMaxDelayMs;
  uint64_t now = 1000;

  // Two empty looks: the next is due twice the first delay after the second.
  take_all();
  owner->ReleaseEmptiedSpansForIdleOwner(now);
  owner->ReleaseEmptiedSpansForIdleOwner(now += kFirst);
  free_all();
  owner->ReleaseEmptiedSpansForIdleOwner(now + 2 * kFirst - 1);
  EXPECT_EQ(owned(), spans.size());  // not looked at yet
  owner->ReleaseEmptiedSpansForIdleOwner(now += 2 * kFirst);
  EXPECT_EQ(owned(), 0u);

  // Many empty looks: the wait stops growing at kIdleLookMaxDelayMs.
  take_all();
  constexpr uint64_t kLater = uint64_t{1} << 32;  // past any wait: every look is made
  for (int i = 0; i < 40; ++i) owner->ReleaseEmptiedSpansForIdleOwner(now += kLater);
  free_all();
  owner->ReleaseEmptiedSpansForIdleOwner(now + kMax - 1);
  EXPECT_EQ(owned(), spans.size());
  owner->ReleaseEmptiedSpansForIdleOwner(now += kMax);
  EXPECT_EQ(owned(), 0u);

  // The owner's upkeep ends a wait: its next idle spell is looked at at once.
  take_all();
  for (int i = 0; i < 3; ++i) owner->ReleaseEmptiedSpansForIdleOwner(now += kLater);
  free_all();
  owner->Upkeep(now, /*decay_ms=*/3600000, /*budget_bytes=*/uint64_t{1} << 40);
  owner->ReleaseEmptiedSpansForIdleOwner(now + 1);
  EXPECT_EQ(owned(), 0u);
  owner->Drain();
}

// The same while the owner is busy refilling and flushing (tsan: every touch
// of the owner's slabs and lists is under its slab lock).
TEST(ThreadCache, GivingBackABusyOwnersSpansRacesWithNothing) {
  const int c = SizeToClass(256);
  auto owner = NewCache();
  std::atomic<bool> done{false};
  std::vector<void*> handed;  // blocks for the other thread, under `mu`
  std::mutex mu;
  std::thread other([&] {
    auto mine = NewCache();
    uint64_t look = 0;  // every look due: the walks race with the owner
    while (!done.load()) {
      std::vector<void*> batch;
      {
        std::lock_guard<std::mutex> l(mu);
        batch.swap(handed);
      }
      for (void* p : batch) Free(*mine, p);
      mine->FlushRemote();
      owner->ReleaseEmptiedSpansForIdleOwner(look += ThreadCache::kIdleLookMaxDelayMs);
    }
    mine->Drain();
  });
  std::vector<void*> live;
  for (int round = 0; round < 200; ++round) {
    for (int i = 0; i < 300; ++i) live.push_back(Alloc(*owner, c));
    std::lock_guard<std::mutex> l(mu);
    for (size_t i = 0; i < live.size(); ++i) {
      if (i % 2 == 0) handed.push_back(live[i]);
      else Free(*owner, live[i]);
    }
    live.clear();
  }
  done.store(true);
  other.join();
  for (void* p : handed) Free(*owner, p);
  owner->Drain();
}

// A structure of a class built and freed in turns: once a turn has drained
// the bin and the next refill grew it (GrowForTurns), the turns stay in the
// bin, with no refill and no flush; turns beyond kTurnBytes keep flushing,
// and no more than that stays in the bin; once the class goes quiet, the
// upkeep gives it all back, and the bin is as small as before the turns.
TEST(ThreadCache, AClassAllocatedAndFreedInTurnsStaysInItsBin) {
  auto cache = NewCache();
  const int c = SizeToClass(1024);
  auto turns = [&](size_t n, int count) {
    std::vector<void*> v(n);
    for (int t = 0; t < count; ++t) {
      for (void*& p : v) p = Alloc(*cache, c);
      for (void* p : v) Free(*cache, p);
      EXPECT_LE(cache->CachedBytes(), ThreadCache::kTurnBytes) << "turn " << t;
    }
  };
  const size_t fits = 3 * ThreadCache::kTurnBytes / ClassSize(c) / 8;  // 3/8 of the bound
  ASSERT_GE(fits, size_t{2 * 2 * 96});  // twice the limit without turns (two refills of 96)
  turns(fits, 3);
  const uint64_t refills = cache->counters().refills[c].Read();
  const uint64_t flushes = cache->counters().flushes.Read();
  turns(fits, 5);
  EXPECT_EQ(cache->counters().refills[c].Read(), refills);
  EXPECT_EQ(cache->counters().flushes.Read(), flushes);

  turns(2 * ThreadCache::kTurnBytes / ClassSize(c), 3);  // twice the bound
  EXPECT_GT(cache->counters().flushes.Read(), flushes);

  turns(fits, 2);  // the last turns: the class is quiet from here on
  EXPECT_GT(cache->CachedBytes(), 0u);
  cache->Upkeep(1000, 1000, uint64_t{4} << 20);  // its allocations since the start
  cache->Upkeep(2000, 1000, uint64_t{4} << 20);  // none: quiet for a decay delay
  EXPECT_EQ(cache->CachedBytes(), 0u);
  const uint64_t flushes_before_quiet_turn = cache->counters().flushes.Read();
  std::vector<void*> v(fits);
  for (void*& p : v) p = Alloc(*cache, c);
  for (void* p : v) Free(*cache, p);  // a turn over the limit of old
  EXPECT_GT(cache->counters().flushes.Read(), flushes_before_quiet_turn);
  cache->Drain();
}

// A refill moves at most RefillBytes(c) worth of blocks: 64 KiB for a Mid
// class of 8 KiB or more, 256 KiB below; a bin holds two refills.
TEST(ThreadCache, ABigMidClassRefillsAtMostItsRefillBytes) {
  for (const size_t size : {size_t{4096}, size_t{16384}}) {
    const int c = SizeToClass(size);
    const uint64_t per_refill = ThreadCache::RefillBytes(c) / ClassSize(c);
    EXPECT_EQ(per_refill, size < ThreadCache::kBigMidClassBytes ? 64u : 4u) << size;
    auto cache = NewCache();
    // 100 blocks freed in a row: within two refills of 4 KiB blocks (128), no
    // flush; far beyond two of 16 KiB (8).
    std::vector<void*> few(100);
    for (void*& p : few) p = Alloc(*cache, c);
    const uint64_t flushes = cache->counters().flushes.Read();
    for (void* p : few) Free(*cache, p);
    EXPECT_EQ(cache->counters().flushes.Read() > flushes, size >= ThreadCache::kBigMidClassBytes)
        << size;
    const size_t n = 256;
    std::vector<void*> v(n);
    for (void*& p : v) p = Alloc(*cache, c);
    for (void* p : v) Free(*cache, p);
    const uint64_t refills = cache->counters().refills[c].Read();
    for (void*& p : v) p = Alloc(*cache, c);
    const uint64_t taken = cache->counters().refills[c].Read() - refills;
    // None moved more (a refill may move fewer: one slab's freed blocks).
    EXPECT_GE(taken * per_refill, n - 2 * per_refill) << size;  // the bin held up to two
    for (void* p : v) Free(*cache, p);
    cache->Drain();
  }
}

TEST(ThreadCache, BlocksFreedBackComeBeforeNeverUsedOnes) {
  auto cache = NewCache();
  const int c = SizeToClass(256);
  const uint32_t capacity = kClassInfo[c].capacity;
  std::vector<void*> first;  // span A, carved to its end
  for (uint32_t i = 0; i < capacity; ++i) first.push_back(Alloc(*cache, c));
  Slab* a = SlabOf(first[0]);
  ASSERT_EQ(SlabOf(first.back()), a);
  void* extra = Alloc(*cache, c);  // span B, the current one, with room left
  Slab* b = SlabOf(extra);
  ASSERT_NE(b, a);
  const uint32_t b_carved = b->Carved();
  ASSERT_LT(b_carved, capacity * ClassSize(c));
  // A's blocks come back (the bin gives them to A's free list) while B keeps
  // its room: every later allocation takes them, and B carves nothing.
  for (void* p : first) Free(*cache, p);
  for (void*& p : first) p = Alloc(*cache, c);
  EXPECT_EQ(b->Carved(), b_carved);
  // With Fresh::kNo a refill takes freed blocks only: nothing freed is left.
  while (void* p = cache->TryPop(c)) first.push_back(p);
  EXPECT_EQ(cache->Refill(c, ThreadCache::Fresh::kNo), nullptr);
  EXPECT_EQ(b->Carved(), b_carved);
  first.push_back(cache->Refill(c));  // now B's room
  EXPECT_EQ(SlabOf(first.back()), b);
  EXPECT_GT(b->Carved(), b_carved);
  for (void* p : first) Free(*cache, p);
  Free(*cache, extra);
  cache->Drain();
}

TEST(ThreadCache, FlushedBlocksReachTheirSlabsInRunsAndInterleaved) {
  TrimSuperSlabs();
  const uint64_t before = LiveSuperSlabs();
  {
    auto cache = NewCache();
    const int c = SizeToClass(512);
    const uint32_t capacity = kClassInfo[c].capacity;
    std::vector<void*> v;
    for (uint32_t i = 0; i < 3 * capacity; ++i) v.push_back(Alloc(*cache, c));
    // Freed interleaved (runs of one block), then in order (long runs): the
    // bin overflows and flushes both kinds back to the three slabs.
    for (uint32_t i = 0; i < capacity; ++i) {
      Free(*cache, v[i]);
      Free(*cache, v[2 * capacity + i]);
    }
    for (uint32_t i = capacity; i < 2 * capacity; ++i) Free(*cache, v[i]);
    // Every block is back: a refill hands out only blocks of these slabs,
    // each once.
    std::set<void*> again;
    for (uint32_t i = 0; i < 3 * capacity; ++i) again.insert(Alloc(*cache, c));
    EXPECT_EQ(again, std::set<void*>(v.begin(), v.end()));
    for (void* p : again) Free(*cache, p);
    cache->Drain();
  }
  TrimSuperSlabs();  // every span emptied and went back: the counts were right
  EXPECT_EQ(LiveSuperSlabs(), before);
}

// A fake span source for the Mid tier: records the calls, keeps up to 2 spans.
struct FakeSource {
  static inline int refills = 0;
  static inline std::vector<Slab*> idle;
  static uint32_t PerRefill(int) {
    ++refills;
    return 3;
  }
  static uint32_t Take(int c, uint32_t, Slab** out, uint32_t max) {
    uint32_t n = 0;
    while (n < max && !idle.empty() && idle.back()->size_class == c) {
      out[n++] = idle.back();
      idle.pop_back();
    }
    return n;
  }
  static bool Keep(Slab* s, uint32_t, SpanDemand) {
    if (idle.size() >= 2) return false;
    idle.push_back(s);
    return true;
  }
  // The Mid tier without a source again, and the spans kept given back.
  static void Uninstall() {
    InstallSpanSource(Tier::kMid, nullptr);
    for (Slab* s : idle) ReleaseSpan(s);
    idle.clear();
  }
};

TEST(ThreadCache, ATierSpanSourceIsAskedForSpansAndKeepsEmptiedOnes) {
  static constexpr SpanSource kFake = {FakeSource::PerRefill, FakeSource::Take, FakeSource::Keep};
  InstallSpanSource(Tier::kMid, &kFake);
  const int c = SizeToClass(8192);
  ASSERT_EQ(TierOfClass(c), Tier::kMid);
  auto cache = NewCache();
  std::vector<void*> v;
  for (uint32_t i = 0; i < 2 * kClassInfo[c].capacity; ++i) v.push_back(Alloc(*cache, c));
  EXPECT_GE(FakeSource::refills, 1);
  EXPECT_GE(cache->counters().spans_new[c].Read(), 2u);
  for (void* p : v) Free(*cache, p);
  cache->Drain();
  EXPECT_EQ(FakeSource::idle.size(), 2u);
  // The next cache's refill reuses them before asking for new spans.
  auto next = NewCache();
  void* p = Alloc(*next, c);
  EXPECT_EQ(next->counters().spans_reused[c].Read(), 2u);
  Free(*next, p);
  next->Drain();
  FakeSource::Uninstall();
}

// A refill takes an idle span of the class (resident) before it carves more
// of its current slab (never-touched memory).
TEST(ThreadCache, AnIdleSpanComesBeforeTheCurrentSlabsRoom) {
  static constexpr SpanSource kFake = {FakeSource::PerRefill, FakeSource::Take, FakeSource::Keep};
  InstallSpanSource(Tier::kMid, &kFake);
  const int c = SizeToClass(8192);
  auto cache = NewCache();
  std::vector<void*> live{Alloc(*cache, c)};
  Slab* current = SlabOf(live[0]);
  while (void* p = cache->TryPop(c)) live.push_back(p);
  const uint32_t carved = current->Carved();
  ASSERT_GT(current->UncarvedBlocks(), 0u);
  // Another cache's spans empty and go idle.
  auto other = NewCache();
  void* q = Alloc(*other, c);
  ASSERT_NE(SlabOf(q), current);
  Free(*other, q);
  other->Drain();
  ASSERT_FALSE(FakeSource::idle.empty());
  const std::set<Slab*> idle(FakeSource::idle.begin(), FakeSource::idle.end());
  const uint64_t reused = cache->counters().spans_reused[c].Read();
  void* p = cache->Refill(c);
  EXPECT_TRUE(idle.count(SlabOf(p)));
  EXPECT_EQ(current->Carved(), carved);
  EXPECT_EQ(cache->counters().spans_reused[c].Read(), reused + 1);  // one span, not a batch
  live.push_back(p);
  // With no idle span left, the current slab's room comes next.
  for (Slab* s : FakeSource::idle) ReleaseSpan(s);
  FakeSource::idle.clear();
  while (current->Carved() == carved && live.size() < 10000) live.push_back(Alloc(*cache, c));
  EXPECT_GT(current->Carved(), carved);
  for (void* b : live) Free(*cache, b);
  cache->Drain();
  FakeSource::Uninstall();
}

// An aligned request that needs a colour-0 span takes an idle span of the
// class (resident, no live block) before a new one, laid out again at colour
// 0 if its blocks started elsewhere.
TEST(ThreadCache, AnIdleSpanIsLaidOutAtColourZeroForAnAlignedRequest) {
  static constexpr SpanSource kFake = {FakeSource::PerRefill, FakeSource::Take, FakeSource::Keep};
  InstallSpanSource(Tier::kMid, &kFake);
  const int c = SizeToClass(8192);
  ASSERT_EQ(TierOfClass(c), Tier::kMid);
  ASSERT_GT(kClassInfo[c].colors, 1);
  // Another cache's spans empty and go idle.
  auto other = NewCache();
  Free(*other, Alloc(*other, c));
  other->Drain();
  ASSERT_FALSE(FakeSource::idle.empty());
  // The one the source hands out next, laid out at a hashed colour (0 for
  // one span in 64: then it is taken as it is).
  Slab* next_idle = FakeSource::idle.back();
  auto cache = NewCache();
  void* p = cache->AllocColourZero(c, 8192);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % 8192, 0u);
  EXPECT_EQ(SlabOf(p), next_idle);
  EXPECT_TRUE(SlabOf(p)->StartsAtColourZero());
  EXPECT_EQ(cache->counters().spans_reused[c].Read(), 1u);
  EXPECT_EQ(cache->counters().spans_new[c].Read(), 0u);
  Free(*cache, p);
  cache->Drain();
  FakeSource::Uninstall();
}

TEST(ThreadCache, AQuietClassGivesItsCachedBlocksBack) {
  auto cache = NewCache();
  const int quiet = SizeToClass(700);
  const int busy = SizeToClass(40);
  std::vector<void*> v;
  for (int i = 0; i < 50; ++i) v.push_back(Alloc(*cache, quiet));
  Slab* slab = SlabOf(v[0]);
  for (void* p : v) Free(*cache, p);  // into the bin
  EXPECT_GT(slab->used, 0u);          // the bin's blocks count as used
  cache->TrimQuietBins(1000, 1000);   // first look: remembers the counts
  Free(*cache, Alloc(*cache, busy));  // only the busy class is used meanwhile
  cache->TrimQuietBins(2000, 1000);   // the quiet class hands its blocks back
  EXPECT_EQ(cache->TryPop(quiet), nullptr);
  EXPECT_NE(cache->TryPop(busy), nullptr);
  cache->Drain();
}

TEST(ThreadCache, ABinOfAClassOnlyBeingFreedGivesItAllBackAndGrowsWithDemand) {
  auto cache = NewCache();
  const int c = SizeToClass(4096);
  std::vector<void*> v;
  for (int i = 0; i < 2000; ++i) v.push_back(Alloc(*cache, c));
  for (void* p : v) Free(*cache, p);  // a structure freed, nothing allocated meanwhile
  // The bin kept next to nothing: each block it kept would pin a span whose
  // other blocks are all free (it used to keep up to two refills' worth).
  std::vector<void*> kept;
  while (void* p = cache->TryPop(c)) kept.push_back(p);
  EXPECT_LE(kept.size(), 8u);
  for (void* p : kept) Free(*cache, p);
  // Demand again: refills let the bin grow back, so blocks freed now stay.
  v.clear();
  for (int i = 0; i < 500; ++i) v.push_back(Alloc(*cache, c));
  for (int i = 0; i < 100; ++i) Free(*cache, v[i]);
  kept.clear();
  while (void* p = cache->TryPop(c)) kept.push_back(p);
  EXPECT_GE(kept.size(), 100u);
  for (void* p : kept) Free(*cache, p);
  for (int i = 100; i < 500; ++i) Free(*cache, v[i]);
  cache->Drain();
}

// A flush that keeps the bin's newest half puts the older half aside whole
// (its stash), not on its slabs: the next refill takes exactly those blocks
// back with no walk over them either way. A bin that is emptied again later
// (the thread exits) gives the stash back with it.
// 1000 blocks of class c (64 B: one span holds them all) allocated with the
// bin left empty, then freed in order up to the bin's first flush, which is
// not a class being given back (blocks were handed out since the last one).
struct FreedToAFlush {
  std::vector<void*> blocks;
  size_t freed;  // blocks[0, freed)
};
FreedToAFlush FreeUpToTheFirstFlush(ThreadCache& cache, int c) {
  FreedToAFlush r{{}, 0};
  for (int i = 0; i < 1000; ++i) r.blocks.push_back(Alloc(cache, c));
  while (void* p = cache.TryPop(c)) r.blocks.push_back(p);
  const uint64_t flushes = cache.counters().flushes.Read();
  while (cache.counters().flushes.Read() == flushes && r.freed < r.blocks.size()) {
    Free(cache, r.blocks[r.freed++]);
  }
  return r;
}

TEST(ThreadCache, AFlushedHalfGoesAsideWholeForTheNextRefill) {
  TrimSuperSlabs();
  const uint64_t before = LiveSuperSlabs();
  {
    auto cache = NewCache();
    const int c = SizeToClass(64);
    auto [v, freed] = FreeUpToTheFirstFlush(*cache, c);
    Slab* s = SlabOf(v[0]);
    ASSERT_EQ(SlabOf(v.back()), s);
    const uint32_t carved = s->Carved();
    ASSERT_LT(freed, v.size());
    EXPECT_GT(freed, 8u);
    EXPECT_EQ(s->local_count, 0u);  // nothing went to the slab
    EXPECT_EQ(s->used, v.size());   // the stash counts as used, as the bin does
    // The bin's half and then the stash: only blocks freed above, each once.
    const std::set<void*> freed_set(v.begin(), v.begin() + freed);
    std::set<void*> again;
    while (void* p = cache->TryPop(c)) again.insert(p);
    const size_t in_bin = again.size();
    EXPECT_LT(in_bin, freed);
    again.insert(cache->Refill(c));
    while (void* p = cache->TryPop(c)) again.insert(p);
    EXPECT_EQ(again, freed_set);
    EXPECT_EQ(s->Carved(), carved);  // nothing new carved
    EXPECT_EQ(s->local_count, 0u);
    // Freed again and then some: the stash and the bin go back on Drain.
    for (void* p : again) Free(*cache, p);
    for (size_t i = freed; i < v.size(); ++i) Free(*cache, v[i]);
    cache->Drain();
  }
  TrimSuperSlabs();  // the span emptied and went back: nothing stayed aside
  EXPECT_EQ(LiveSuperSlabs(), before);
}

// An L2.5 bin keeps no block, and so no stash either: freed blocks go back
// to their span at once.
TEST(ThreadCache, ABinThatKeepsNothingStashesNothing) {
  auto cache = NewCache();
  const int c = SizeToClass(48 << 10);
  ASSERT_EQ(TierOfClass(c), Tier::kL25);
  void* a = Alloc(*cache, c);
  void* b = Alloc(*cache, c);
  Free(*cache, a);
  Free(*cache, b);
  EXPECT_EQ(cache->CachedBytes(), 0u);
  cache->Drain();
}

// The bins' byte budget counts a stash and gives it back first, also when
// the bin in front of it has been emptied by the program.
TEST(ThreadCache, TheBinBudgetGivesAStashBackBehindAnEmptyBin) {
  auto cache = NewCache();
  const int c = SizeToClass(64);
  auto [v, freed] = FreeUpToTheFirstFlush(*cache, c);
  ASSERT_LT(freed, v.size());
  Slab* s = SlabOf(v[0]);
  std::vector<void*> again;
  while (void* p = cache->TryPop(c)) again.push_back(p);  // the bin is empty again
  ASSERT_EQ(s->local_count, 0u);
  cache->Upkeep(/*now_ms=*/1, /*decay_ms=*/1000000, /*budget_bytes=*/0);
  EXPECT_EQ(s->local_count, freed - again.size());  // the stash went to its slab
  EXPECT_EQ(s->used, v.size() - s->local_count);
  for (void* p : again) Free(*cache, p);
  for (size_t i = freed; i < v.size(); ++i) Free(*cache, v[i]);
  cache->Drain();
}

// A long run of frees of tiny blocks drains the bin in flushes of 4 KiB, 64
// blocks at most: at 4 blocks each flush's calls and slab update came every
// fifth free, at 16 they were still a tenth of malloc and free's
// instructions. It still drains: the bin does not keep its full limit.
TEST(ThreadCache, ABinOfTinyBlocksDrainsInFlushesOfFourKiB) {
  for (const size_t size : {16, 64, 256}) {
    auto cache = NewCache();
    const int c = SizeToClass(size);
    const uint64_t per_flush = std::min<uint64_t>(64, 4096 / size);
    constexpr int kBlocks = 20000;
    std::vector<void*> v;
    for (int i = 0; i < kBlocks; ++i) v.push_back(Alloc(*cache, c));
    const uint64_t flushes_before = cache->counters().flushes.Read();
    for (void* p : v) Free(*cache, p);
    const uint64_t flushes = cache->counters().flushes.Read() - flushes_before;
    EXPECT_LE(flushes, kBlocks / per_flush + 16) << size;
    EXPECT_GT(flushes, kBlocks / per_flush / 2) << size;
    std::vector<void*> kept;
    while (void* p = cache->TryPop(c)) kept.push_back(p);
    EXPECT_LE(kept.size(), per_flush) << size;
    for (void* p : kept) Free(*cache, p);
    cache->Drain();
  }
}

// Empties bin c into `live`, then refills it: how many blocks the refill
// moved (all of them end up in `live`).
uint32_t RefillSize(ThreadCache& cache, int c, std::vector<void*>& live) {
  while (void* p = cache.TryPop(c)) live.push_back(p);
  const size_t before = live.size();
  live.push_back(cache.Refill(c));
  while (void* p = cache.TryPop(c)) live.push_back(p);
  return static_cast<uint32_t>(live.size() - before);
}

// A thread's first refill of a class moves 8 blocks, and no more than 64 KiB
// worth: a thread that allocates one 32 KiB block keeps one more, not seven.
// (Carving moves less still: see the next test.)
TEST(ThreadCache, TheFirstRefillOfABigClassMovesFewBlocks) {
  auto cache = NewCache();
  EXPECT_EQ(cache->FirstBatch(SizeToClass(256)), 8u);
  EXPECT_EQ(cache->FirstBatch(SizeToClass(16384)), 4u);
  EXPECT_EQ(cache->FirstBatch(SizeToClass(32768)), 2u);
  std::vector<void*> live;
  EXPECT_EQ(RefillSize(*cache, SizeToClass(256), live), 8u);
  for (void* p : live) Free(*cache, p);
  cache->Drain();
}

// A refill that must carve carves a page's worth (at least one block), a
// page more for each refill in a row that carved, up to what it wants; one
// served by freed blocks starts that over. Blocks carved ahead of need are
// written, so resident, and of use to their class only.
TEST(ThreadCache, ARefillCarvesAPageAheadAndMoreWhileTheClassGrows) {
  auto cache = NewCache();
  const int c = SizeToClass(1024);  // 4 blocks to a page
  std::vector<void*> live;
  std::vector<uint32_t> growing;
  for (int i = 0; i < 4; ++i) growing.push_back(RefillSize(*cache, c, live));
  EXPECT_EQ(growing, (std::vector<uint32_t>{4, 8, 12, 16}));
  // Two blocks come home from another thread; the next refill takes them.
  auto other = NewCache();
  for (int i = 0; i < 2; ++i) {
    Free(*other, live.back());
    live.pop_back();
  }
  other->Drain();  // pushes them to their owner's remote list
  EXPECT_EQ(RefillSize(*cache, c, live), 2u);
  EXPECT_EQ(RefillSize(*cache, c, live), 4u);  // carving starts over
  // A block bigger than a page: one at a time.
  EXPECT_EQ(RefillSize(*cache, SizeToClass(16384), live), 1u);
  EXPECT_EQ(RefillSize(*cache, SizeToClass(16384), live), 2u);
  for (void* p : live) Free(*cache, p);
  cache->Drain();
}

// Refills of a class that come 50 ms or more apart move fewer blocks each
// time, down to one; quick refills double them again.
TEST(ThreadCache, ARarelyRefilledClassMovesFewerBlocks) {
  auto cache = NewCache();
  const int c = SizeToClass(256);
  std::vector<void*> live;
  uint64_t now = 1000;
  cache->Upkeep(now, /*decay_ms=*/1000000, /*budget_bytes=*/uint64_t{1} << 40);
  std::vector<uint32_t> quick;
  for (int i = 0; i < 3; ++i) quick.push_back(RefillSize(*cache, c, live));
  EXPECT_EQ(quick, (std::vector<uint32_t>{8, 16, 32}));
  uint32_t last = quick.back();
  for (int i = 0; i < 8; ++i) {
    now += 100;
    cache->Upkeep(now, 1000000, uint64_t{1} << 40);
    const uint32_t n = RefillSize(*cache, c, live);
    EXPECT_LE(n, last) << "refill " << i << " after a 100 ms gap";
    last = n;
  }
  EXPECT_EQ(last, 1u);
  // Quick again: doubling from there.
  EXPECT_EQ(RefillSize(*cache, c, live), 1u);
  EXPECT_EQ(RefillSize(*cache, c, live), 2u);
  EXPECT_EQ(RefillSize(*cache, c, live), 4u);
  for (void* p : live) Free(*cache, p);
  cache->Drain();
}

// A class whose refills became rare still borrows a first refill's worth
// ahead (W_MAX): living on borrowed blocks, it does not refill to grow back.
TEST(ThreadCache, ARareClassStillBorrowsAFirstRefillsWorthAhead) {
  auto cache = NewCache();
  const int c = SizeToClass(256);
  const int d = SizeToClass(320);
  std::vector<void*> live;
  uint64_t now = 1000;
  uint32_t last = 0;
  for (int i = 0; i < 10; ++i) {
    now += 100;
    cache->Upkeep(now, 1000000, uint64_t{1} << 40);
    last = RefillSize(*cache, c, live);
  }
  ASSERT_EQ(last, 1u);
  std::vector<void*> lender;
  for (int i = 0; i < 64; ++i) lender.push_back(Alloc(*cache, d));
  for (void* p : lender) Free(*cache, p);  // into bin d
  live.push_back(cache->Borrow(d, c, 256, /*lend_ahead=*/true));
  ASSERT_NE(live.back(), nullptr);
  uint32_t ahead = 0;
  while (void* p = cache->TryPop(c)) live.push_back(p), ++ahead;
  EXPECT_EQ(ahead, cache->FirstBatch(c) - 1);
  for (void* p : live) Free(*cache, p);
  cache->Drain();
}

// A bin running low keeps another owner's block only while the class is in
// an exchange (or, below, its owner is a partner: PassingRing): an exchange
// starts after four windows of 256 allocations in a row in
// which others' blocks freed came to 7/8 of them (a burst of queued frees
// is not an exchange) and its own freed to no more than 1/8 (a thread
// freeing its own blocks too is not living on others'), and stops after a
// window in which others' fell below a quarter.
struct ForeignFrees {
  int windows;                  // of 256 allocations of the class
  int allocs_per_foreign_free;  // 0: none
  int allocs_per_own_free = 0;  // 0: none
};

bool KeepsAForeignBlockAfter(std::initializer_list<ForeignFrees> runs) {
  const int c = SizeToClass(64);
  auto owner = NewCache();
  auto cache = NewCache();
  std::vector<void*> theirs, mine;
  for (int i = 0; i < 16 * 256; ++i) theirs.push_back(Alloc(*owner, c));
  for (const ForeignFrees& run : runs) {
    for (int i = 0; i < run.windows * 256; ++i) {
      mine.push_back(Alloc(*cache, c));
      if (run.allocs_per_foreign_free != 0 && i % run.allocs_per_foreign_free == 0) {
        Free(*cache, theirs.back());
        theirs.pop_back();
      }
      if (run.allocs_per_own_free != 0 && i % run.allocs_per_own_free == 0) {
        Free(*cache, mine.back());
        mine.pop_back();
      }
    }
  }
  while (void* p = cache->TryPop(c)) mine.push_back(p);
  void* probe = theirs.back();
  theirs.pop_back();
  Free(*cache, probe);  // into an empty bin
  void* next = cache->TryPop(c);
  const bool kept = next == probe;
  if (next != nullptr) mine.push_back(next);
  for (void* p : mine) Free(*cache, p);
  for (void* p : theirs) Free(*owner, p);
  cache->Drain();
  owner->Drain();
  return kept;
}

TEST(ThreadCache, OnlyAThreadLivingOnOthersBlocksKeepsThem) {
  EXPECT_TRUE(KeepsAForeignBlockAfter({{5, 1}}));
  EXPECT_FALSE(KeepsAForeignBlockAfter({{3, 1}}));  // not yet
  EXPECT_FALSE(KeepsAForeignBlockAfter({{8, 4}}));  // a quarter (rptest)
  EXPECT_FALSE(KeepsAForeignBlockAfter({{3, 1}, {1, 4}, {3, 1}}));  // bursts
  // Others' blocks as fast as it allocates, and its own at half that: rptest
  // while the partner runs faster. Those frees of its own say it is not
  // living on the partner's blocks.
  EXPECT_FALSE(KeepsAForeignBlockAfter({{8, 1, 2}}));
  EXPECT_TRUE(KeepsAForeignBlockAfter({{5, 1, 16}}));  // a few of its own
}

TEST(ThreadCache, AnExchangeGoesOnAtHalfAndEndsBelowAQuarter) {
  // Once both keep, threads trading blocks free about as many of their own
  // as of the other's.
  EXPECT_TRUE(KeepsAForeignBlockAfter({{5, 1}, {4, 2}}));
  EXPECT_FALSE(KeepsAForeignBlockAfter({{5, 1}, {1, 8}}));
  EXPECT_FALSE(KeepsAForeignBlockAfter({{5, 1}, {1, 0}}));
}

// In an exchange, others' blocks are kept on free's fast path only while the
// bin is low: of a long run of them freed into an empty bin, some stay and
// the rest go home, none lost.
TEST(ThreadCache, AnExchangeKeepsOthersBlocksOnlyWhileTheBinIsLow) {
  const int c = SizeToClass(64);
  auto owner = NewCache();
  auto cache = NewCache();
  std::vector<void*> theirs, mine;
  for (int i = 0; i < 16 * 256; ++i) theirs.push_back(Alloc(*owner, c));
  for (int i = 0; i < 5 * 256; ++i) {  // into an exchange
    mine.push_back(Alloc(*cache, c));
    Free(*cache, theirs.back());
    theirs.pop_back();
  }
  while (void* p = cache->TryPop(c)) mine.push_back(p);
  constexpr int kRun = 2000;
  std::vector<void*> run(theirs.end() - kRun, theirs.end());
  theirs.resize(theirs.size() - kRun);
  // What goes home is chained onto the slabs, not sent by the owner's ring
  // (ThreadCache::GoesByRing: it would fill the owner's bins, which then
  // keep less of this cache's blocks).
  std::set<Slab*> run_slabs;
  for (void* p : run) run_slabs.insert(SlabOf(p));
  auto on_remote_lists = [&] {
    uint64_t n = 0;
    for (Slab* s : run_slabs) n += s->remote.Count();
    return n;
  };
  cache->FlushRemote();
  const uint64_t listed_before = on_remote_lists();
  const uint64_t home_before = cache->counters().remote_frees.Read();
  for (void* p : run) Free(*cache, p);
  const uint64_t sent_home = cache->counters().remote_frees.Read() - home_before;
  cache->FlushRemote();
  EXPECT_EQ(on_remote_lists() - listed_before, sent_home);
  std::vector<void*> kept;
  while (void* p = cache->TryPop(c)) kept.push_back(p);
  EXPECT_GT(kept.size(), 0u);
  EXPECT_GT(sent_home, 0u);
  EXPECT_EQ(kept.size() + sent_home, size_t{kRun});
  for (void* p : kept) EXPECT_NE(std::find(run.begin(), run.end(), p), run.end());
  for (void* p : kept) Free(*owner, p);
  for (void* p : mine) Free(*cache, p);
  cache->Drain();
  for (void* p : theirs) Free(*owner, p);
  owner->Drain();
}

// Two threads trading batches (on one thread here): a and b trade batches
// of 32 blocks of class c for 200 rounds, each freeing the other's last
// batch, then allocating its next. Returns how many of the frees of the
// second half went home (of 6,400).
uint64_t SentHomeTradingBatches(ThreadCache& a, ThreadCache& b, int c) {
  std::vector<void*> from_a, from_b;
  uint64_t sent_home_at_half = 0;
  constexpr int kRounds = 200;
  for (int round = 0; round < kRounds; ++round) {
    if (round == kRounds / 2) {
      sent_home_at_half = a.counters().remote_frees.Read() + b.counters().remote_frees.Read();
    }
    for (void* p : from_b) Free(a, p);
    from_b.clear();
    for (void* p : from_a) Free(b, p);
    from_a.clear();
    for (int i = 0; i < 32; ++i) {
      from_a.push_back(Alloc(a, c));
      from_b.push_back(Alloc(b, c));
    }
  }
  const uint64_t sent_home =
      a.counters().remote_frees.Read() + b.counters().remote_frees.Read() - sent_home_at_half;
  for (void* p : from_a) Free(b, p);
  for (void* p : from_b) Free(a, p);
  return sent_home;
}
constexpr uint64_t kTradedInSecondHalf = 100 * 2 * 32;

// A refill that took the chain of its own blocks that came home once left
// the bin at the keep threshold for every free of the batch, so every block
// went home, each time. Once the exchange is seen, nearly all are kept.
TEST(ThreadCache, ThreadsTradingBatchesOfOneSizeKeepEachOthersBlocks) {
  auto a = NewCache();
  auto b = NewCache();
  EXPECT_LT(SentHomeTradingBatches(*a, *b, SizeToClass(64)), kTradedInSecondHalf / 20);  // < 5 %
  a->Drain();
  b->Drain();
}

// Threads that pass a quarter of their blocks on (rptest), simulated in turns
// on one thread: each Step, cache i replaces a random one of its 64 live
// blocks of class c with a new one, passing every fourth replaced block to
// the next cache (i + 1 mod n) and freeing the others, and frees a block the
// previous cache passed it, if any. Counts the other caches' blocks cache 0
// frees.
class PassingRing {
 public:
  PassingRing(int n, int c) : n_(n), c_(c), live_(n), passed_(n) {
    for (int i = 0; i < n; ++i) {
      caches_.push_back(NewCache());
      for (int j = 0; j < 64; ++j) live_[i].push_back(Alloc(*caches_[i], c));
    }
  }
  ~PassingRing() {
    for (int i = 0; i < n_; ++i) {
      for (void* p : live_[i]) Free(*caches_[i], p);
      for (void* p : passed_[i]) Free(*caches_[i], p);
    }
    // Twice: a later cache's drain sends kept blocks home to an earlier one.
    for (int round = 0; round < 2; ++round) {
      for (auto& cache : caches_) cache->Drain();
    }
  }
  void Step() {
    for (int i = 0; i < n_; ++i) {
      void*& slot = live_[i][rng_() % 64];
      if (step_ % 4 == 0) {
        passed_[(i + 1) % n_].push_back(slot);
      } else {
        FreeInto(i, slot);
      }
      slot = Alloc(*caches_[i], c_);
      if (!passed_[i].empty()) {
        FreeInto(i, passed_[i].back());
        passed_[i].pop_back();
      }
    }
    ++step_;
  }
  ThreadCache& cache(int i) { return *caches_[i]; }
  // Eight windows of steps: two caches are partners by then.
  void MakePartners() {
    for (int i = 0; i < 8 * 256; ++i) Step();
  }
  int64_t others_freed_by_0 = 0;

 private:
  void FreeInto(int i, void* p) {
    if (i == 0 && SlabOf(p)->owner.load(std::memory_order_relaxed) != caches_[0].get()) {
      ++others_freed_by_0;
    }
    Free(*caches_[i], p);
  }
  const int n_;
  const int c_;
  std::mt19937 rng_{7};
  uint64_t step_ = 0;
  std::vector<std::unique_ptr<ThreadCache>> caches_;
  std::vector<std::vector<void*>> live_, passed_;
};

// After `windows` windows (256 steps each) of a PassingRing of n caches:
// how many of the others' blocks cache 0 freed in the last window stayed in
// its bin (freed, less those sent home); *others_freed: how many it freed.
int64_t RingKeptInLastWindow(int n, int windows, int64_t* others_freed) {
  PassingRing ring(n, SizeToClass(64));
  for (int i = 0; i < (windows - 1) * 256; ++i) ring.Step();
  ring.others_freed_by_0 = 0;
  const uint64_t home_before = ring.cache(0).counters().remote_frees.Read();
  for (int i = 0; i < 256; ++i) ring.Step();
  *others_freed = ring.others_freed_by_0;
  return ring.others_freed_by_0 -
         static_cast<int64_t>(ring.cache(0).counters().remote_frees.Read() - home_before);
}

// Two such threads are partners (each frees the other's blocks): some of
// the blocks its partner passed stay in its bin while it is low. In a ring
// of three or four, none does: every thread would end up holding all the
// others' blocks.
TEST(ThreadCache, PartnersKeepEachOthersBlocksARingDoesNot) {
  int64_t freed = 0;
  EXPECT_GT(RingKeptInLastWindow(2, 8, &freed), 0);
  EXPECT_EQ(RingKeptInLastWindow(2, 3, &freed), 0);  // not yet: four windows in a row first
  EXPECT_GT(freed, 0);
  EXPECT_EQ(RingKeptInLastWindow(3, 8, &freed), 0);
  EXPECT_GT(freed, 0);
  EXPECT_EQ(RingKeptInLastWindow(4, 8, &freed), 0);
  EXPECT_GT(freed, 0);
}

// Partners of which one stops freeing the other's blocks (it only allocates
// now, and the other frees its blocks: a producer and a consumer) are
// partners no more: a window of refills later, the consumer keeps none of
// the producer's blocks (its allocations get none of them).
TEST(ThreadCache, PartnersPartWhenOneStopsFreeingTheOthersBlocks) {
  const int c = SizeToClass(64);
  PassingRing ring(2, c);
  ring.MakePartners();
  ThreadCache& consumer = ring.cache(0);
  ThreadCache& producer = ring.cache(1);
  int producers_reused = 0;  // the producer's blocks the consumer allocated
  auto produce_and_consume = [&] {
    std::vector<void*> batch, own;
    for (int i = 0; i < 64; ++i) batch.push_back(Alloc(producer, c));
    for (int i = 0; i < 64; ++i) own.push_back(Alloc(consumer, c));
    while (void* p = consumer.TryPop(c)) own.push_back(p);  // a low bin: it would keep
    for (void* p : own) producers_reused += SlabOf(p)->owner.load() == &producer;
    for (void* p : batch) Free(consumer, p);
    for (void* p : own) Free(consumer, p);
  };
  for (int round = 0; round < 2 * 256 / 64; ++round) produce_and_consume();
  EXPECT_GT(producers_reused, 0);  // still partners for a window or two
  for (int round = 0; round < 4 * 256 / 64; ++round) produce_and_consume();
  producers_reused = 0;
  for (int round = 0; round < 4 * 256 / 64; ++round) produce_and_consume();
  EXPECT_EQ(producers_reused, 0);
}

// A thread whose frees are its own takes free's own-block branch. One that
// frees a share of another's blocks among its own (a quarter, at random:
// rptest) frees every block on the mixed path (no branch on the owner),
// where its own blocks still go onto the bin and nothing is handed out
// twice; a window of frees of its own later (no refill needed), it takes
// the branch again.
TEST(ThreadCache, AThreadFreeingMixedOwnersTakesTheMixedPathUntilItStops) {
  const int c = SizeToClass(64);
  {
    auto solo = NewCache();
    std::vector<void*> v;
    for (int i = 0; i < 4 * 256; ++i) v.push_back(Alloc(*solo, c));
    for (void* p : v) Free(*solo, p);
    EXPECT_FALSE(solo->FreesMixOwners());
    solo->Drain();
  }
  PassingRing ring(2, c);
  ring.MakePartners();
  ThreadCache& cache = ring.cache(0);
  EXPECT_TRUE(cache.FreesMixOwners());
  EXPECT_TRUE(ring.cache(1).FreesMixOwners());

  std::vector<void*> own;
  for (int i = 0; i < 200; ++i) own.push_back(Alloc(cache, c));
  ASSERT_TRUE(cache.FreesMixOwners());
  for (void* p : own) Free(cache, p);
  void* top = cache.TryPop(c);
  ASSERT_EQ(top, own.back());
  Free(cache, top);
  // Its own blocks only, from a warm bin (no refill): a free of its own
  // ends the window, whose verdict ends the mixing.
  for (int i = 0; i < 3 * 256; ++i) Free(cache, Alloc(cache, c));
  EXPECT_FALSE(cache.FreesMixOwners());
  std::set<void*> handed_out;
  for (int i = 0; i < 4 * 256; ++i) {
    void* p = Alloc(cache, c);
    EXPECT_TRUE(handed_out.insert(p).second) << p;
  }
  for (void* p : handed_out) Free(cache, p);
}

// Partners that go on to live on each other's blocks alone (trading batches
// of 32, as ThreadsTradingBatchesOfOneSizeKeepEachOthersBlocks) become an
// exchange and keep nearly all of them: the blocks they kept as partners do
// not count as frees of their own.
TEST(ThreadCache, PartnersThatTradeAllTheirBlocksBecomeAnExchange) {
  const int c = SizeToClass(64);
  PassingRing ring(2, c);
  ring.MakePartners();
  EXPECT_LT(SentHomeTradingBatches(ring.cache(0), ring.cache(1), c),
            kTradedInSecondHalf / 20);  // < 5 %
}

// One round of a batch program: ~13 MiB of blocks allocated, touched, freed.
void AllocTouchFreeRound(int c, uint32_t blocks) {
  auto cache = NewCache();
  std::vector<void*> v;
  for (uint32_t i = 0; i < blocks; ++i) {
    v.push_back(Alloc(*cache, c));
    static_cast<char*>(v.back())[ClassSize(c) - 1] = 1;
  }
  for (void* p : v) Free(*cache, p);
  cache->Drain();
}

TEST(ThreadCache, FreedUnitsStayResidentForTheNextRoundUntilTheyDecay) {
  TrimSuperSlabs();
  const int c = SizeToClass(512);
  const uint32_t blocks = 200 * kClassInfo[c].capacity;
  AllocTouchFreeRound(c, blocks);
  // Everything was freed, but the program had it in use a moment ago: the
  // pages stay for the next round (not only a fixed few MiB of them).
  EXPECT_GE(ResidentFreeBytes(), uint64_t{blocks} * ClassSize(c));
  const uint64_t live = LiveSuperSlabs();
  AllocTouchFreeRound(c, blocks);
  EXPECT_EQ(LiveSuperSlabs(), live);  // nothing new mapped
  EXPECT_EQ(DecaySuperSlabs(NowMs() + 1000, 60000, 30000), 0u);  // younger than the idle time
  EXPECT_GT(ResidentFreeBytes(), 0u);
  // An idle time shorter than the window (core/decay.cc, while the program
  // grows elsewhere) decides alone.
  EXPECT_GT(DecaySuperSlabs(NowMs() + 31000, 60000, 30000), 0u);
  EXPECT_EQ(ResidentFreeBytes(), 0u);  // unused for the idle time: gone
}

TEST(ThreadCache, SuperSlabsDecay) {
  TrimSuperSlabs();
  {
    auto cache = NewCache();
    std::vector<void*> v;
    const int c = SizeToClass(512);
    for (uint32_t i = 0; i < 40 * kClassInfo[c].capacity; ++i) v.push_back(Alloc(*cache, c));
    for (void* p : v) Free(*cache, p);
    cache->Drain();
  }
  const uint64_t live = LiveSuperSlabs();
  ASSERT_GT(live, 0u);
  EXPECT_EQ(DecaySuperSlabs(NowMs(), 60000, 60000), 0u);  // freed just now: kept
  EXPECT_GT(DecaySuperSlabs(NowMs() + 60000, 60000, 60000), 0u);
  EXPECT_LT(LiveSuperSlabs(), live);               // empty ones unmapped
  EXPECT_EQ(ResidentFreeBytes(), 0u);              // the rest decommitted
}

}  // namespace
}  // namespace hakmem::tiny
