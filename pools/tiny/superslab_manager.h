// The global source of slab spans: maps 2 MiB SuperSlabs, hands out runs of
// free 64 KiB units, takes them back, and unmaps SuperSlabs that fall empty
// beyond a small cache (HAKMEM_SUPERSLAB_CACHE). One spin lock guards it; it is
// reached only when a thread cache needs a new slab or gives one back.
#ifndef HAKMEM_POOLS_TINY_SUPERSLAB_MANAGER_H_
#define HAKMEM_POOLS_TINY_SUPERSLAB_MANAGER_H_

#include <cstddef>
#include <cstdint>

#include "pools/tiny/slab.h"

namespace hakmem::tiny {

// Whether AcquireSpans may map a new SuperSlab when no mapped one has room.
enum class MayMap : bool { kNo, kYes };

// Up to `max` spans of `units` free units each, owned by nobody (the caller
// formats them), taken under one lock; free units whose pages are still
// resident first. Returns how many (0: nothing mapped had room and mapping
// was not allowed, or the OS refused).
uint32_t AcquireSpans(uint32_t units, Slab** out, uint32_t max, MayMap may_map);

// Free memory another tier keeps resident for itself (the Large tier's cache
// of freed mappings) must not add to a footprint that grows here: before
// AcquireSpans maps a SuperSlab past the most the process has had at once
// (MostLiveSuperSlabs), it asks the reclaimer installed here (if any) to give
// back about that many bytes. The reclaimer runs with the calling thread
// cache's lock held: it must take no thread cache's or core's lock. Returns
// the bytes given back.
using GrowthReclaimer = size_t (*)(size_t bytes);
void InstallGrowthReclaimer(GrowthReclaimer reclaimer);

// What a released span's pages do.
enum class Residency : uint8_t {
  kWithinRetainLimit,  // stay resident within the retain limit (HAKMEM_POOL_RETAIN_BYTES; for a
                       // program that turns memory over slowly, its peak in use)
  kKeep,               // stay resident: a refill is about to carve them again
  kDecommit,           // go back now: unused for the decay delay already
};
// Gives a span back. Its blocks must all be free. Beyond what may stay resident
// (kWithinRetainLimit; unless told to keep them) its pages are decommitted
// (MADV_DONTNEED) before it is marked free, unless at most one in
// kSparseFraction is resident: such a span is kept as it is, counted as
// holding none (SuperSlab::sparse_free), until decay or trim.
inline constexpr size_t kSparseFraction = 16;
void ReleaseSpan(Slab* slab, Residency residency = Residency::kWithinRetainLimit);
// Decay: decommits the resident (and sparse) free units of every SuperSlab that has given
// no unit back for `idle_ms`, and unmaps those that stayed empty that long;
// `window_ms` is the window the retain limit's peak is taken over
// (HAKMEM_DECAY_MS; idle_ms is the same but shorter while the program grows
// elsewhere, core/decay.cc). Returns the bytes given back to the OS.
size_t DecaySuperSlabs(uint64_t now_ms, uint64_t window_ms, uint64_t idle_ms);
// Backs full SuperSlabs (no free unit) that are almost all resident with a
// transparent huge page each (MADV_COLLAPSE), up to kCollapsesPerPass per
// call; each is tried again kCollapseRetryMs after a try that did not take,
// and only while it stays full. Called by the decay thread only (with
// HAKMEM_HUGE_PAGES on, core/decay.cc). A collapse takes the kernel 5 - 20 ms
// (finding a free huge page, often by compaction, and copying 2 MiB), while
// the program's touches of that range wait: only a SuperSlab full for
// kCollapseFullForMs stays full long enough to repay it (sqlite3 in memory,
// 1.2 s, collapsed 11 at 250 ms and ran 1.08x longer; at 2 s none, and
// phase_1t and phase_short_2t keep their gain). A program whose live blocks cover more
// pages than the TLB maps (a 4 KiB page each; 2 MiB-aligned SuperSlabs fit
// huge pages exactly) walks page tables on most touches of its blocks: with
// THP "always" for the whole process (not only full SuperSlabs), phase_1t
// (60 MiB live of 1 - 32 KiB blocks) ran 1.19x, but alloc_test and mid_1t
// held 31 % and 51 % more at their peaks at no gain, their SuperSlabs being
// partly used. Only full ones with kCollapseMinResidentPages of 512 pages
// resident: a collapse fills the rest with zeros, so a SuperSlab costs at most
// that much more. Returns how many were collapsed now.
inline constexpr uint32_t kCollapsesPerPass = 4;
inline constexpr uint64_t kCollapseFullForMs = 2000;
inline constexpr uint64_t kCollapseRetryMs = 1000;
inline constexpr size_t kCollapseMinResidentPages = 496;  // of 512: 64 KiB at most filled
size_t CollapseFullSuperSlabs(uint64_t now_ms);
// SuperSlabs collapsed so far (HAKMEM_STATS).
uint64_t HugePageCollapses();
// Decommits every resident free unit and unmaps every empty SuperSlab.
// Returns the number of bytes given back to the OS.
size_t TrimSuperSlabs();
// Bytes of free units whose pages are still resident.
uint64_t ResidentFreeBytes();
// Bytes of the units spans hold (owned by a thread cache, or kept idle by a
// tier): everything mapped but the free units.
uint64_t InUseBytes();

uint64_t LiveSuperSlabs();
// The most SuperSlabs the process has had mapped (or being mapped) at once.
uint64_t MostLiveSuperSlabs();
// SuperSlabs the search for a span that found no resident run looked at,
// ever (the second pass of the placement: at most a few dozen per span, and
// none whose free runs are all too short for it).
uint64_t SuperSlabsScanned();

// fork(): the parent holds the lock across fork; both sides then release it.
void LockSuperSlabsForFork();
void UnlockSuperSlabsAfterFork(bool in_child);

}  // namespace hakmem::tiny

#endif  // HAKMEM_POOLS_TINY_SUPERSLAB_MANAGER_H_
