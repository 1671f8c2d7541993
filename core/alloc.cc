// The hak_* API and the slow paths of the front door (front_door.h).
#include <errno.h>

#include <cstring>

#include "core/background.h"
#include "core/base/clock.h"
#include "core/base/config.h"
#include "core/base/invalid_free.h"
#include "core/base/os.h"
#include "core/decay.h"
#include "core/front_door.h"
#include "core/hakmem.h"
#include "core/heap_upkeep.h"
#include "pools/large/large_tier.h"
#include "pools/mid/idle_spans.h"
#include "pools/mid/mid_pool.h"
#include "pools/tiny/aligned_inside.h"
#include "pools/tiny/superslab_manager.h"

namespace hakmem {
namespace {

void* NoMemory() {
  errno = ENOMEM;
  return nullptr;
}

void* AllocLargeAligned(size_t size, size_t alignment, bool* zeroed) {
  EnsureGlobalInit();  // the large tier reads its cache limit from the configuration
  void* p = large::Alloc(size, alignment, zeroed, OwnLargeRanges());
  if (p == nullptr) return NoMemory();  // (no thread started out of memory: it would fail for good)
  // A program of big buffers may make no slab refill, where the thread
  // would start otherwise: what it frees then decays with no more calls.
  MaybeStartDecayThread();
  return p;
}

// After a refill: this thread's cache is consistent and no lock is held, so
// a background start-up (the learner's thread) may allocate, and a decay pass
// may take the pools' locks; every 16th refill runs the heap's upkeep.
void AfterRefill(Heap* h) {
  NoteRefillForBackground();
  MaybeStartDecayThread();
  if ((++h->refills & 15) == 0) RunHeapUpkeep(h);
}

// A block of class c for a request of `size` bytes when the bin is empty:
// blocks freed back to the class's slabs, then (Mid/L2.5, if `may_borrow`) a
// larger class's cached block or the next class's freed ones (W_MAX), then
// new blocks. Borrowing before taking back its own freed blocks left other
// threads' frees waiting on this thread's slabs (rptest, 4 threads: 3-4 MiB
// per thread).
void* RefillOrFail(Heap* h, int c, size_t size, bool may_borrow) {
  void* p;
  if (may_borrow && TierOfClass(c) != Tier::kTiny) {
    p = h->tiny.Refill(c, tiny::ThreadCache::Fresh::kNo);
    if (p == nullptr) p = mid::TryBorrow(h->tiny, c, size);
    if (p == nullptr) p = h->tiny.Refill(c);
  } else {
    p = h->tiny.Refill(c);
  }
  AfterRefill(h);
  return p != nullptr ? p : NoMemory();
}

// The heap the calling thread's slow paths work on, `current` (its
// CurrentHeap) made ready: the thread's first allocation sets up its heap
// (nullptr if it cannot be had); a nudged thread takes its heap back and runs
// its upkeep (heap_upkeep.h). A thread whose heap was already torn down
// (allocating from a TLS destructor) gets &g_exited_heap.
Heap* ReadyHeap(Heap* current) {
  if (current == &g_nudged_heap) return ReturnFromNudge();
  if (current == &g_placeholder_heap) return SetUpThreadHeap();
  return current;
}

// A block of class c when the thread's bin is empty: from the heap made
// ready (ReadyHeap), whose bin may hold blocks; a thread whose heap is gone
// is served by the shared late heap; otherwise a refill (RefillOrFail).
void* AllocSlow(size_t size, int c, bool may_borrow) {
  Heap* const current = CurrentHeap();
  Heap* h = ReadyHeap(current);
  if (h == nullptr) return NoMemory();
  if (h == &g_exited_heap) {
    void* p = AllocForExitedThread(c);
    return p != nullptr ? p : NoMemory();
  }
  if (h != current) {
    if (void* p = h->tiny.TryPop(c)) return p;
  }
  return RefillOrFail(h, c, size, may_borrow);
}

// A block of exactly class c (aligned requests: no W_MAX borrowing, a larger
// class may not keep the alignment).
void* AllocClass(int c) {
  if (void* p = CurrentHeap()->tiny.TryPop(c)) return p;
  return AllocSlow(ClassSize(c), c, /*may_borrow=*/false);
}

// An aligned request for class c whose colour-0 spans alone keep the
// alignment (size_classes.h: kColourZero): a block of the thread's colour-0
// span of c (ThreadCache::AllocColourZero). A thread whose heap is gone (a
// TLS destructor allocating) or cannot have one, or a span that cannot be
// had, gets the aligned address inside a block of a larger class instead
// (pools/tiny/aligned_inside.h).
void* AllocColourZeroClass(int c, size_t alignment, size_t size) {
  Heap* h = ReadyHeap(CurrentHeap());
  if (h != nullptr && h != &g_exited_heap) {
    if (void* p = h->tiny.TryPopAligned(c, alignment)) return p;
    const int saved_errno = errno;  // a failed mmap may set it; the fallback may succeed
    void* p = h->tiny.AllocColourZero(c, alignment);
    AfterRefill(h);
    if (p != nullptr) return p;
    errno = saved_errno;
  }
  const size_t bytes = tiny::AlignedInsideBlockBytes(size, alignment);
  if (bytes > kMaxSmallSize) return NoMemory();
  void* p = AllocClass(SizeToClass(bytes));
  return p != nullptr ? tiny::PlaceAlignedInside(p, alignment) : nullptr;
}

// Bytes usable at p if p is a block in use (or an aligned pointer handed out
// inside one). Anything else is reported as a bad argument of `fn` and gives 0:
// a pointer hakmem never mapped, one into a free unit, an interior pointer, a
// block that is free already.
// What a pointer whose unit has no range-map entry is: inside a Large range
// (which has entries for its ends only), else in no memory of hakmem's.
BadFree UnmappedOrInterior(const void* p) {
  return large::RangeAround(p) != nullptr ? BadFree::kInterior : BadFree::kForeign;
}

size_t UsableOrReport(const void* p, uintptr_t e, const char* fn) {
  switch (RangeMap::KindOf(e)) {
    case RangeKind::kSlab: {
      const tiny::Slab* slab = RangeMap::MetaOf<tiny::Slab>(e);
      if (slab->IsCarvedBlockStart(p)) {
        if (tiny::HoldsHostKey(p)) {  // an aligned pointer was handed out inside it
          ReportInvalidPointer(p, BadFree::kNeverAllocated, fn);
          return 0;
        }
        if (!tiny::HoldsFreeKey(p)) return slab->block_size;
        ReportInvalidPointer(p, BadFree::kDouble, fn);
        return 0;
      }
      if (tiny::AlignedInsideBase(*slab, p, tiny::Marker::kKeep) != nullptr) return slab->UsableFrom(p);
      const uintptr_t off = reinterpret_cast<uintptr_t>(p) - reinterpret_cast<uintptr_t>(slab->start);
      ReportInvalidPointer(p, off < slab->Carved() ? BadFree::kInterior : BadFree::kNeverAllocated, fn);
      return 0;
    }
    case RangeKind::kLarge: {
      const large::LargeBlock* b = RangeMap::MetaOf<large::LargeBlock>(e);
      if (p != b->base) {
        ReportInvalidPointer(p, BadFree::kInterior, fn);
        return 0;
      }
      if (!b->in_use.load(std::memory_order_acquire)) {
        ReportInvalidPointer(p, BadFree::kDouble, fn);
        return 0;
      }
      return b->usable;
    }
    case RangeKind::kFreeUnit:
      ReportInvalidPointer(p, BadFree::kFreeMemory, fn);
      return 0;
    default:
      ReportInvalidPointer(p, UnmappedOrInterior(p), fn);
      return 0;
  }
}

}  // namespace

void* AllocSmallSlow(size_t size, int c) { return AllocSlow(size, c, /*may_borrow=*/true); }

void* AllocLarge(size_t size) {
  bool zeroed;
  MaybeDecay();
  return AllocLargeAligned(size, 0, &zeroed);
}

void FreeOther(void* p) {
  if (p == nullptr) return;
  // An aligned pointer handed out inside a block, found from the entry the
  // fast path read: freed as its block, whose own test sends anything but a
  // block in use back here (reported by the two-level lookup below).
  if (void* base = tiny::AlignedInsideBase(RangeMap::UnitForFree(p).slab, p, tiny::Marker::kTake)) {
    CurrentHeap()->tiny.Free(RangeMap::UnitForFree(base), base, FreeOther);
    return;
  }
  // The fast path's lookup read the window's table whatever p is; look again
  // properly. A slab block outside the window (a SuperSlab mapped when the
  // arena was full) is tested on its own unit's digest here and freed as
  // usual, and so is an aligned pointer handed out inside a block
  // (ThreadCache::Free); anything else of a slab is FreeUnusual's.
  const uintptr_t e = RangeMap::Lookup(p);
  switch (RangeMap::KindOf(e)) {
    case RangeKind::kSlab:
      CurrentHeap()->tiny.Free(RangeMap::MetaOf<tiny::Slab>(e), p);
      return;
    case RangeKind::kLarge:
      large::Free(RangeMap::MetaOf<large::LargeBlock>(e), p, OwnLargeRanges());
      MaybeDecay();
      return;
    case RangeKind::kFreeUnit:
      ReportInvalidFree(p, BadFree::kFreeMemory);
      return;
    default:
      ReportInvalidFree(p, UnmappedOrInterior(p));
      return;
  }
}

void* hak_alloc(size_t size) { return AllocInline(size); }

void hak_free(void* p) { FreeInline(p); }

void* hak_calloc(size_t n, size_t size) { return CallocInline(n, size); }

void* CallocSlow(size_t n, size_t size) {
  size_t total;
  if (__builtin_mul_overflow(n, size, &total)) return NoMemory();
  if (total > kMaxSmallSize) {
    bool zeroed;
    void* p = AllocLargeAligned(total, 0, &zeroed);
    if (p != nullptr && !zeroed) large::ZeroFill(p, total);
    return p;
  }
  void* p = AllocInline(total);
  if (p == nullptr) return nullptr;
  if (total < kCallocProbeMinBytes) return std::memset(p, 0, total);
  // As a reused Large range is cleared: 1,000 blocks of 900 KB calloc'd and a
  // byte of each used held 864 MiB, each calloc 367 us (glibc, with fresh
  // mappings: 5 MiB, 9 us).
  OsZeroFill(p, total);
  return p;
}

// The slow path of aligned requests (AlignedAllocInline's misses): a bin to
// refill, an alignment of 16 or less (malloc's own: W_MAX may borrow), and
// what no class serves (Large).
void* hak_alloc_aligned(size_t alignment, size_t size) {
  if (void* p = AlignedAllocInline(alignment, size)) return p;
  if (alignment <= 16) return AllocInline(size);
  bool has_class = false;
  void* p = AllocAlignedWith(
      alignment, size,
      [&](int c) {
        has_class = true;
        return AllocClass(c);
      },
      [&](int c) {
        has_class = true;
        return AllocColourZeroClass(c, alignment, size);
      });
  if (has_class) return p;  // nullptr: ENOMEM set
  bool zeroed;
  return AllocLargeAligned(size < kMaxSmallSize ? kMaxSmallSize + 1 : size, alignment, &zeroed);
}

void* hak_realloc(void* p, size_t size) { return ReallocInline(p, size); }

void* ReallocSlow(void* p, size_t size) {
  if (p == nullptr) return AllocInline(size);
  if (size == 0) {  // glibc: free and return NULL
    FreeInline(p);
    return nullptr;
  }
  size_t old_size = SlabBlockInUseSize(p);
  bool slab = old_size != 0;
  if (!slab) {
    const uintptr_t e = RangeMap::Lookup(p);
    old_size = UsableOrReport(p, e, "realloc");
    if (old_size == 0) {  // reported; p is left alone
      errno = EINVAL;
      return nullptr;
    }
    slab = RangeMap::KindOf(e) == RangeKind::kSlab;  // an aligned pointer inside a block
    if (!slab && size > kMaxSmallSize) {
      // Large to Large: within the mapping, else move the pages (no copy).
      large::LargeBlock* b = RangeMap::MetaOf<large::LargeBlock>(e);
      if (large::ResizeInPlace(b, size)) return p;
      if (void* q = large::Remap(b, size)) return q;
    }
  }
  // A slab block stays put while it fits and is not more than twice the need.
  if (slab && size <= old_size && size * 2 >= old_size) return p;
  // A slab block that grows by less than a quarter moves to a block a
  // quarter larger than it was (tcmalloc's rule): a buffer grown by small
  // appends moved at every next class (a quarter or less above 128 bytes).
  // realloc_grow (appends of 8 - 64 bytes to buffers of up to 64 KiB):
  // 1.10x, peak RSS 14.3 -> 12.1 MiB (fewer blocks left in the bins of the
  // classes passed through); a half larger was 1.14x for twice the waste.
  void* q = nullptr;
  const size_t grown = old_size + old_size / 4;
  if (slab && size > old_size && size < grown && grown <= kMaxSmallSize) q = AllocInline(grown);
  if (q == nullptr) q = AllocInline(size);
  if (q == nullptr) return nullptr;  // p untouched, errno = ENOMEM
  std::memcpy(q, p, size < old_size ? size : old_size);
  FreeInline(p);
  return q;
}

size_t UsableSizeSlow(const void* p) {
  if (p == nullptr) return 0;
  return UsableOrReport(p, RangeMap::Lookup(p), "malloc_usable_size");
}

size_t hak_usable_size(const void* p) { return UsableSizeInline(p); }

int hak_trim(size_t /*pad*/) {
  if (Heap* h = OwnHeap()) h->tiny.FlushRemote();
  DrainExitedHeaps();
  mid::ReleaseAllIdleSpans();
  ReturnAllThreadRanges();
  const size_t released = large::Trim() + tiny::TrimSuperSlabs();
  return released != 0 ? 1 : 0;
}

bool hak_owns(const void* p) { return RangeMap::Lookup(p) != 0 || large::RangeAround(p) != nullptr; }

}  // namespace hakmem
