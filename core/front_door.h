// The front door: the fast paths of malloc and free, inlined into the exported
// symbols (preload/) and into the hak_* API (alloc.cc).
//
// Call tree (the map a newcomer needs):
//
//   malloc(n) -> AllocInline(n)      (operator new, calloc: the same, AllocOr)
//     n <= 1 MiB: c = SizeToClass(n), as its bin's offset  core/base/size_classes.h
//                 (a table for n <= 64 KiB: kBinBy8Bytes)
//                 tls_heap->tiny.TryPopAt(bin) -- hit: done  pools/tiny/thread_cache.h
//                 AllocSmallSlow(n, c)                     alloc.cc
//                   first call of a thread: SetUpThreadHeap thread_heap.cc
//                   nudged thread: ReturnFromNudge         heap_upkeep.h
//                   W_MAX: a larger class's cached block   pools/mid/mid_pool.h
//                   ThreadCache::Refill(c)                 thread_cache_refill.cc
//                     revived slabs, partial slabs, idle spans
//                     (Mid/L2.5: pools/mid/idle_spans.h), then new spans
//                     (pools/tiny/superslab_manager.h)
//     n >  1 MiB: AllocLarge(n) -> large::Alloc (big cache, else mmap)
//
//   posix_memalign(a, n) & co. -> AlignedAllocInline(a, n)
//     AlignedClassOf: the class that keeps the alignment   core/base/size_classes.h
//     (or keeps it in its colour-0 spans only: the bin's
//     head if aligned, TryPopAligned); TryPopAt, else
//     hak_alloc_aligned (alloc.cc: AllocColourZeroClass, or
//     the first aligned address inside a larger block,    pools/tiny/aligned_inside.h
//     marked there)
//
//   free(p) -> FreeInline(p)
//     RangeMap::UnitForFree(p): p's unit entry (another   core/base/range_map.h
//       unit's outside the arena): the Slab of the unit,
//       and a digest of its fields free needs
//     tls_heap->tiny.Free(entry, p, FreeOther)             pools/tiny/thread_cache.h
//       a carved block start whose key byte is not the free
//       key's (IsSurelyInUse, slab.h)?
//       own slab: push on this thread's bin; over the bin's limit,
//       flush half to the slabs (FlushBin)
//       another owner's slab (always, for a thread with no heap
//       yet): FreeMixed keeps it while the class is in an
//       exchange (or the owner a partner) and the bin runs low,
//       else FreeOthersBlock sends it home; every block takes
//       FreeMixed while the thread frees others' blocks among its
//       own (no branch on the owner there)
//     otherwise: FreeOther(p): nullptr, an aligned pointer inside its
//                block (found from the same entry), Large, a slab pointer
//                the block test refused (FreeUnusual: a block in use whose
//                key byte matched is freed; a double free, never-allocated
//                or interior pointer reported), a free unit or a pointer
//                hakmem never mapped (reported)
#ifndef HAKMEM_CORE_FRONT_DOOR_H_
#define HAKMEM_CORE_FRONT_DOOR_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "absl/base/attributes.h"
#include "absl/base/optimization.h"
#include "core/base/range_map.h"
#include "core/base/size_classes.h"
#include "core/thread_heap.h"
#include "pools/tiny/aligned_inside.h"
#include "pools/tiny/slab.h"

