// The SuperSlab manager's placement: a span is carved in a run of resident
// free units that holds it (in the fullest SuperSlab that has one, the
// shortest there), else where the most of its units' pages are still
// resident, so a program whose big blocks vary in size reuses the pages it
// freed instead of faulting fresh ones in.
#include "pools/tiny/superslab_manager.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <vector>

#include "core/base/clock.h"
#include "core/base/config.h"
#include "core/base/os.h"
#include "core/base/size_classes.h"
#include "gtest/gtest.h"

namespace hakmem::tiny {
namespace {

// One newly mapped SuperSlab taken whole in one-unit spans, indexed by unit
// (superslab is nullptr if the spans did not come from one SuperSlab).
struct UnitSpans {
  SuperSlab* superslab = nullptr;
  Slab* at[kUnitsPerSuperSlab] = {};
};

UnitSpans AcquireWholeSuperSlab() {
  Slab* units[kUnitsPerSuperSlab];
  UnitSpans spans;
  if (AcquireSpans(1, units, kUnitsPerSuperSlab, MayMap::kYes) != kUnitsPerSuperSlab) return spans;
  for (Slab* s : units) {
    if (s->superslab != units[0]->superslab) return spans;
    spans.at[s->first_unit] = s;
  }
  spans.superslab = units[0]->superslab;
  return spans;
}

// Gives back every unit span of `spans` but those in `released` already.
void ReleaseTheRest(const UnitSpans& spans, const std::vector<int>& released) {
  for (int u = 0; u < static_cast<int>(kUnitsPerSuperSlab); ++u) {
    if (std::find(released.begin(), released.end(), u) == released.end()) {
      ReleaseSpan(spans.at[u], Residency::kDecommit);
    }
  }
}

// Before a SuperSlab is mapped past the most there have been at once, the
// growth reclaimer is asked for that much (the Large tier's cache gives way,
// core/thread_heap.cc); mapping again up to that most asks nothing.
std::atomic<int> g_reclaims{0};

size_t CountReclaim(size_t bytes) {
  EXPECT_EQ(bytes, kSuperSlabSize);
  g_reclaims.fetch_add(1);
  return 0;
}

// Whole-SuperSlab spans until `live` SuperSlabs are mapped.
std::vector<Slab*> MapUntil(uint64_t live) {
  std::vector<Slab*> spans;
  while (LiveSuperSlabs() < live) {
    Slab* s;
    if (AcquireSpans(kUnitsPerSuperSlab, &s, 1, MayMap::kYes) != 1) break;
    spans.push_back(s);
  }
  return spans;
}

int CountOf(uint32_t unit_map) { return __builtin_popcount(unit_map); }

void ReleaseAll(const std::vector<Slab*>& spans) {
  for (Slab* s : spans) ReleaseSpan(s, Residency::kDecommit);
  TrimSuperSlabs();
}

TEST(SuperSlabManager, OnlyMappingPastTheMostAsksTheGrowthReclaimer) {
  TrimSuperSlabs();
  const uint64_t most = MostLiveSuperSlabs();
  ASSERT_LE(LiveSuperSlabs(), most);
  g_reclaims = 0;
  InstallGrowthReclaimer(CountReclaim);
  std::vector<Slab*> spans = MapUntil(most + 1);
  ASSERT_EQ(LiveSuperSlabs(), most + 1);
  EXPECT_EQ(g_reclaims.load(), 1);  // the last one only
  EXPECT_EQ(MostLiveSuperSlabs(), most + 1);
  ReleaseAll(spans);
  ASSERT_LT(LiveSuperSlabs(), most + 1);

  spans = MapUntil(most + 1);  // up to the most again
  ASSERT_EQ(LiveSuperSlabs(), most + 1);
  EXPECT_EQ(g_reclaims.load(), 1);
  InstallGrowthReclaimer(nullptr);
  ReleaseAll(spans);
}

TEST(SuperSlabManager, ASpanGoesWhereMostOfItsPagesAreResident) {
  const UnitSpans spans = AcquireWholeSuperSlab();
  ASSERT_NE(spans.superslab, nullptr);
  // Three free runs of four units: 0-3 and 20-23 decommitted, 8-11 with
  // 8 and 9 still resident.
  const std::vector<int> decommitted = {0, 1, 2, 3, 10, 11, 20, 21, 22, 23};
  for (int u : decommitted) ReleaseSpan(spans.at[u], Residency::kDecommit);
  for (int u : {8, 9}) ReleaseSpan(spans.at[u], Residency::kKeep);
  const uint64_t resident_before = ResidentFreeBytes();
  Slab* span;
  ASSERT_EQ(AcquireSpans(4, &span, 1, MayMap::kNo), 1u);
  EXPECT_EQ(span->first_unit, 8);
  EXPECT_EQ(ResidentFreeBytes(), resident_before - 2 * kUnitSize);
  // Put everything back.
  ReleaseSpan(span, Residency::kDecommit);
  // The span gave back 8-11: with the decommitted units, 8 and 9 are all
  // that were released before it.
  std::vector<int> released = decommitted;
  released.insert(released.end(), {8, 9});
  ReleaseTheRest(spans, released);
  TrimSuperSlabs();
}

TEST(SuperSlabManager, ASpanTakesTheShortestResidentRunThatHoldsIt) {
  const UnitSpans spans = AcquireWholeSuperSlab();
  ASSERT_NE(spans.superslab, nullptr);
  // Resident free runs: 0-7 (eight units), 12-13 (two), 20 (one).
  const std::vector<int> freed = {0, 1, 2, 3, 4, 5, 6, 7, 12, 13, 20};
  for (int u : freed) ReleaseSpan(spans.at[u], Residency::kKeep);
  const uint64_t resident_before = ResidentFreeBytes();
  // Two units fit 12-13 exactly: the front of 0-7 would leave an eight-unit
  // span no resident run (first fit took unit 0).
  Slab* two;
  ASSERT_EQ(AcquireSpans(2, &two, 1, MayMap::kNo), 1u);
  EXPECT_EQ(two->first_unit, 12);
  Slab* eight;
  ASSERT_EQ(AcquireSpans(8, &eight, 1, MayMap::kNo), 1u);
  EXPECT_EQ(eight->first_unit, 0);
  Slab* one;
  ASSERT_EQ(AcquireSpans(1, &one, 1, MayMap::kNo), 1u);
  EXPECT_EQ(one->first_unit, 20);
  EXPECT_EQ(ResidentFreeBytes(), resident_before - 11 * kUnitSize);
  // Put everything back.
  for (Slab* s : {two, eight, one}) ReleaseSpan(s, Residency::kDecommit);
  ReleaseTheRest(spans, freed);
  TrimSuperSlabs();
}

TEST(SuperSlabManager, AFullerSuperSlabComesBeforeAShorterRunInAnEmptierOne) {
  const UnitSpans a = AcquireWholeSuperSlab();
  const UnitSpans b = AcquireWholeSuperSlab();
  ASSERT_NE(a.superslab, nullptr);
  ASSERT_NE(b.superslab, nullptr);
  ASSERT_NE(a.superslab, b.superslab);
  // A: 8 free units, all resident (0-7). B: 26 free units, of which only
  // 0-1 resident: a two-unit run that fits a two-unit span exactly.
  std::vector<int> a_freed, b_freed;
  for (int u = 0; u < 8; ++u) a_freed.push_back(u);
  for (int u : a_freed) ReleaseSpan(a.at[u], Residency::kKeep);
  for (int u = 0; u < 28; ++u) {
    if (u == 2 || u == 3) continue;
    ReleaseSpan(b.at[u], u < 2 ? Residency::kKeep : Residency::kDecommit);
    b_freed.push_back(u);
  }
  // B, the emptier, is left to fall empty: the span goes into A.
  Slab* span;
  ASSERT_EQ(AcquireSpans(2, &span, 1, MayMap::kNo), 1u);
  EXPECT_EQ(span->superslab, a.superslab);
  EXPECT_EQ(span->first_unit, 0);
  // Put everything back.
  ReleaseSpan(span, Residency::kDecommit);
  ReleaseTheRest(a, a_freed);
  ReleaseTheRest(b, b_freed);
  TrimSuperSlabs();
}

// The search reads a table of the SuperSlabs with space, kept beside their
// list: SuperSlabs fill up (leave it) and get space again (come back) in any
// order, and each time it finds the resident run where it is now.
TEST(SuperSlabManager, TheSearchSeesWhereRunsAreAfterSuperSlabsComeAndGo) {
  constexpr int kSuperSlabs = 5;
  UnitSpans ss[kSuperSlabs];
  std::vector<int> freed[kSuperSlabs];
  for (UnitSpans& s : ss) {
    s = AcquireWholeSuperSlab();
    ASSERT_NE(s.superslab, nullptr);
  }
  auto release = [&](int i, std::vector<int> units, Residency r) {
    for (int u : units) {
      ReleaseSpan(ss[i].at[u], r);
      freed[i].push_back(u);
    }
  };
  auto take = [&](uint32_t units) {
    Slab* span = nullptr;
    EXPECT_EQ(AcquireSpans(units, &span, 1, MayMap::kNo), 1u);
    return span;
  };
  std::vector<int> all;
  for (int u = 0; u < static_cast<int>(kUnitsPerSuperSlab); ++u) all.push_back(u);
  release(0, all, Residency::kDecommit);
  release(4, all, Residency::kDecommit);
  release(2, {0, 1, 2, 3}, Residency::kKeep);
  std::vector<Slab*> taken;
  taken.push_back(take(4));  // the only resident run: 2 is full again
  EXPECT_EQ(taken.back()->superslab, ss[2].superslab);
  EXPECT_EQ(taken.back()->first_unit, 0);
  release(1, {5, 6}, Residency::kKeep);
  release(3, {9}, Residency::kKeep);
  release(0, {}, Residency::kKeep);
  taken.push_back(take(2));
  EXPECT_EQ(taken.back()->superslab, ss[1].superslab);
  EXPECT_EQ(taken.back()->first_unit, 5);
  taken.push_back(take(1));
  EXPECT_EQ(taken.back()->superslab, ss[3].superslab);
  EXPECT_EQ(taken.back()->first_unit, 9);
  release(2, {7}, Residency::kKeep);  // 2 has space again
  taken.push_back(take(1));
  EXPECT_EQ(taken.back()->superslab, ss[2].superslab);
  EXPECT_EQ(taken.back()->first_unit, 7);
  // Put everything back: what was taken (all of it released once before),
  // then what never was released.
  for (Slab* s : taken) ReleaseSpan(s, Residency::kDecommit);
  for (int i = 0; i < kSuperSlabs; ++i) ReleaseTheRest(ss[i], freed[i]);
  TrimSuperSlabs();
}

// The search finds its SuperSlab in an index kept as unit maps change, not by
// looking at every SuperSlab: after any mix of spans taken and given back, a
// span still goes to the fullest SuperSlab with a resident run that holds it
// (of equally full ones, one whose longest such run is the shortest), into the
// shortest such run there.
TEST(SuperSlabManager, AfterAnyChurnASpanGoesToTheFullestSuperSlabThatHoldsIt) {
  constexpr int kSuperSlabs = 4;
  UnitSpans ss[kSuperSlabs];
  for (UnitSpans& s : ss) {
    s = AcquireWholeSuperSlab();
    ASSERT_NE(s.superslab, nullptr);
  }
  // What the test holds: every span, and each SuperSlab's free units (all of
  // them resident: everything goes back with kKeep).
  std::vector<Slab*> held;
  for (const UnitSpans& s : ss) held.insert(held.end(), s.at, s.at + kUnitsPerSuperSlab);
  uint32_t free_map[kSuperSlabs] = {};
  auto index_of = [&](const SuperSlab* superslab) {
    for (int i = 0; i < kSuperSlabs; ++i) {
      if (ss[i].superslab == superslab) return i;
    }
    return -1;
  };
  auto runs = [](uint32_t map, uint32_t units, uint32_t* longest, int* shortest_first) {
    *longest = 0;
    uint32_t shortest = UINT32_MAX;
    *shortest_first = -1;
    for (uint32_t u = 0; u < kUnitsPerSuperSlab;) {
      uint32_t len = 0;
      while (u + len < kUnitsPerSuperSlab && (map >> (u + len) & 1)) ++len;
      if (len == 0) {
        ++u;
        continue;
      }
      *longest = std::max(*longest, len);
      if (len >= units && len < shortest) {
        shortest = len;
        *shortest_first = static_cast<int>(u);
      }
      u += len;
    }
  };
  uint64_t rng = 0x9e3779b97f4a7c15u;
  auto next = [&rng](uint32_t n) {
    rng = rng * 6364136223846793005u + 1442695040888963407u;
    return static_cast<uint32_t>((rng >> 33) % n);
  };
  for (int step = 0; step < 2000; ++step) {
    if (next(2) == 0 && !held.empty()) {
      const size_t k = next(static_cast<uint32_t>(held.size()));
      Slab* span = held[k];
      held[k] = held.back();
      held.pop_back();
      const int i = index_of(span->superslab);
      ASSERT_GE(i, 0);
      free_map[i] |= ((1u << span->units) - 1) << span->first_unit;
      ReleaseSpan(span, Residency::kKeep);
      continue;
    }
    const uint32_t units = 1 + next(4);
    // The expected SuperSlab: fewest free units, then the shortest longest run.
    int want = -1;
    uint32_t want_free = UINT32_MAX, want_longest = UINT32_MAX;
    for (int i = 0; i < kSuperSlabs; ++i) {
      uint32_t longest;
      int first;
      runs(free_map[i], units, &longest, &first);
      if (first < 0) continue;
      const uint32_t free_units = static_cast<uint32_t>(__builtin_popcount(free_map[i]));
      if (free_units < want_free || (free_units == want_free && longest < want_longest)) {
        want = i;
        want_free = free_units;
        want_longest = longest;
      }
    }
    if (want < 0) continue;  // nothing fits: a fresh SuperSlab would be taken
    Slab* span = nullptr;
    ASSERT_EQ(AcquireSpans(units, &span, 1, MayMap::kNo), 1u);
    const int got = index_of(span->superslab);
    ASSERT_GE(got, 0) << "step " << step;
    uint32_t got_longest;
    int got_first_expected;
    runs(free_map[got], units, &got_longest, &got_first_expected);
    ASSERT_EQ(__builtin_popcount(free_map[got]), static_cast<int>(want_free)) << "step " << step;
    ASSERT_EQ(got_longest, want_longest) << "step " << step;
    ASSERT_EQ(static_cast<int>(span->first_unit), got_first_expected) << "step " << step;
    free_map[got] &= ~(((1u << units) - 1) << span->first_unit);
    held.push_back(span);
  }
  // Put everything back: the held spans, then nothing else (the rest is free).
  for (Slab* span : held) ReleaseSpan(span, Residency::kDecommit);
  TrimSuperSlabs();
}

// Many SuperSlabs left with a free run too short for the span (big blocks
// all in use, two units over in each): the search for a run looks at none of
// them, however many there are, and the span goes where it fits. It walked
// every SuperSlab with a free unit: 16,000 blocks of 300 KB in use, 27 us a
// malloc.
TEST(SuperSlabManager, SuperSlabsWhoseRunsAreTooShortAreNotLookedAt) {
  TrimSuperSlabs();
  constexpr uint32_t kUnits = 5;  // 6 to a SuperSlab, 2 units over
  constexpr int kSuperSlabs = 100;
  std::vector<Slab*> spans;
  std::vector<SuperSlab*> leftovers;
  for (int i = 0; i < kSuperSlabs * 6; ++i) {
    Slab* s;
    ASSERT_EQ(AcquireSpans(kUnits, &s, 1, MayMap::kYes), 1u);
    spans.push_back(s);
  }
  for (Slab* s : spans) {
    if (s->superslab->free_units != 0 && CountOf(s->superslab->free_units) < kUnits) {
      leftovers.push_back(s->superslab);
    }
  }
  std::sort(leftovers.begin(), leftovers.end());
  leftovers.erase(std::unique(leftovers.begin(), leftovers.end()), leftovers.end());
  ASSERT_GE(leftovers.size(), static_cast<size_t>(kSuperSlabs - 2));
  const uint64_t scanned = SuperSlabsScanned();
  Slab* next;
  ASSERT_EQ(AcquireSpans(kUnits, &next, 1, MayMap::kYes), 1u);
  spans.push_back(next);
  EXPECT_LE(SuperSlabsScanned() - scanned, 2u);
  EXPECT_FALSE(std::binary_search(leftovers.begin(), leftovers.end(), next->superslab));
  ReleaseAll(spans);
}

// Freed units stay resident up to HAKMEM_POOL_RETAIN_BYTES or half the most
// in use in the decay window, whichever is more, and never beyond four times
// the setting: a program whose heap is far above the setting, freed whole
// and built again, reuses half of its pages instead of faulting all of them
// in again, and a small setting still bounds what stays.
TEST(SuperSlabManager, AHeapFarAboveTheRetainBoundKeepsHalfItsPeakResident) {
  const Config saved = GetConfig();
  // Resident after 32 MiB of one-unit spans, all in use at once, are freed.
  auto resident_after_heap_freed = [](uint64_t retain_bytes, uint64_t* peak) {
    Config config = GetConfig();
    config.pool_retain_bytes = retain_bytes;
    SetConfigForTesting(config);
    DecaySuperSlabs(NowMs(), 0, 0);  // nothing resident; a new window
    std::vector<Slab*> spans;
    Slab* batch[kUnitsPerSuperSlab];
    while (spans.size() < 16 * kUnitsPerSuperSlab) {
      const uint32_t n = AcquireSpans(1, batch, kUnitsPerSuperSlab, MayMap::kYes);
      if (n == 0) break;
      spans.insert(spans.end(), batch, batch + n);
    }
    *peak = InUseBytes();
    for (Slab* s : spans) ReleaseSpan(s);
    return spans.size() == 16 * kUnitsPerSuperSlab ? ResidentFreeBytes() : 0;
  };
  uint64_t peak = 0;
  const uint64_t half = resident_after_heap_freed(uint64_t{8} << 20, &peak);
  EXPECT_LE(half, peak / 2);
  EXPECT_GT(half, peak / 2 - kUnitSize);
  const uint64_t capped = resident_after_heap_freed(uint64_t{2} << 20, &peak);
  EXPECT_EQ(capped, uint64_t{8} << 20);  // four times the setting
  SetConfigForTesting(saved);
  DecaySuperSlabs(NowMs(), 0, 0);
  TrimSuperSlabs();
}

// A busy program's manager (HAKMEM_DECAY_MS of 2 ms: 512 units a second is
// one a window) keeping `retain_bytes` (HAKMEM_POOL_RETAIN_BYTES), from
// nothing resident and two new windows with nothing released; the
// configuration comes back, and the manager's memory goes, at the end.
class BusyManager {
 public:
  explicit BusyManager(uint64_t retain_bytes) : saved_(GetConfig()) {
    Config config = saved_;
    config.decay_ms = 2;
    config.pool_retain_bytes = retain_bytes;
    SetConfigForTesting(config);
    TrimSuperSlabs();
    DecaySuperSlabs(NowMs(), 0, 0);
    DecaySuperSlabs(NowMs(), 0, 0);
  }
  ~BusyManager() {
    SetConfigForTesting(saved_);
    DecaySuperSlabs(NowMs(), 0, 0);
    TrimSuperSlabs();
  }

