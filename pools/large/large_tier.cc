#include "pools/large/large_tier.h"

#include "core/base/clock.h"
#include "core/base/config.h"
#include "core/base/invalid_free.h"
#include "core/base/meta_pool.h"
#include "core/base/os.h"
#include "core/base/range_map.h"
#include "core/base/size_classes.h"
#include "sync/spin_lock.h"

namespace hakmem::large {
namespace {

constexpr size_t kBuckets = 64;  // mapped sizes 2 MiB .. 128 MiB

constinit sync::SpinLock g_lock;
constinit MetaPool<LargeBlock> g_records;
// Under g_lock: the big cache, newest first in each bucket.
LargeBlock* g_bucket[kBuckets + 1];  // index = mapped size in 2 MiB units
uint64_t g_cached_bytes = 0;
uint64_t g_next_decay_ms = 0;        // no decay scan before this
std::atomic<uint64_t> g_live_bytes{0};
std::atomic<uint64_t> g_allocs{0};
std::atomic<uint64_t> g_cache_hits{0};
std::atomic<uint64_t> g_decayed_bytes{0};

size_t UnitsOf(size_t map_size) { return map_size >> kSuperSlabShift; }

// The cache may hold the configured bytes, or a quarter of what the program
// has in Large blocks if that is more: a program with 400 MiB of buffers in
// use keeps the last one or two it freed, whatever their size.
uint64_t CacheLimit() {
  const uint64_t quarter = g_live_bytes.load(std::memory_order_relaxed) / 4;
  const uint64_t configured = GetConfig().large_cache_bytes;
  return quarter > configured ? quarter : configured;
}

void Unlink(LargeBlock* b) {
  LargeBlock** link = &g_bucket[UnitsOf(b->map_size)];
  while (*link != b) link = &(*link)->next;
  *link = b->next;
  g_cached_bytes -= b->map_size;
}

// The smallest cached mapping that holds `units` and is at most twice that
// (a bigger one would keep more memory resident than the request needs).
LargeBlock* TakeCachedLocked(size_t units) {
  const size_t last = 2 * units < kBuckets ? 2 * units : kBuckets;
  for (size_t u = units; u <= last; ++u) {
    if (LargeBlock* b = g_bucket[u]) {
      Unlink(b);
      return b;
    }
  }
  return nullptr;
}

LargeBlock* OldestLocked() {
  LargeBlock* oldest = nullptr;
  for (LargeBlock* head : g_bucket) {
    for (LargeBlock* b = head; b != nullptr; b = b->next) {
      // <=: within a bucket the list runs newest first, so on a tie (the
      // clock is coarse) the one further down is the older.
      if (oldest == nullptr || b->freed_ms <= oldest->freed_ms) oldest = b;
    }
  }
  return oldest;
}

// Moves cached mappings that must go back to the OS onto *out: the oldest
// while the cache is over its bound, and, at most every quarter of the decay
// time, every mapping unused for HAKMEM_DECAY_MS.
void EvictLocked(uint64_t now, LargeBlock** out) {
  const uint64_t limit = CacheLimit();
  while (g_cached_bytes > limit) {
    LargeBlock* b = OldestLocked();
    Unlink(b);
    b->next = *out;
    *out = b;
  }
  if (now < g_next_decay_ms || g_cached_bytes == 0) return;
  const uint64_t decay = GetConfig().decay_ms;
  g_next_decay_ms = now + decay / 4 + 1;
  for (LargeBlock* b = OldestLocked(); b != nullptr && b->freed_ms + decay <= now;
       b = OldestLocked()) {
    Unlink(b);
    g_decayed_bytes.fetch_add(b->map_size, std::memory_order_relaxed);
    b->next = *out;
    *out = b;
  }
}

LargeBlock* MapNew(size_t map_size, size_t alignment) {
  const size_t map_align = alignment > kSuperSlabSize ? alignment : kSuperSlabSize;
  char* base = static_cast<char*>(OsMapAligned(map_size, map_align));
  if (base == nullptr) return nullptr;
  LargeBlock* b = g_records.New();
  if (b == nullptr) {
    OsUnmap(base, map_size);
    return nullptr;
  }
  b->base = base;
  b->map_size = map_size;
  b->cacheable = map_align == kSuperSlabSize;
  if (!RangeMap::Register(base, map_size, RangeKind::kLarge, b)) {
    g_records.Delete(b);
    OsUnmap(base, map_size);
    return nullptr;
  }
  return b;
}

void Unmap(LargeBlock* b) {
  RangeMap::Unregister(b->base, b->map_size);
  OsUnmap(b->base, b->map_size);
  g_records.Delete(b);
}

void UnmapAll(LargeBlock* list) {
  while (list != nullptr) {
    LargeBlock* next = list->next;
    Unmap(list);
    list = next;
  }
}

// Gives back the part of a reused mapping beyond `map_size`.
void CutTail(LargeBlock* b, size_t map_size) {
  if (b->map_size <= map_size) return;
  RangeMap::Unregister(b->base + map_size, b->map_size - map_size);
  OsUnmap(b->base + map_size, b->map_size - map_size);
  b->map_size = map_size;
}

}  // namespace

void* Alloc(size_t size, size_t alignment, bool* zeroed) {
  if (size > (size_t{1} << 46)) return nullptr;  // beyond any real mapping
  const size_t map_size = AlignUp(size == 0 ? 1 : size, kSuperSlabSize);
  g_allocs.fetch_add(1, std::memory_order_relaxed);
  LargeBlock* b = nullptr;
  LargeBlock* evicted = nullptr;
  {
    sync::SpinLockHolder hold(&g_lock);
    if (alignment <= kSuperSlabSize && UnitsOf(map_size) <= kBuckets) {
      b = TakeCachedLocked(UnitsOf(map_size));
    }
    EvictLocked(NowMs(), &evicted);
  }
  UnmapAll(evicted);
  if (b != nullptr) {
    g_cache_hits.fetch_add(1, std::memory_order_relaxed);
    CutTail(b, map_size);
  } else {
    b = MapNew(map_size, alignment);
    if (b == nullptr) return nullptr;
  }
  g_live_bytes.fetch_add(b->map_size, std::memory_order_relaxed);
  *zeroed = !b->dirty;
  b->dirty = true;
  b->usable = AlignUp(size == 0 ? 1 : size, kPageSize);
  b->in_use.store(true, std::memory_order_release);
  return b->base;
}

void Free(LargeBlock* b, void* p) {
  if (p != b->base) {
    ReportInvalidFree(p, BadFree::kInterior);
    return;
  }
  if (!b->in_use.exchange(false, std::memory_order_acq_rel)) {
    ReportInvalidFree(p, BadFree::kDouble);
    return;
  }
  g_live_bytes.fetch_sub(b->map_size, std::memory_order_relaxed);
  LargeBlock* evicted = nullptr;
  if (b->cacheable && UnitsOf(b->map_size) <= kBuckets && GetConfig().large_cache_bytes > 0) {
    const uint64_t now = NowMs();
    sync::SpinLockHolder hold(&g_lock);
    b->freed_ms = now;
    LargeBlock*& head = g_bucket[UnitsOf(b->map_size)];
    b->next = head;
    head = b;
    g_cached_bytes += b->map_size;
    EvictLocked(now, &evicted);
  } else {
    b->next = nullptr;
    evicted = b;
  }
  UnmapAll(evicted);
}

bool ResizeInPlace(LargeBlock* b, size_t new_size) {
  if (new_size > b->map_size) return false;
  // Shrinking below a quarter would strand most of the mapping: let realloc move it.
  if (new_size < b->map_size / 4) return false;
  b->usable = AlignUp(new_size == 0 ? 1 : new_size, kPageSize);
  return true;
}

void* Remap(LargeBlock* b, size_t new_size) {
  if (!b->cacheable || new_size > (size_t{1} << 46)) return nullptr;
  const size_t map_size = AlignUp(new_size, kSuperSlabSize);
  // A 2 MiB-aligned place to move to, then the pages move there.
  char* dest = static_cast<char*>(OsMapAligned(map_size, kSuperSlabSize));
  if (dest == nullptr) return nullptr;
  if (!RangeMap::Register(dest, map_size, RangeKind::kLarge, b)) {
    OsUnmap(dest, map_size);
    return nullptr;
  }
  if (!OsMoveMapping(b->base, b->map_size, dest, map_size)) {
    RangeMap::Unregister(dest, map_size);
    OsUnmap(dest, map_size);
    return nullptr;
  }
  RangeMap::Unregister(b->base, b->map_size);
  g_live_bytes.fetch_add(map_size - b->map_size, std::memory_order_relaxed);
  b->base = dest;
  b->map_size = map_size;
  b->usable = AlignUp(new_size, kPageSize);
  return dest;
}

size_t Trim() {
  LargeBlock* all = nullptr;
  size_t released = 0;
  {
    sync::SpinLockHolder hold(&g_lock);
    for (LargeBlock*& head : g_bucket) {
      while (LargeBlock* b = head) {
        head = b->next;
        released += b->map_size;
        b->next = all;
        all = b;
      }
    }
    g_cached_bytes = 0;
  }
  UnmapAll(all);
  return released;
}

LargeStats GetLargeStats() {
  LargeStats s;
  s.allocs = g_allocs.load(std::memory_order_relaxed);
  s.cache_hits = g_cache_hits.load(std::memory_order_relaxed);
  s.live_bytes = g_live_bytes.load(std::memory_order_relaxed);
  s.decayed_bytes = g_decayed_bytes.load(std::memory_order_relaxed);
  sync::SpinLockHolder hold(&g_lock);
  s.cached_bytes = g_cached_bytes;
  return s;
}

// Lock order: g_lock, then the record pool's lock (never taken the other way).
void LockForFork() {
  g_lock.Lock();
  g_records.lock().Lock();
}

void UnlockAfterFork(bool in_child) {
  if (in_child) {
    g_records.lock().ResetAfterFork();
    g_lock.ResetAfterFork();
  } else {
    g_records.lock().Unlock();
    g_lock.Unlock();
  }
}

}  // namespace hakmem::large
