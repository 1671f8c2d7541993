// The Large tier: requests above 1 MiB (and over-aligned ones) get memory in
// 2 MiB units, each block its own 2 MiB-aligned range registered in the range
// map by its ends (the first 64 KiB of its first and of its last unit). Freed
// ranges stay mapped in a page heap (the "big cache"): free ranges by size,
// split to serve a smaller request, merged with free neighbours, and several
// moved together (mremap) into one range to serve a larger one, so that a
// program that frees and allocates big buffers of any sizes (I/O, image and
// parse buffers) reuses memory that is already faulted in, without page faults.
// The cache is bounded by HAKMEM_LARGE_CACHE_BYTES, half the live Large memory,
// or what takes live Large memory back to its recent peak, whichever is largest
// (the range unused longest goes first), and it decays: a range unused for
// HAKMEM_DECAY_MS goes back to the OS at the next Large allocation or free or
// decay pass, or at malloc_trim. A thread reuses ranges it freed itself first,
// and keeps the last two it freed of up to 4 MiB for itself (ThreadRanges).
#ifndef HAKMEM_POOLS_LARGE_LARGE_TIER_H_
#define HAKMEM_POOLS_LARGE_LARGE_TIER_H_

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace hakmem::large {

// The kernel mappings a Large range is made of, in address order, as counts
// of 2 MiB units, each count's units lying in one mapping (mapped whole, a
// part of one, or one moved whole), so that a move takes one mremap per
// mapping (MovePages). count 0: not known (more than kMax, or a move that
// fell back to single units), moved a unit at a time. 31: buffers of 1 - 8
// GiB at random sizes, replaced in turn, overflowed 7 (37 calls a request,
// 195 us; 20 us within 31).
struct Mappings {
  static constexpr uint32_t kMax = 31;
  uint32_t count;
  uint32_t units[kMax];
};

struct LargeBlock {
  LargeBlock* next;          // in its free-size bucket while cached
  LargeBlock* prev;
  char* base;                // start of the range == the user pointer
  size_t map_size;           // bytes of the range (multiple of 2 MiB)
  size_t usable;             // bytes the program may use (page multiple)
  // Bytes from base all of whose pages were resident when ZeroFill cleared
  // them, none dropped by hakmem since (the program's own madvise and the
  // kernel's reclaim aside): a hint, ZeroFill's plain memset is right anyway.
  size_t resident_bytes;
  uint64_t freed_ms;         // when it was last freed (NowMs)
  bool cacheable;            // false for ranges aligned beyond 2 MiB
  bool cached;               // in the big cache's free lists (under its lock)
  bool dirty;                // has been handed out before (not known zero)
  bool huge;                 // on huge pages (MakeCachedRangesHuge)
  uint64_t huge_after_ms;    // MakeCachedRangesHuge: not tried again before this
  uint32_t reuses;           // handed out from the cache (its record's, not merged ones')
  uintptr_t freed_by;        // the thread that freed it last (its thread pointer)
  std::atomic<bool> in_use;  // false while cached: a free then is a double free
  Mappings mappings;         // what MovePages moves it by (last: only moves read it)
};

// A thread's home for the Large ranges it frees (one per thread heap,
// core/thread_heap.h): the last kSlots ranges of up to kMaxBytes, taken back
// by the same thread for a request of exactly their size, with no trip to the
// big cache. The big cache's lock, bucket heads and records are lines every
// thread writes; where two CPUs share no cache, fetching them from the other
// core on every Large malloc and free cost large_2t about as much as the L2.5
// spans' trips (docs/BENCHMARKS.md). A range here is free (in_use false: a
// second free of it is reported) and counts as live for the big cache's
// bound until it goes there: when the next one displaces it, when its thread
// exits, at every decay pass and malloc_trim (TakeThreadRanges), and when its
// thread asks for a size no cached range holds (Alloc: it serves that), so it
// stays here no longer than about a quarter of HAKMEM_DECAY_MS. Two slots:
// four held 7 MiB more of large_2t's peak for no more speed.
struct ThreadRanges {
  static constexpr int kSlots = 2;
  static constexpr size_t kMaxBytes = size_t{4} << 20;
  // Only the owner puts a range in; anyone may take one out (exchange).
  std::atomic<LargeBlock*> slot[kSlots] = {};
  size_t size[kSlots] = {};  // map_size of what the owner last put in slot i (owner only)
  uint32_t next = 0;         // where the next free looks first: after the newest (owner only)
  // Requests served here (written by the owner only, read by statistics).
  std::atomic<uint64_t> hits{0};
};

// A block of at least `size` bytes aligned to `alignment` (a power of two).
// *zeroed tells whether the memory is known to be zero (fresh from the OS).
// `mine`: the calling thread's ranges, or nullptr (a thread with no heap).
void* Alloc(size_t size, size_t alignment, bool* zeroed, ThreadRanges* mine = nullptr);
// Zeroes the first `bytes` of p, a block Alloc handed out not zeroed (calloc),
// without faulting in pages that are not resident (OsZeroFill: a few pages
// of an 8 GiB block touched, the next calloc of that size faulted in all 8
// GiB), and without asking the kernel which those are where ZeroFill found
// the pages all resident last time (a reused 4 MiB buffer: 7 % slower with
// the mincore call).
void ZeroFill(void* p, size_t bytes);
// Frees p, whose range-map entry named `block`. Reports foreign, interior and
// double frees instead of acting on them.
void Free(LargeBlock* block, void* p, ThreadRanges* mine = nullptr);
// Takes every range out of `ranges` (any thread may) and returns them
// chained through their `next` in front of `chain`; ReturnRanges hands such a
// chain to the big cache (its lock, maybe munmap: a caller holding a lock of
// its own takes first and returns after).
LargeBlock* TakeThreadRanges(ThreadRanges* ranges, LargeBlock* chain = nullptr);
void ReturnRanges(LargeBlock* chain);
// The range (a block in use or a cached range) p lies in, or nullptr. The
// range map has entries for a range's ends only, so this walks back from p
// a unit at a time: for reports of invalid pointers and hak_owns, not for
// a block's start, which RangeMap::Lookup finds. The record may change under
// a caller that does not have the block in use.
LargeBlock* RangeAround(const void* p);
// Grows (into a free neighbour) or shrinks (giving the tail to the cache) in
// place when it can; false otherwise.
bool ResizeInPlace(LargeBlock* block, size_t new_size);
// Moves the block to a range of at least new_size bytes without copying
// (mremap), when the block may move; nullptr if it cannot (the caller copies).
void* Remap(LargeBlock* block, size_t new_size);
// Unmaps the oldest cached ranges, about `bytes` of them (a bigger range is
// split and its head goes), because the slab tiers (Tiny, Mid, L2.5) are about
// to map that much new memory past the most they have had: memory the cache
// keeps for Large blocks that do not come must not add to the program's
// footprint while it grows elsewhere (sqlite3 in memory: 2 MiB sort buffers
// cached while its journal grew by 20 MiB). Called with the caller's cache
// lock held (pools/tiny: a refill), so it takes only the cache's own locks.
// Returns the bytes unmapped.
size_t YieldToSlabGrowth(size_t bytes);
// Unmaps every cached range. Returns the bytes released.
size_t Trim();
// Decay (core/decay.h): unmaps the oldest cached ranges beyond the cache's
// bound and those unused for `idle_ms` (HAKMEM_DECAY_MS, as Large calls do on
// their way; less while the program grows elsewhere). Returns the bytes.
size_t Decay(uint64_t now_ms, uint64_t idle_ms);
// Puts cached ranges the program keeps taking from the cache (kHugeMinReuses
// times), all of whose pages are resident, onto transparent huge pages: their
// touches then cost one TLB entry per 2 MiB instead of per page (large_1t
// 1.3x). Not fresh mappings: the kernel's clearing of each fresh 2 MiB page
// cost more than it gave where ranges are mapped often (large_2t 0.86x,
// bigbuf 0.85x). Called by the decay thread only, up to kHugeBytesPerPass a call,
// each range tried at most every kHugeRetryMs, and not within kHugeQuietMs
// of the cache going over its bound (its ranges then go back to the OS, and a
// huge page freed and faulted in again costs this VM more than it saves:
// large_2t 0.86 - 0.90x without that test).
//
// A cached range's contents do not matter, so it is not collapsed in place
// (MADV_COLLAPSE copies every page into a new huge page holding the
// process's mmap lock for writing, during which every page fault and mmap
// call of the program waits: 1 - 65 ms per 4 MiB on this VM, and large_1t's
// rounds fell anywhere in 0.12 - 0.19 M ops/s). Instead the range leaves the
// cache, its pages are dropped, it is advised huge (OsAdviseHuge) and each
// 2 MiB touched once, so that the kernel faults in zeroed huge pages (with
// the mmap lock for reading only), and it goes back, known zero. Only under
// THP "madvise" (under "always" the program's faults got huge pages already;
// under "never" none is to be had); after a range did not get them, none is
// tried for kHugeBackoffMs. Returns the bytes this call put on huge pages.
// One caller at a time (the decay thread): the range it has out of the cache
// is one.
inline constexpr size_t kHugeBytesPerPass = size_t{8} << 20;
inline constexpr uint64_t kHugeRetryMs = 1000;
inline constexpr uint32_t kHugeMinReuses = 16;
inline constexpr uint64_t kHugeQuietMs = 1000;
inline constexpr uint64_t kHugeBackoffMs = 10000;
size_t MakeCachedRangesHuge(uint64_t now_ms);

struct LargeStats {
  uint64_t allocs;
  uint64_t cache_hits;
  uint64_t cached_bytes;
  uint64_t live_bytes;       // in blocks in use, and in ranges threads keep (ThreadRanges)
  uint64_t decayed_bytes;    // unmapped by decay (not by trim or the bound)
  uint64_t yielded_bytes;    // unmapped for the other tiers' growth (YieldToSlabGrowth)
  uint64_t huge_ranges;      // put on huge pages by MakeCachedRangesHuge, ever
};
LargeStats GetLargeStats();

void LockForFork();
void UnlockAfterFork(bool in_child);

}  // namespace hakmem::large

#endif  // HAKMEM_POOLS_LARGE_LARGE_TIER_H_