namespace hakmem {

// Slow paths (alloc.cc). Each sets errno = ENOMEM when it returns nullptr.
ABSL_ATTRIBUTE_NOINLINE void* AllocSmallSlow(size_t size, int size_class);
ABSL_ATTRIBUTE_NOINLINE void* AllocLarge(size_t size);
// calloc's every case but a bin's hit (CallocInline): n * size overflowing,
// an empty bin, a Large request.
ABSL_ATTRIBUTE_NOINLINE void* CallocSlow(size_t n, size_t size);
// Frees what is not a slab block in use (nullptr, Large, an aligned pointer
// handed out inside a block, or reported as invalid).
ABSL_ATTRIBUTE_NOINLINE void FreeOther(void* p);
// realloc's every case (alloc.cc, hak_realloc): ReallocInline's slow path.
ABSL_ATTRIBUTE_NOINLINE void* ReallocSlow(void* p, size_t size);
// malloc_usable_size of anything but a slab block in use (nullptr too):
// UsableSizeInline's slow path.
ABSL_ATTRIBUTE_NOINLINE size_t UsableSizeSlow(const void* p);

// The bin (as its byte offset, ThreadCache::BinOffset) of every request up
// to kLookupMaxSize, one entry per 8 bytes (kTinyClassLookup's classes up to
// kTinyMaxSize, kMidClassLookup's above): one table for both tiers, so that
// malloc has no branch between them. A program whose requests mix Tiny and
// Mid sizes in no order (xthread's 8 B - 4 KiB: a quarter Tiny) mispredicted
// that branch on about a third of its mallocs (cachegrind: 0.30 per op);
// without it, both threads on one CPU of AMD EPYC (Zen 5), xthread_2t 40.4 ->
// 44.5 M ops/s (tcmalloc 47), on two in the fast mode 113 -> 124, rptest_2t
// 56.8 -> 60.2, for the rounding to 8 bytes (two instructions: a table
// indexed by the size itself, 2 KiB for the Tiny tier alone, saved them) and
// 16 KiB (and an entry) of table, of which a program touches the lines of the
// sizes it asks for (tiny_1t, glibc_simple, mid_1t, alloc_test_1t within 1 %).
// Page-aligned, so that where it lies no longer moves with unrelated code:
// a change elsewhere that moved the Tiny table by 128 bytes (0x146e0 ->
// 0x14760 in the library) made tiny_1t and tiny_4t 7 % slower on AMD EPYC
// (Zen 4) with the same instructions and the same counters; page-aligned,
// that change ran at the old speed.
alignas(4096) inline constexpr auto kBinBy8Bytes = [] {
  std::array<uint16_t, (kLookupMaxSize >> 3) + 1> t{};
  for (size_t i = 0; i < t.size(); ++i) {
    const size_t size = i << 3;  // the largest request of entry i
    t[i] = tiny::ThreadCache::BinOffset(size <= kTinyMaxSize ? kTinyClassLookup[i]
                                                              : kMidClassLookup[(size + 127) >> 7]);
  }
  return t;
}();
static_assert(kBinBy8Bytes.size() == (kLookupMaxSize >> 3) + 1);
static_assert(tiny::ThreadCache::BinOffset(kNumClasses - 1) <= UINT16_MAX);

// The bin offset of a request of at most kLookupMaxSize bytes.
ABSL_ATTRIBUTE_ALWAYS_INLINE inline size_t LookupBinOffset(size_t size) {
  return kBinBy8Bytes[(size + 7) >> 3];
}

// Where a path sends slab requests to its Large case too: from
// Path::kLargeFrom bytes if it says, else never.
template <class Path>
constexpr size_t LargeFrom() {
  if constexpr (requires { Path::kLargeFrom; }) {
    return Path::kLargeFrom;
  } else {
    return kMaxSmallSize + 1;
  }
}

// A request's block from its bin, as `Path::Hit(p, size)`, else
// `Path::Small(size, bin)` (the bin is empty) or `Path::Large(size)` (above
// the slab pool, or from LargeFrom<Path>()). Each is the caller's last call,
// so a caller whose misses are out of line (tail calls) runs its hit path
// with no frame of its own: malloc's (MallocPath), calloc's (its hit a tail
// call of memset), and operator new's, whose miss also runs the new_handler
// loop (preload/new_delete.cc).
template <class Path>
ABSL_ATTRIBUTE_ALWAYS_INLINE inline void* AllocOr(size_t size) {
  // One compare for both the Tiny and the Mid tier (kBinBy8Bytes).
  size_t bin;
  if (ABSL_PREDICT_TRUE(size <= kLookupMaxSize)) {
    bin = LookupBinOffset(size);
  } else if (size <= kMaxSmallSize && size < LargeFrom<Path>()) {
    bin = tiny::ThreadCache::BinOffset(static_cast<unsigned>(SizeToClass(size)));
  } else {
    return Path::Large(size);
  }
  if (void* p = CurrentHeap()->tiny.TryPopAt(bin); ABSL_PREDICT_TRUE(p != nullptr)) {
    return Path::Hit(p, size);
  }
  return Path::Small(size, bin);
}

struct MallocPath {
  static void* Hit(void* p, size_t) { return p; }
  static void* Small(size_t size, size_t bin) {
    return AllocSmallSlow(size, tiny::ThreadCache::ClassOfBinOffset(bin));
  }
  static void* Large(size_t size) { return AllocLarge(size); }
};

ABSL_ATTRIBUTE_ALWAYS_INLINE inline void* AllocInline(size_t size) {
  return AllocOr<MallocPath>(size);
}

// calloc: malloc's hit path for n * size bytes, the block zeroed by a tail
// call of memset (which returns it); an overflowing product, a miss and a
// Large request go to CallocSlow. Out of line whole (a memset whose result
// was tested), it saved and restored three registers on every call.
// Blocks of kCallocProbeMinBytes or more go the slow way, which clears them
// without faulting in the pages their last users never touched (CallocSlow).
inline constexpr size_t kCallocProbeMinBytes = size_t{256} << 10;
static_assert(kCallocProbeMinBytes > kLookupMaxSize, "the Tiny and Mid hit paths stay as they are");
struct CallocPath {
  static constexpr size_t kLargeFrom = kCallocProbeMinBytes;
  static void* Hit(void* p, size_t size) { return std::memset(p, 0, size); }
  static void* Small(size_t size, size_t) { return CallocSlow(1, size); }
  static void* Large(size_t size) { return CallocSlow(1, size); }
};

ABSL_ATTRIBUTE_ALWAYS_INLINE inline void* CallocInline(size_t n, size_t size) {
  size_t total;
  if (ABSL_PREDICT_FALSE(__builtin_mul_overflow(n, size, &total))) return CallocSlow(n, size);
  return AllocOr<CallocPath>(total);
}

// An aligned request (alignment a power of two): a block of the class that
// keeps the alignment (kAlignedClassPlan), taken by `take(class)`, or, where
// only the class's colour-0 spans keep it (kColourZero), by
// `take_aligned(class)`; nullptr where that gives none or where no class
// serves the request (an alignment beyond a unit, a size beyond the slab
// pool), without a call to either.
template <class Take, class TakeAligned>
ABSL_ATTRIBUTE_ALWAYS_INLINE inline void* AllocAlignedWith(size_t alignment, size_t size,
                                                           Take take, TakeAligned take_aligned) {
  // alignment 0 (an operator new given align_val_t{0}) wraps past kUnitSize:
  // AlignedClassOf's count of trailing zeros has no answer for it.
  if (ABSL_PREDICT_FALSE(alignment - 1 >= kUnitSize || size > kMaxSmallSize)) return nullptr;
  const int plan = AlignedClassOf(size, alignment);
  if (ABSL_PREDICT_TRUE(plan < kColourZero)) return take(plan);
  return take_aligned(plan & ~kColourZero);
}

// An aligned request that a bin serves; nullptr for everything else (an
// empty bin, a head not aligned, no class), which hak_alloc_aligned serves.
// Sets no errno, so posix_memalign, which must leave errno alone, saves it
// only on the slow path.
ABSL_ATTRIBUTE_ALWAYS_INLINE inline void* AlignedAllocInline(size_t alignment, size_t size) {
  return AllocAlignedWith(
      alignment, size, [](int c) { return CurrentHeap()->tiny.TryPop(static_cast<unsigned>(c)); },
      [alignment](int c) {
        return CurrentHeap()->tiny.TryPopAligned(static_cast<unsigned>(c), alignment);
      });
}

// AlignedAllocInline's block, else `miss()` as the caller's last call:
// aligned_alloc, memalign and the aligned operator new forms run their hit
// path with no frame (out of line whole, they saved and restored three
// registers). The miss takes its arguments in the caller's order, which
// leaves them in their registers (operator new's size first: 2 moves fewer).
template <class Miss>
ABSL_ATTRIBUTE_ALWAYS_INLINE inline void* AlignedAllocOr(size_t alignment, size_t size, Miss miss) {
  if (void* p = AlignedAllocInline(alignment, size); ABSL_PREDICT_TRUE(p != nullptr)) return p;
  return miss();
}

ABSL_ATTRIBUTE_ALWAYS_INLINE inline void FreeInline(void* p) {
  // An address outside the slab arena's window reads another unit's entry
  // here (UnitForFree, range_map.h); the slab's carved-range check refuses
  // it, and FreeOther looks it up properly. The entry's kind is not read: a
  // unit that is no slab's has nothing carved in its digest (range_map.h),
  // which is the test free makes anyway (three instructions and a load
  // fewer).
  CurrentHeap()->tiny.Free(RangeMap::UnitForFree(p), p, FreeOther);
}

// The bytes usable in p if it is surely a slab block in use (a carved block
// start whose key byte is not the free key's), read as free's fast path
// reads it: the unit's digest, with no two-level lookup and no Slab record
// (a unit that is no slab's has nothing carved in its digest); 0 for
// anything else (nullptr too), which the callers' slow paths sort out.
ABSL_ATTRIBUTE_ALWAYS_INLINE inline size_t SlabBlockInUseSize(const void* p) {
  const SlabDigest& d = RangeMap::UnitForFree(p).slab;
  const uint32_t at = d.class_offset.load(std::memory_order_relaxed);
  return tiny::IsSurelyInUse(d, at, p) ? tiny::BlockTestAt(at).size : 0;
}

// malloc_usable_size(p): a slab block in use answered in the exported symbol.
// Programs that count their memory call it on every malloc and free (redis:
// one and a half times the time of malloc and free, with the two-level
// lookup and the Slab's fields), and the call into the library's function
// and its test for nullptr came on top (three instructions).
ABSL_ATTRIBUTE_ALWAYS_INLINE inline size_t UsableSizeInline(const void* p) {
  if (const size_t n = SlabBlockInUseSize(p)) return n;
  return UsableSizeSlow(p);
}

// realloc(p, size) of a slab block in use that size fits and that is not
// more than twice size: p itself, with no call and no stack frame. A buffer
// grown by small appends (a string, a vector of bytes) stays in its block
// for most of them, and then the call into hak_realloc (which saved six
// registers) and the call to test the block were all realloc cost (4096
// appends of 24 bytes: 205 -> 172 instructions per call, counting the
// program's and the moves' memcpy). Anything else (nullptr, size 0, a move,
// Large, an invalid pointer) is ReallocSlow's.
ABSL_ATTRIBUTE_ALWAYS_INLINE inline void* ReallocInline(void* p, size_t size) {
  const size_t usable = SlabBlockInUseSize(p);
  if (ABSL_PREDICT_TRUE(size <= usable && size >= usable / 2 && size != 0)) return p;
  return ReallocSlow(p, size);
}

}  // namespace hakmem

#endif  // HAKMEM_CORE_FRONT_DOOR_H_
