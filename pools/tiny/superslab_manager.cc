#include "pools/tiny/superslab_manager.h"

#include <algorithm>
#include <atomic>
#include <new>

#include "core/base/clock.h"
#include "core/base/config.h"
#include "core/base/meta_pool.h"
#include "core/base/os.h"
#include "core/base/range_map.h"
#include "pools/tiny/superslab_arena.h"
#include "sync/spin_lock.h"

namespace hakmem::tiny {
namespace {

constexpr uint32_t kAllUnits = 0xffffffffu;
static_assert(kUnitsPerSuperSlab == 32, "free_units is a 32-bit map");

constinit sync::SpinLock g_lock;
constinit MetaPool<SuperSlab> g_headers;
// SuperSlabs with at least one free unit; empty ones are among them.
SuperSlab* g_with_space = nullptr;
// SuperSlabs with no free unit, through the same links: the candidates for a
// huge page (CollapseFullSuperSlabs).
SuperSlab* g_full = nullptr;
uint32_t g_empty_count = 0;
std::atomic<uint64_t> g_live{0};
// Free units over all mapped SuperSlabs (written under g_lock, read without).
std::atomic<uint64_t> g_free_units{0};
// Free units with resident pages, over all SuperSlabs (written under g_lock,
// read without it as a hint).
std::atomic<uint64_t> g_resident_free_units{0};
// The most units in use at once in the current decay window (written under
// g_lock, read without it): how much free memory is worth keeping resident.
std::atomic<uint64_t> g_window_peak_units{0};
uint64_t g_window_start_ms = 0;
// Units released to be kept within the retain limit (the program's frees, not
// decay's or a refill's own) in the current decay window and the one before
// (written under g_lock, read without it): how fast it turns memory over.
std::atomic<uint64_t> g_window_released_units{0};
std::atomic<uint64_t> g_last_window_released_units{0};
std::atomic<uint64_t> g_collapsed{0};  // SuperSlabs collapsed to huge pages, ever
std::atomic<uint64_t> g_scanned{0};    // SuperSlabsScanned (written under g_lock)
constinit std::atomic<GrowthReclaimer> g_growth_reclaimer{nullptr};
// SuperSlabs mapped or being mapped (claimed before the mmap, given up after
// a failed one or at the unmap), and the most of them there have been at once.
std::atomic<uint64_t> g_claimed{0};
std::atomic<uint64_t> g_most_claimed{0};

uint64_t InUseUnits() {
  const uint64_t mapped = g_live.load(std::memory_order_relaxed) * kUnitsPerSuperSlab;
  const uint64_t free_units = g_free_units.load(std::memory_order_relaxed);
  return mapped > free_units ? mapped - free_units : 0;
}

uint32_t SpanBits(uint32_t first, uint32_t units) {
  return units == 32 ? kAllUnits : ((1u << units) - 1) << first;
}

// Set bits of a unit map. Not __builtin_popcount: without -mpopcnt (the
// build targets every x86-64) that is a call into libgcc's table.
constexpr uint32_t CountUnits(uint32_t map) {
  map = map - ((map >> 1) & 0x55555555u);
  map = (map & 0x33333333u) + ((map >> 2) & 0x33333333u);
  return (((map + (map >> 4)) & 0x0f0f0f0fu) * 0x01010101u) >> 24;
}
static_assert(CountUnits(0) == 0 && CountUnits(kAllUnits) == 32 && CountUnits(0x80000101u) == 3);

// f(first, length) for every run of set bits in a unit map, lowest first.
template <class F>
void ForEachRun(uint32_t map, F f) {
  while (map != 0) {
    const uint32_t first = __builtin_ctz(map);
    const uint32_t above = ~(map >> first);  // zero bits mark the run
    const uint32_t run = above == 0 ? kUnitsPerSuperSlab - first : __builtin_ctz(above);
    f(first, run);
    if (first + run >= kUnitsPerSuperSlab) break;
    map &= ~(((1u << run) - 1) << first);
  }
}

uint32_t LongestRun(uint32_t map) {
  uint32_t longest = 0;
  ForEachRun(map, [&](uint32_t, uint32_t run) { longest = std::max(longest, run); });
  return longest;
}

// Pushes ss at the front of the list at `head`, linked through its field L.
template <SuperSlabLink SuperSlab::*L>
void PushLocked(SuperSlab*& head, SuperSlab* ss) {
  (ss->*L).prev = nullptr;
  (ss->*L).next = head;
  if (head != nullptr) (head->*L).prev = ss;
  head = ss;
}

template <SuperSlabLink SuperSlab::*L>
void RemoveLocked(SuperSlab*& head, SuperSlab* ss) {
  SuperSlabLink& link = ss->*L;
  if (link.prev != nullptr) (link.prev->*L).next = link.next;
  else head = link.next;
  if (link.next != nullptr) (link.next->*L).prev = link.prev;
  link.next = link.prev = nullptr;
}

// The best-fit index: every SuperSlab with a resident free run, in a list by
// the length of its longest such run and its number of free units, newest
// first; a mask per free-unit count names the run lengths whose list has one.
// The search looks at no SuperSlab that cannot take the span: a sweep over all
// of them (a table of their maps) was a sixth of the time of mstress with
// 16 - 128 KiB blocks (400 SuperSlabs, then a span per block), under g_lock.
SuperSlab* g_fit[kUnitsPerSuperSlab + 1][kUnitsPerSuperSlab + 1];  // [run][free units]
uint64_t g_fit_runs[kUnitsPerSuperSlab + 1];  // [free units]: bit r = g_fit[r][.] has one

// The run index: every SuperSlab with a free unit, in a list by the length of
// its longest free run, resident or not (g_by_run[r], newest first; bit r of
// g_by_run_mask: that list has one). The search for a run that is not all
// resident looks only at SuperSlabs that can take the span: it walked every
// SuperSlab with space, and a program holding many big blocks leaves most of
// them with a unit or two that no span of its size fits (16,000 live blocks
// of 300 KB: 2,700 SuperSlabs walked per new block, 27 us; tcmalloc 0.46).
SuperSlab* g_by_run[kUnitsPerSuperSlab + 1];
uint64_t g_by_run_mask = 0;

void UnindexLocked(SuperSlab* ss) {
  if (ss->fit_run != 0) {
    SuperSlab*& head = g_fit[ss->fit_run][ss->fit_free];
    RemoveLocked<&SuperSlab::fit>(head, ss);
    if (head == nullptr) g_fit_runs[ss->fit_free] &= ~(uint64_t{1} << ss->fit_run);
    ss->fit_run = 0;
  }
  if (ss->free_run != 0) {
    SuperSlab*& head = g_by_run[ss->free_run];
    RemoveLocked<&SuperSlab::run>(head, ss);
    if (head == nullptr) g_by_run_mask &= ~(uint64_t{1} << ss->free_run);
    ss->free_run = 0;
  }
}

// Files ss under its maps as they are now (after any change to them), in both
// indexes.
void ReindexLocked(SuperSlab* ss) {
  const uint32_t run = LongestRun(ss->resident_free);
  const uint32_t free_units = CountUnits(ss->free_units);
  const uint32_t free_run = LongestRun(ss->free_units);
  if (run == ss->fit_run && free_units == ss->fit_free && free_run == ss->free_run) return;
  UnindexLocked(ss);
  if (run != 0) {
    ss->fit_run = static_cast<uint8_t>(run);
    ss->fit_free = static_cast<uint8_t>(free_units);
    PushLocked<&SuperSlab::fit>(g_fit[run][free_units], ss);
    g_fit_runs[free_units] |= uint64_t{1} << run;
  }
  if (free_run != 0) {
    ss->free_run = static_cast<uint8_t>(free_run);
    PushLocked<&SuperSlab::run>(g_by_run[free_run], ss);
    g_by_run_mask |= uint64_t{1} << free_run;
  }
}

// The fullest SuperSlab with a resident free run of `units` or more, and of
// those, one whose longest such run is the shortest; nullptr if none.
SuperSlab* FullestWithResidentRun(uint32_t units) {
  const uint64_t long_enough = ~uint64_t{0} << units;
  for (uint32_t f = units; f <= kUnitsPerSuperSlab; ++f) {
    if (const uint64_t runs = g_fit_runs[f] & long_enough) return g_fit[__builtin_ctzll(runs)][f];
  }
  return nullptr;
}

void LinkLocked(SuperSlab* ss) {
  PushLocked<&SuperSlab::list>(g_with_space, ss);
  ReindexLocked(ss);
}

void UnlinkLocked(SuperSlab* ss) {
  RemoveLocked<&SuperSlab::list>(g_with_space, ss);
  UnindexLocked(ss);
}

// A SuperSlab's memory: an arena chunk, else a mapping of its own. Under THP
// "always" the kernel would fault its first touch in as a whole huge page (a
// thread with a few small blocks: 822 KiB of RSS instead of 77), so it is
// advised off; only a full one goes onto a huge page (CollapseFullSuperSlabs).
char* MapSuperSlabMemory() {
  char* base = TakeArenaChunk();
  if (base == nullptr) base = static_cast<char*>(OsMapAligned(kSuperSlabSize, kSuperSlabSize));
  if (base != nullptr) OsPreferSmallPages(base, kSuperSlabSize);
  return base;
}

// MADV_COLLAPSE of a SuperSlab, lifting the advice MapSuperSlabMemory put on
// it under THP "always" for the collapse (the kernel refuses a range advised
// off) and putting it back after (the huge page stays).
Collapse CollapseSuperSlab(char* base) {
  const bool always = OsHugePageMode() == HugePageMode::kAlways;
  if (always) OsAdviseHuge(base, kSuperSlabSize, true);
  const Collapse result = OsCollapseHuge(base, kSuperSlabSize);
  if (always) OsAdviseHuge(base, kSuperSlabSize, false);
  return result;
}

void UnmapSuperSlabMemory(char* base) {
  if (!ReturnArenaChunk(base)) OsUnmap(base, kSuperSlabSize);
}

SuperSlab* MapSuperSlab() {
  char* base = MapSuperSlabMemory();
  if (base == nullptr) return nullptr;
  SuperSlab* ss = g_headers.New();
  if (ss == nullptr) {
    UnmapSuperSlabMemory(base);
    return nullptr;
  }
  ss->base = base;
  ss->free_units = kAllUnits;
  ss->resident_free = 0;  // fresh pages are not resident until touched
  ss->sparse_free = 0;
  ss->fit_run = 0;        // in no index until LinkLocked
  ss->free_run = 0;
  ss->collapse_after_ms = 0;
  // Publish the header in the range map last: its fields are set. Every unit
  // reads "free unit" until it is carved into a span.
  if (!RangeMap::Register(base, kSuperSlabSize, RangeKind::kFreeUnit, ss)) {
    g_headers.Delete(ss);
    UnmapSuperSlabMemory(base);
    return nullptr;
  }
  // Free units first: InUseUnits, read without the lock, never counts the
  // new SuperSlab as in use (which would raise the window's peak).
  g_free_units.fetch_add(kUnitsPerSuperSlab, std::memory_order_relaxed);
  g_live.fetch_add(1, std::memory_order_relaxed);
  return ss;
}

void UnmapSuperSlab(SuperSlab* ss) {
  g_claimed.fetch_sub(1, std::memory_order_relaxed);
  g_resident_free_units.fetch_sub(CountUnits(ss->resident_free), std::memory_order_relaxed);
  RangeMap::Unregister(ss->base, kSuperSlabSize);
  UnmapSuperSlabMemory(ss->base);
  g_headers.Delete(ss);
  g_live.fetch_sub(1, std::memory_order_relaxed);
  g_free_units.fetch_sub(kUnitsPerSuperSlab, std::memory_order_relaxed);
}

Slab* CarveLocked(SuperSlab* ss, uint32_t first, uint32_t units) {
  const uint32_t bits = SpanBits(first, units);
  if (ss->free_units == kAllUnits) --g_empty_count;
  ss->free_units &= ~bits;
  g_free_units.fetch_sub(units, std::memory_order_relaxed);
  g_resident_free_units.fetch_sub(CountUnits(ss->resident_free & bits),
                                  std::memory_order_relaxed);
  ss->resident_free &= ~bits;
  ss->sparse_free &= ~bits;
  ReindexLocked(ss);
  if (ss->free_units == 0) {
    UnlinkLocked(ss);
    PushLocked<&SuperSlab::list>(g_full, ss);
    ss->collapse_after_ms = NowMs() + kCollapseFullForMs;
  }
  const uint64_t in_use = InUseUnits();
  if (in_use > g_window_peak_units.load(std::memory_order_relaxed)) {
    g_window_peak_units.store(in_use, std::memory_order_relaxed);
  }
  Slab* slab = &ss->slabs[first];
  slab->superslab = ss;
  slab->first_unit = static_cast<uint8_t>(first);
  slab->units = static_cast<uint8_t>(units);
  // The leaves exist (the whole SuperSlab is registered): this cannot fail.
  // Nothing is carved yet (carved is 0 since the span's release, or never
  // set), so a free that finds the units now is refused.
  slab->unit_entries = RangeMap::UnitsAt(ss->base + size_t{first} * kUnitSize);
  slab->PublishDigest();
  RangeMap::Register(ss->base + size_t{first} * kUnitSize, size_t{units} * kUnitSize,
                     RangeKind::kSlab, slab);
  return slab;
}

// The run of `units` free units in ss with the most resident ones, the first
// such (-1 if there is no run); their count in *resident.
int MostResidentRun(const SuperSlab* ss, uint32_t units, int* resident) {
  const uint32_t res = ss->resident_free;
  int best = -1;
  *resident = -1;
  // Windows of `units` inside each free run long enough, their resident
  // count moved along one unit at a time (a count per window was most of the
  // second pass's time with many big spans).
  ForEachRun(ss->free_units, [&](uint32_t first, uint32_t run) {
    if (run < units) return;
    int r = static_cast<int>(CountUnits((res >> first) & SpanBits(0, units)));
    for (uint32_t u = first;; ++u) {
      if (r > *resident) {
        *resident = r;
        best = static_cast<int>(u);
      }
      if (u + units >= first + run) break;
      r += static_cast<int>((res >> (u + units)) & 1) - static_cast<int>((res >> u) & 1);
    }
  });
  return best;
}

// The shortest run of resident free units in ss that holds `units` (its
// first unit, -1 if none); its length in *len. Resident free units are free.
int ShortestResidentRun(uint32_t resident_free, uint32_t units, uint32_t* len) {
  int best = -1;
  *len = kUnitsPerSuperSlab + 1;
  ForEachRun(resident_free, [&](uint32_t first, uint32_t run) {
    if (run >= units && run < *len) {
      best = static_cast<int>(first);
      *len = run;
    }
  });
  return best;
}

// One span from the SuperSlabs already mapped, or nullptr.
// - Where all its pages are resident (no page faults, no new RSS): in the
//   fullest SuperSlab that has such a run (so emptier ones can fall empty
//   and go back), in the shortest such run there (best fit: a span taken
//   from the front of a long resident run left the next big block no run
//   long enough, so it faulted fresh units in while the rest stayed
//   resident and unused; alloc_test_1t, 1 in 1000 requests 64 KiB - 1 MiB,
//   peaked at 29.9 MiB with the first fit and 26.1 MiB with the best).
// - Else the run with the most resident pages (a program whose big blocks
//   vary in size finds few whole resident runs, and every page of a fresh
//   one faults in: L2.5 spans went from 23 K to 64-80 K faults per 1.5 s of
//   large_1t when their bins stopped keeping a block), partly used
//   SuperSlabs before empty ones (so that empty ones can go back to the OS).
// The fullest and its shortest fitting run come from the best-fit index
// (FullestWithResidentRun: among equally full ones, the shortest longest run).
// The second pass looks at no more SuperSlabs than this: each costs a scan
// of its maps, and past a few dozen candidates a better one is seldom found.
constexpr uint32_t kMostResidentLooks = 64;

Slab* CarveFromMappedLocked(uint32_t units) {
  if (SuperSlab* best = FullestWithResidentRun(units)) {
    uint32_t len;
    const int first = ShortestResidentRun(best->resident_free, units, &len);
    return CarveLocked(best, static_cast<uint32_t>(first), units);
  }
  // A second pass: its window scan costs more than the runs above, and a
  // program that frees and allocates again mostly finds a resident run. Over
  // the SuperSlabs whose longest free run holds the span (the run index), the
  // shortest such runs first; ties (nothing resident) go to the first found.
  SuperSlab* fallback = nullptr;
  int fallback_first = -1;
  int fallback_resident = -1;
  SuperSlab* empty = nullptr;
  uint32_t looked = 0;
  // All but one unit resident is the best there is: the first pass took any
  // run resident throughout.
  const int best_possible = static_cast<int>(units) - 1;
  auto more_to_look = [&] {
    return looked < kMostResidentLooks && fallback_resident < best_possible;
  };
  for (uint64_t runs = g_by_run_mask & (~uint64_t{0} << units); runs != 0 && more_to_look();
       runs &= runs - 1) {
    for (SuperSlab* ss = g_by_run[__builtin_ctzll(runs)]; ss != nullptr && more_to_look();
         ss = ss->run.next) {
      ++looked;
      if (ss->free_units == kAllUnits && ss->resident_free == 0) {
        if (empty == nullptr) empty = ss;
        continue;
      }
      int r;
      const int first = MostResidentRun(ss, units, &r);
      if (first >= 0 && r > fallback_resident) {
        fallback = ss;
        fallback_first = first;
        fallback_resident = r;
      }
    }
  }
  g_scanned.store(g_scanned.load(std::memory_order_relaxed) + looked, std::memory_order_relaxed);
  if (fallback != nullptr) return CarveLocked(fallback, static_cast<uint32_t>(fallback_first), units);
  return empty != nullptr ? CarveLocked(empty, 0, units) : nullptr;
}

// The free units of ss that may hold pages: resident ones and sparse ones.
uint32_t UnitsWithPages(const SuperSlab* ss) { return ss->resident_free | ss->sparse_free; }

// Gives back the pages of every resident or sparse free unit of ss, a run
// of them a call (the lock is held, and each call may shoot down TLBs).
size_t DecommitResidentLocked(SuperSlab* ss) {
  size_t released = 0;
  ForEachRun(UnitsWithPages(ss), [&](uint32_t first, uint32_t run) {
    OsDecommit(ss->base + size_t{first} * kUnitSize, size_t{run} * kUnitSize);
    released += size_t{run} * kUnitSize;
  });
  g_resident_free_units.fetch_sub(CountUnits(ss->resident_free), std::memory_order_relaxed);
  ss->resident_free = 0;
  ss->sparse_free = 0;
  ReindexLocked(ss);
  return released;
}

// Free units kept resident when a span is released: as many as the program
// had in use at its peak in this decay window (at least 4 MiB), at most
// HAKMEM_POOL_RETAIN_BYTES or half that peak, whichever is more, but never
// more than four times the setting (so that a small one still bounds them;
// as the big cache's bound: mstress, 4 threads of 16 - 128 KiB blocks,
// 1.2 GiB in use and all of it freed every round, spent half its time
// faulting pages in again and shooting down TLBs under 256 MiB; 2.3x with
// half). A program that frees its blocks and allocates them again (each
// round of a batch, each request of a server) reuses the pages instead of
// faulting them in again (glibc_simple, 10,000 blocks of 4 KiB: 40x faster
// than keeping a quarter of what is in use); what then stays unused for
// HAKMEM_DECAY_MS goes back by time (DecaySuperSlabs). "As many as the
// peak" has an eighth more room: free units the program's spans could not
// reuse (holes of one size among spans of another) are resident beside the
// peak's, and a program that freed all it had gave the last of its spans
// back and faulted them in again at every round (400 blocks of 256 - 312 KiB
// written and freed in rounds: 66,000 page faults in 100 rounds, 30,400
// with the eighth; mimalloc 28,700).
uint64_t RetainLimitUnits() {
  const uint64_t peak = g_window_peak_units.load(std::memory_order_relaxed);
  const uint64_t configured = GetConfig().pool_retain_bytes / kUnitSize;
  const uint64_t bound = std::max(configured, std::min(peak / 2, 4 * configured));
  return std::min(bound, std::max<uint64_t>(peak + peak / 8, (uint64_t{4} << 20) / kUnitSize));
}

// A program that releases fewer units than this a second turns its memory
// over slowly: faulting in again what it frees costs it little (at this rate
// 8,192 page faults a second; at about 1 us each, under 1 % of a core).
// app_sqlite_file releases some 130 a second, alloc_test_1t 230,000.
constexpr uint64_t kBusyReleaseUnitsPerSecond = 512;

// Judged over this decay window and the one before, each taken as
// HAKMEM_DECAY_MS long (a pass that comes late makes a window longer, and the
// program looks busier than it is: the safe side).
bool TurnsOverSlowly() {
  const uint64_t busy =
      std::max<uint64_t>(1, kBusyReleaseUnitsPerSecond * GetConfig().decay_ms / 1000);
  return g_window_released_units.load(std::memory_order_relaxed) < busy &&
         g_last_window_released_units.load(std::memory_order_relaxed) < busy;
}

// Whether a span of `units` being released may keep its pages. Within the
// retain limit, and for a program that turns its memory over slowly only
// while what is in use and what is kept add up to no more than the most in use
// in this window: a span that found no resident run to take faults fresh
// units in while the kept ones wait, and the program's peak RSS grows by them
// (app_sqlite_file, whose growing buffers step through spans of 1, 2, 3, 5 and
// 10 units: 1 - 1.5 MiB of its 13.3 MiB peak). A window starts from what is in
// use, without what is kept, so until the program grows again its releases go
// back: that costs a slow program little, and the last window's peak as the
// bound gave app_sqlite_file 0.7 MiB of the 1.2 back.
bool MayKeepResident(uint32_t units) {
  const uint64_t resident_free = g_resident_free_units.load(std::memory_order_relaxed);
  if (resident_free + units > RetainLimitUnits()) return false;
  if (!TurnsOverSlowly()) return true;
  // InUseUnits still counts the span: the sum is the same after its release.
  return resident_free + InUseUnits() <= g_window_peak_units.load(std::memory_order_relaxed);
}

// A new decay window starts from what is in use and nothing released; the
// last one's releases count for one more window.
void RestartWindowLocked(uint64_t now_ms) {
  g_window_start_ms = now_ms;
  g_window_peak_units.store(InUseUnits(), std::memory_order_relaxed);
  g_last_window_released_units.store(g_window_released_units.load(std::memory_order_relaxed),
                                     std::memory_order_relaxed);
  g_window_released_units.store(0, std::memory_order_relaxed);
}

// Claims a SuperSlab about to be mapped; true if that takes the process past
// the most it has had at once (which then counts it). Only such growth asks
// another tier to give way: a program whose slab tiers map again what decay
// unmapped, at the same size (large_1t: 2 - 3 MiB a second), keeps that
// tier's cache.
bool ClaimMappingPastTheMost() {
  const uint64_t n = g_claimed.fetch_add(1, std::memory_order_relaxed) + 1;
  uint64_t most = g_most_claimed.load(std::memory_order_relaxed);
  while (n > most) {
    if (g_most_claimed.compare_exchange_weak(most, n, std::memory_order_relaxed)) return true;
  }
  return false;
}

// Up to `max` - got more spans into out[got..], under one hold of g_lock.
uint32_t CarveSpansLocked(uint32_t units, Slab** out, uint32_t got, uint32_t max) {
  while (got < max && (out[got] = CarveFromMappedLocked(units)) != nullptr) ++got;
  return got;
}

}  // namespace

void InstallGrowthReclaimer(GrowthReclaimer reclaimer) {
  g_growth_reclaimer.store(reclaimer, std::memory_order_release);
}

uint32_t AcquireSpans(uint32_t units, Slab** out, uint32_t max, MayMap may_map) {
  uint32_t got = 0;
  {
    sync::SpinLockHolder hold(&g_lock);
    got = CarveSpansLocked(units, out, got, max);
  }
  // A new SuperSlab only when nothing mapped had room: a batch is a
  // convenience, not a reason to map more.
  while (got == 0 && may_map == MayMap::kYes) {
    // Map outside the lock: mmap is slow and other threads need the lock.
    if (ClaimMappingPastTheMost()) {
      if (const GrowthReclaimer r = g_growth_reclaimer.load(std::memory_order_acquire)) {
        r(kSuperSlabSize);
      }
    }
    SuperSlab* ss = MapSuperSlab();
    if (ss == nullptr) {
      g_claimed.fetch_sub(1, std::memory_order_relaxed);  // the most may stay one high
      break;
    }
    sync::SpinLockHolder hold(&g_lock);
    LinkLocked(ss);
    ++g_empty_count;
    got = CarveSpansLocked(units, out, got, max);
  }
  return got;
}

void ReleaseSpan(Slab* slab, Residency residency) {
  SuperSlab* ss = slab->superslab;
  const uint32_t first = slab->first_unit;
  const uint32_t units = slab->units;
  const uint32_t bits = SpanBits(first, units);
  // Pages that may not stay resident go back to the OS now, before the span is
  // marked free (after that another thread may carve and use it).
  bool decommit = residency == Residency::kDecommit ||
                  (residency == Residency::kWithinRetainLimit && !MayKeepResident(units));
  // Unless hardly any are resident (a big block the program wrote a few pages
  // of): the madvise call and its TLB shootdown then cost more than those
  // pages hold, and the span is kept as a sparse one, counted as holding
  // none (5,000 blocks of 200 KB, two pages of each written and all freed
  // in rounds, 1.25 GiB of spans and 40 MiB of pages: half the spans went
  // back a round, 3.3 us a block); with none resident, as a span whose
  // pages went. If the kernel will not say, they go.
  bool sparse = false;
  bool none_resident = false;
  if (decommit && residency == Residency::kWithinRetainLimit) {
    const size_t pages = size_t{units} * (kUnitSize / kPageSize);
    const size_t resident =
        OsResidentPages(ss->base + size_t{first} * kUnitSize, size_t{units} * kUnitSize, pages);
    if (resident <= pages / kSparseFraction) {
      decommit = false;
      sparse = resident != 0;
      none_resident = resident == 0;
    }
  }
  const uint64_t now = NowMs();
  // First the span stops being blocks: nothing of it counts as carved (a late
  // free that still found the Slab is refused), and the range map says "free
  // unit" (a later one is reported). Only then may the pages go (their free
  // keys with them), and only then, under the lock, do the units become
  // free for another span to carve.
  slab->carved.store(0, std::memory_order_relaxed);
  slab->PublishDigest();
  RangeMap::Register(ss->base + size_t{first} * kUnitSize, size_t{units} * kUnitSize,
                     RangeKind::kFreeUnit, ss);
  if (decommit) OsDecommit(ss->base + size_t{first} * kUnitSize, size_t{units} * kUnitSize);
  sync::SpinLockHolder hold(&g_lock);
  if (ss->free_units == 0) {
    RemoveLocked<&SuperSlab::list>(g_full, ss);
    LinkLocked(ss);
  }
  ss->free_units |= bits;
  g_free_units.fetch_add(units, std::memory_order_relaxed);
  if (residency == Residency::kWithinRetainLimit) {
    g_window_released_units.store(
        g_window_released_units.load(std::memory_order_relaxed) + units,
        std::memory_order_relaxed);  // under g_lock: no locked add
  }
  if (sparse) {
    // Its few pages go with the resident ones: at a decay of the SuperSlab,
    // which a stream of such releases puts off (kept free memory stays
    // within the retain limit and a sixteenth of the sparse units).
    ss->released_ms = now;
    ss->sparse_free |= bits;
  } else if (!decommit && !none_resident) {
    // The SuperSlab's resident free units age from here (a decommitted span
    // leaves their clock alone: it does not make them any younger).
    ss->released_ms = now;
    ss->resident_free |= bits;
    g_resident_free_units.fetch_add(units, std::memory_order_relaxed);
  }
  ReindexLocked(ss);
  if (ss->free_units != kAllUnits) return;
  // An empty SuperSlab with resident pages (sparse ones too) stays for reuse
  // until it decays.
  if (g_empty_count < GetConfig().superslab_cache || UnitsWithPages(ss) != 0) {
    ++g_empty_count;
    return;
  }
  UnlinkLocked(ss);
  UnmapSuperSlab(ss);
}

size_t TrimSuperSlabs() {
  size_t released = 0;
  sync::SpinLockHolder hold(&g_lock);
  SuperSlab* ss = g_with_space;
  while (ss != nullptr) {
    SuperSlab* next = ss->list.next;
    if (ss->free_units == kAllUnits) {
      UnlinkLocked(ss);
      --g_empty_count;
      UnmapSuperSlab(ss);
      released += kSuperSlabSize;
    } else {
      released += DecommitResidentLocked(ss);
    }
    ss = next;
  }
  return released;
}

size_t DecaySuperSlabs(uint64_t now_ms, uint64_t window_ms, uint64_t idle_ms) {
  size_t released = 0;
  SuperSlab* to_unmap = nullptr;
  {
    sync::SpinLockHolder hold(&g_lock);
    if (now_ms >= g_window_start_ms + window_ms) RestartWindowLocked(now_ms);
    for (SuperSlab* ss = g_with_space; ss != nullptr;) {
      SuperSlab* next = ss->list.next;
      if (ss->released_ms + idle_ms <= now_ms) {
        if (ss->free_units == kAllUnits) {
          UnlinkLocked(ss);
          --g_empty_count;
          ss->list.next = to_unmap;
          to_unmap = ss;
        } else if (UnitsWithPages(ss) != 0) {
          released += DecommitResidentLocked(ss);
        }
      }
      ss = next;
    }
  }
  while (to_unmap != nullptr) {
    SuperSlab* next = to_unmap->list.next;
    released += kSuperSlabSize;
    UnmapSuperSlab(to_unmap);  // takes the header pool's lock, not g_lock
    to_unmap = next;
  }
  return released;
}

size_t CollapseFullSuperSlabs(uint64_t now_ms) {
  if (!OsCollapseMayWork()) return 0;
  SuperSlab* picked[kCollapsesPerPass];
  char* bases[kCollapsesPerPass];
  uint32_t n = 0;
  {
    sync::SpinLockHolder hold(&g_lock);
    for (SuperSlab* ss = g_full; ss != nullptr && n < kCollapsesPerPass; ss = ss->list.next) {
      // Only an arena chunk: the collapse below runs outside the lock, and a
      // SuperSlab mapped elsewhere may be unmapped meanwhile (malloc_trim on
      // another thread) and its addresses mapped by anyone, whose mapping
      // the advice and the collapse would then change.
      if (ss->collapse_after_ms > now_ms) continue;
      if (!InArena(ss->base)) {
        ss->collapse_after_ms = UINT64_MAX;  // never: not looked at again
        continue;
      }
      ss->collapse_after_ms = now_ms + kCollapseRetryMs;
      picked[n] = ss;
      bases[n++] = ss->base;
    }
  }
  // Outside the lock: a collapse takes the kernel 5 - 20 ms. A SuperSlab that changed
  // meanwhile (a span given back, even the whole of it given back and its
  // chunk taken again) is no danger: its chunk stays the arena's, a collapse
  // keeps every page's contents, and a decommit racing it wins or makes it
  // fail.
  size_t collapsed = 0;
  for (uint32_t i = 0; i < n; ++i) {
    if (OsResidentPages(bases[i], kSuperSlabSize) < kCollapseMinResidentPages) continue;
    const Collapse result = CollapseSuperSlab(bases[i]);
    if (result == Collapse::kUnsupported) break;
    if (result != Collapse::kDone) continue;
    ++collapsed;
    g_collapsed.fetch_add(1, std::memory_order_relaxed);
    sync::SpinLockHolder hold(&g_lock);
    // Still the same SuperSlab, full since: done with it until it is full
    // again (a unit decommitted meanwhile split the page).
    if (picked[i]->base == bases[i] && picked[i]->free_units == 0) {
      picked[i]->collapse_after_ms = UINT64_MAX;
    }
  }
  return collapsed;
}

uint64_t HugePageCollapses() { return g_collapsed.load(std::memory_order_relaxed); }

uint64_t InUseBytes() { return InUseUnits() * kUnitSize; }

uint64_t ResidentFreeBytes() {
  return g_resident_free_units.load(std::memory_order_relaxed) * kUnitSize;
}

uint64_t LiveSuperSlabs() { return g_live.load(std::memory_order_relaxed); }

uint64_t MostLiveSuperSlabs() { return g_most_claimed.load(std::memory_order_relaxed); }

uint64_t SuperSlabsScanned() { return g_scanned.load(std::memory_order_relaxed); }

// Lock order: g_lock, then the header pool's lock (UnmapSuperSlab frees a
// header while holding g_lock).
void LockSuperSlabsForFork() {
  g_lock.Lock();
  g_headers.lock().Lock();
  LockArenaForFork();
}

void UnlockSuperSlabsAfterFork(bool in_child) {
  UnlockArenaAfterFork(in_child);
  if (in_child) {
    g_lock.ResetAfterFork();
    g_headers.lock().ResetAfterFork();
  } else {
    g_headers.lock().Unlock();
    g_lock.Unlock();
  }
}

}  // namespace hakmem::tiny