 private:
  const Config saved_;
};

// A program that frees everything it has in use keeps the pages for its next
// round, also those of the holes its spans of other sizes could not take, up
// to an eighth over its peak in use: with the bound at the peak, 400 blocks
// of 256 - 312 KiB allocated, written and freed in rounds gave 4 - 5 spans
// back a round and faulted them in again (66,000 page faults in 100 rounds,
// mimalloc 28,700; 30,400 with the eighth).
TEST(SuperSlabManager, AHeapFreedWholeKeepsItsHolesWithinAnEighthOverItsPeak) {
  const BusyManager manager(uint64_t{256} << 20);
  const uint64_t resident_before = ResidentFreeBytes();
  std::vector<UnitSpans> whole;
  for (int i = 0; i < 16; ++i) {
    whole.push_back(AcquireWholeSuperSlab());
    ASSERT_NE(whole.back().superslab, nullptr);
  }
  // Every other unit of four SuperSlabs back: 64 one-unit holes, resident.
  std::vector<Slab*> in_use;
  for (int i = 0; i < 16; ++i) {
    for (int u = 0; u < static_cast<int>(kUnitsPerSuperSlab); ++u) {
      if (i < 4 && u % 2 == 0) {
        ReleaseSpan(whole[i].at[u]);
      } else {
        in_use.push_back(whole[i].at[u]);
      }
    }
  }
  // Two-unit spans fit no hole: 64 units faulted in elsewhere, and the
  // program is back at its peak (512 units).
  Slab* pairs[32];
  uint32_t got = 0;
  while (got < 32) {
    const uint32_t n = AcquireSpans(2, pairs + got, 32 - got, MayMap::kYes);
    ASSERT_NE(n, 0u);
    got += n;
  }
  for (Slab* pair : pairs) {
    for (const UnitSpans& w : whole) EXPECT_NE(pair->superslab, w.superslab);
  }
  for (Slab* s : in_use) ReleaseSpan(s);
  for (Slab* pair : pairs) ReleaseSpan(pair);
  EXPECT_EQ((ResidentFreeBytes() - resident_before) / kUnitSize, 512u + 64u);
}

// Four SuperSlabs taken whole in one-unit spans: 128 units in use at the
// peak, so that under a retain setting of 2 MiB (BusyManager) the limit is
// 64. The units of the first three are written whole (dense), those of the
// fourth a page each (sparse).
class SparseAndDense {
 public:
  bool Take() {
    for (int i = 0; i < 4; ++i) {
      whole_.push_back(AcquireWholeSuperSlab());
      if (whole_.back().superslab == nullptr) return false;
      for (int u = 0; u < static_cast<int>(kUnitsPerSuperSlab); ++u) {
        std::memset(Unit(i, u), 1, i < 3 ? kUnitSize : 1);
      }
    }
    return true;
  }
  // 72 dense ones back: 64 kept, the last 8 decommitted (beyond the limit).
  void ReleaseDense() {
    for (int i = 0; i < 3; ++i) {
      for (int u = 0; u < (i < 2 ? 32 : 8); ++u) ReleaseSpan(whole_[i].at[u]);
    }
  }
  // All sparse ones but unit 0, beyond the limit.
  void ReleaseSparse() {
    for (int u = 1; u < static_cast<int>(kUnitsPerSuperSlab); ++u) ReleaseSpan(whole_[3].at[u]);
  }
  void ReleaseTheRest() {
    ReleaseSpan(whole_[3].at[0], Residency::kDecommit);
    for (int u = 8; u < static_cast<int>(kUnitsPerSuperSlab); ++u) {
      ReleaseSpan(whole_[2].at[u], Residency::kDecommit);
    }
  }
  char* Unit(int i, int u) const {
    return whole_[i].superslab->base + size_t{static_cast<uint32_t>(u)} * kUnitSize;
  }
  SuperSlab* Sparse() const { return whole_[3].superslab; }

