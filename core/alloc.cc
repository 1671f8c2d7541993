// The hak_* API and the slow paths of the front door (front_door.h).
#include <errno.h>

#include <cstring>

#include "core/background.h"
#include "core/base/invalid_free.h"
#include "core/front_door.h"
#include "core/hakmem.h"
#include "pools/large/large_tier.h"
#include "pools/mid/idle_spans.h"
#include "pools/mid/mid_pool.h"
#include "pools/tiny/superslab_manager.h"

namespace hakmem {
namespace {

void* NoMemory() {
  errno = ENOMEM;
  return nullptr;
}

void* AllocLargeAligned(size_t size, size_t alignment, bool* zeroed) {
  EnsureGlobalInit();  // the large tier reads its cache limit from the configuration
  void* p = large::Alloc(size, alignment, zeroed);
  return p != nullptr ? p : NoMemory();
}

// Smallest class whose blocks hold `size` bytes and are a multiple of
// `alignment` (<= 64 KiB): uncoloured spans start 64 KiB aligned, so such a
// class keeps every block aligned. Power-of-two classes exist up to 1 MiB, so
// the search always ends.
int AlignedClass(size_t size, size_t alignment) {
  int c = SizeToClass(size < alignment ? alignment : size);
  while (ClassSize(c) % alignment != 0) ++c;
  return c;
}

// The calling thread's heap, set up on its first allocation; nullptr if the
// OS refuses memory for it.
Heap* ThreadHeap() {
  Heap* h = tls_heap;
  return h != &g_placeholder_heap ? h : SetUpThreadHeap();
}

void* RefillOrFail(Heap* h, int c) {
  void* p = h->tiny.Refill(c);
  // After the refill: this thread's cache is consistent and no lock is held,
  // so a background start-up (the learner's thread) may allocate.
  NoteRefillForBackground();
  return p != nullptr ? p : NoMemory();
}

// A block of exactly class c (aligned requests: no W_MAX borrowing, a larger
// class may not keep the alignment).
void* AllocClass(int c) {
  if (void* p = tls_heap->tiny.TryPop(c)) return p;
  Heap* h = ThreadHeap();
  if (h == nullptr) return NoMemory();
  if (void* p = h->tiny.TryPop(c)) return p;
  return RefillOrFail(h, c);
}

// Usable bytes of a block hakmem owns, 0 for anything else.
size_t UsableSize(const void* p, uintptr_t e) {
  switch (RangeMap::KindOf(e)) {
    case RangeKind::kSuperSlab:
      return RangeMap::MetaOf<tiny::SuperSlab>(e)->SlabOf(p)->UsableFrom(p);
    case RangeKind::kLarge:
      return RangeMap::MetaOf<large::LargeBlock>(e)->usable;
    default:
      return 0;
  }
}

}  // namespace

void* AllocSmallSlow(size_t size, int c) {
  Heap* h = ThreadHeap();
  if (h == nullptr) return NoMemory();
  if (void* p = h->tiny.TryPop(c)) return p;
  // W_MAX (Mid and L2.5): before refilling, a cached block of a larger class
  // will do if it wastes little enough.
  if (TierOfClass(c) != Tier::kTiny) {
    if (void* p = mid::TryBorrow(h->tiny, c, size)) return p;
  }
  return RefillOrFail(h, c);
}

void* AllocLarge(size_t size) {
  bool zeroed;
  return AllocLargeAligned(size, 0, &zeroed);
}

void FreeOther(void* p, uintptr_t e) {
  if (p == nullptr) return;
  const int saved_errno = errno;  // free never changes errno
  if (RangeMap::KindOf(e) == RangeKind::kLarge) {
    large::Free(RangeMap::MetaOf<large::LargeBlock>(e), p);
  } else {
    ReportInvalidFree(p, BadFree::kForeign);
  }
  errno = saved_errno;
}

void* hak_alloc(size_t size) { return AllocInline(size); }

void hak_free(void* p) { FreeInline(p); }

void* hak_calloc(size_t n, size_t size) {
  size_t total;
  if (__builtin_mul_overflow(n, size, &total)) return NoMemory();
  if (total > kMaxSmallSize) {
    bool zeroed;
    void* p = AllocLargeAligned(total, 0, &zeroed);
    if (p != nullptr && !zeroed) std::memset(p, 0, total);
    return p;
  }
  void* p = AllocInline(total);
  if (p != nullptr) std::memset(p, 0, total);
  return p;
}

// Coloured classes start their blocks at a 64-byte multiple, so a stricter
// alignment is found inside a block with room for it; the slab remembers the
// block so free() of the aligned pointer finds the block again.
void* AllocAlignedInside(size_t size, size_t alignment) {
  char* p = static_cast<char*>(AllocClass(SizeToClass(size + alignment - 64)));
  if (p == nullptr) return nullptr;
  char* q = reinterpret_cast<char*>((reinterpret_cast<uintptr_t>(p) + alignment - 1) & ~(alignment - 1));
  if (q != p) RangeMap::MetaOf<tiny::SuperSlab>(RangeMap::Lookup(p))->SlabOf(p)->MarkAligned(p);
  return q;
}

void* hak_alloc_aligned(size_t alignment, size_t size) {
  if (alignment <= 8) return AllocInline(size);
  if (alignment <= kUnitSize && size <= kMaxSmallSize) {
    const int c = AlignedClass(size, alignment);
    if (kClassInfo[c].colors == 1 || alignment <= 64) return AllocClass(c);
    if (size + alignment - 64 <= kMaxSmallSize) return AllocAlignedInside(size, alignment);
  }
  bool zeroed;
  return AllocLargeAligned(size < kMaxSmallSize ? kMaxSmallSize + 1 : size, alignment, &zeroed);
}

void* hak_realloc(void* p, size_t size) {
  if (p == nullptr) return AllocInline(size);
  if (size == 0) {  // glibc: free and return NULL
    FreeInline(p);
    return nullptr;
  }
  const uintptr_t e = RangeMap::Lookup(p);
  const size_t old_size = UsableSize(p, e);
  if (old_size == 0) {
    ReportInvalidFree(p, BadFree::kForeign);
    return NoMemory();
  }
  if (RangeMap::KindOf(e) == RangeKind::kSuperSlab) {
    // Stay put while the block fits and is not more than twice the need.
    if (size <= old_size && size * 2 >= old_size) return p;
  } else if (size > kMaxSmallSize &&
             large::ResizeInPlace(RangeMap::MetaOf<large::LargeBlock>(e), size)) {
    return p;
  }
  void* q = AllocInline(size);
  if (q == nullptr) return nullptr;  // p untouched, errno = ENOMEM
  std::memcpy(q, p, size < old_size ? size : old_size);
  FreeInline(p);
  return q;
}

size_t hak_usable_size(const void* p) {
  if (p == nullptr) return 0;
  return UsableSize(p, RangeMap::Lookup(p));
}

int hak_trim(size_t /*pad*/) {
  tls_heap->tiny.FlushRemote();
  DrainExitedHeaps();
  mid::ReleaseAllIdleSpans();
  const size_t released = large::Trim() + tiny::TrimSuperSlabs();
  return released != 0 ? 1 : 0;
}

bool hak_owns(const void* p) { return RangeMap::Lookup(p) != 0; }

}  // namespace hakmem