 private:
  std::vector<UnitSpans> whole_;
};

// Over the retain limit a span goes back to the OS, unless hardly a page of
// it is resident (a big block the program wrote a page of): then it stays as
// it is, uncounted, with no madvise call, until trim (or decay) takes its
// pages.
TEST(SuperSlabManager, ASparseSpanOverTheLimitKeepsItsPagesUntilTrim) {
  const BusyManager manager(uint64_t{2} << 20);
  const uint64_t resident_before = ResidentFreeBytes();
  SparseAndDense spans;
  ASSERT_TRUE(spans.Take());
  spans.ReleaseDense();
  EXPECT_EQ((ResidentFreeBytes() - resident_before) / kUnitSize, 64u);
  EXPECT_EQ(OsResidentPages(spans.Unit(2, 7), kUnitSize), 0u);
  spans.ReleaseSparse();  // they keep their page and do not count
  EXPECT_EQ((ResidentFreeBytes() - resident_before) / kUnitSize, 64u);
  EXPECT_EQ(OsResidentPages(spans.Unit(3, 9), kUnitSize), 1u);
  TrimSuperSlabs();  // SuperSlab 3 has a span in use: its sparse units' pages go
  EXPECT_EQ(OsResidentPages(spans.Unit(3, 9), kUnitSize), 0u);
  spans.ReleaseTheRest();
}

// A sparse unit carved again is in use: a decay pass over its SuperSlab
// leaves what the new span holds alone.
TEST(SuperSlabManager, ASparseUnitCarvedAgainIsLeftAloneByDecay) {
  const BusyManager manager(uint64_t{2} << 20);
  SparseAndDense spans;
  ASSERT_TRUE(spans.Take());
  spans.ReleaseDense();
  spans.ReleaseSparse();
  // Every free unit carved again, those of the sparse SuperSlab written.
  std::vector<Slab*> again;
  Slab* batch[kUnitsPerSuperSlab];
  for (uint32_t n; (n = AcquireSpans(1, batch, kUnitsPerSuperSlab, MayMap::kNo)) != 0;) {
    again.insert(again.end(), batch, batch + n);
  }
  std::vector<Slab*> sparse_again;
  for (Slab* s : again) {
    if (s->superslab == spans.Sparse()) sparse_again.push_back(s);
  }
  ASSERT_EQ(sparse_again.size(), kUnitsPerSuperSlab - 1);
  for (Slab* s : sparse_again) std::memset(spans.Unit(3, s->first_unit), 0x5a, kUnitSize);
  // One back, so that the decay pass looks at the SuperSlab.
  ReleaseSpan(sparse_again.back(), Residency::kDecommit);
  sparse_again.pop_back();
  DecaySuperSlabs(NowMs(), 0, 0);
  for (Slab* s : sparse_again) {
    EXPECT_EQ(spans.Unit(3, s->first_unit)[kUnitSize - 1], 0x5a) << s->first_unit;
  }
  for (Slab* s : again) {
    if (std::find(sparse_again.begin(), sparse_again.end(), s) != sparse_again.end() ||
        s->superslab != spans.Sparse()) {
      ReleaseSpan(s, Residency::kDecommit);
    }
  }
  spans.ReleaseTheRest();
}

// A program that turns its memory over slowly keeps free units resident only
// while they and what is in use add up to no more than its most in use in the
// decay window: once a span that found no resident run to take faulted fresh
// units in, what it releases goes back to the OS. A busy one (in this window
// or the last) keeps it within the retain limit, and reuses the pages instead
// of faulting them in again.
TEST(SuperSlabManager, OnlyABusyProgramKeepsFreeUnitsBeyondItsWindowPeak) {
  const Config saved = GetConfig();
  // Resident free units after: a SuperSlab taken whole in one-unit spans, its
  // units 0, 2, 4 and 6 released (kept: in use and kept add up to the peak),
  // a two-unit span that no resident run holds (fresh units elsewhere), and
  // then unit 9 released. HAKMEM_DECAY_MS sets the busy rate (512 units a
  // second: 256 a window of 500 ms, 1 of 2 ms); the windows are the test's.
  // `busy_last_window`: the window before released 256 units, never more than
  // 32 in use at once.
  auto resident_units_after = [](uint32_t decay_ms, bool busy_last_window) -> int64_t {
    Config config = GetConfig();
    config.decay_ms = decay_ms;
    SetConfigForTesting(config);
    TrimSuperSlabs();
    DecaySuperSlabs(NowMs(), 0, 0);  // two new windows: nothing released in either
    DecaySuperSlabs(NowMs(), 0, 0);
    for (int round = 0; busy_last_window && round < 8; ++round) {
      Slab* batch[kUnitsPerSuperSlab];
      const uint32_t n = AcquireSpans(1, batch, kUnitsPerSuperSlab, MayMap::kYes);
      for (uint32_t i = 0; i < n; ++i) ReleaseSpan(batch[i]);
      if (n != kUnitsPerSuperSlab) return -1;
    }
    if (busy_last_window) {
      DecaySuperSlabs(NowMs(), 0, 0);  // the busy window becomes the last
      TrimSuperSlabs();             // and nothing it kept is resident
    }
    const uint64_t resident_before = ResidentFreeBytes();
    const UnitSpans spans = AcquireWholeSuperSlab();
    const std::vector<int> released = {0, 2, 4, 6, 9};
    if (spans.superslab == nullptr) return -1;
    for (int u : {0, 2, 4, 6}) ReleaseSpan(spans.at[u]);
    Slab* pair = nullptr;
    const bool fresh = AcquireSpans(2, &pair, 1, MayMap::kYes) == 1 &&
                       pair->superslab != spans.superslab;
    ReleaseSpan(spans.at[9]);
    const int64_t kept = static_cast<int64_t>((ResidentFreeBytes() - resident_before) / kUnitSize);
    if (pair != nullptr) ReleaseSpan(pair, Residency::kDecommit);
    ReleaseTheRest(spans, released);
    TrimSuperSlabs();
    return fresh ? kept : -1;
  };
  EXPECT_EQ(resident_units_after(500, false), 4);  // slow: unit 9 goes back
  EXPECT_EQ(resident_units_after(2, false), 5);    // busy in this window
  EXPECT_EQ(resident_units_after(500, true), 5);   // busy in the last
  SetConfigForTesting(saved);
  DecaySuperSlabs(NowMs(), 0, 0);
  TrimSuperSlabs();
}

}  // namespace
}  // namespace hakmem::tiny
