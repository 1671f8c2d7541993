#include "pools/large/large_tier.h"

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
// A cached mapping may serve a request up to this many buckets smaller.
constexpr size_t kReuseSlack = 4;

constinit sync::SpinLock g_lock;
constinit MetaPool<LargeBlock> g_records;
LargeBlock* g_bucket[kBuckets + 1];  // index = mapped size in 2 MiB units
uint64_t g_cached_bytes = 0;
std::atomic<uint64_t> g_allocs{0};
std::atomic<uint64_t> g_cache_hits{0};

size_t UnitsOf(size_t map_size) { return map_size >> kSuperSlabShift; }

LargeBlock* TakeCachedLocked(size_t units) {
  const size_t last = units + kReuseSlack < kBuckets ? units + kReuseSlack : kBuckets;
  for (size_t u = units; u <= last; ++u) {
    if (LargeBlock* b = g_bucket[u]) {
      g_bucket[u] = b->next;
      g_cached_bytes -= b->map_size;
      return b;
    }
  }
  return nullptr;
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
  b->cacheable = map_align == kSuperSlabSize && UnitsOf(map_size) <= kBuckets;
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

}  // namespace

void* Alloc(size_t size, size_t alignment, bool* zeroed) {
  if (size > (size_t{1} << 46)) return nullptr;  // beyond any real mapping
  const size_t map_size = AlignUp(size == 0 ? 1 : size, kSuperSlabSize);
  g_allocs.fetch_add(1, std::memory_order_relaxed);
  LargeBlock* b = nullptr;
  if (alignment <= kSuperSlabSize && UnitsOf(map_size) <= kBuckets) {
    sync::SpinLockHolder hold(&g_lock);
    b = TakeCachedLocked(UnitsOf(map_size));
  }
  if (b != nullptr) {
    g_cache_hits.fetch_add(1, std::memory_order_relaxed);
  } else {
    b = MapNew(map_size, alignment);
    if (b == nullptr) return nullptr;
  }
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
  // One mapping of more than 1/8 of the cache is not churn but a big buffer:
  // it goes back at once, so RSS drops when a program frees it.
  const uint64_t limit = GetConfig().large_cache_bytes;
  if (b->cacheable && b->map_size <= limit / 8) {
    sync::SpinLockHolder hold(&g_lock);
    if (g_cached_bytes + b->map_size <= limit) {
      const size_t units = UnitsOf(b->map_size);
      b->next = g_bucket[units];
      g_bucket[units] = b;
      g_cached_bytes += b->map_size;
      return;
    }
  }
  Unmap(b);
}

bool ResizeInPlace(LargeBlock* b, size_t new_size) {
  if (new_size > b->map_size) return false;
  // Shrinking below half would strand most of the mapping: let realloc move it.
  if (new_size < b->map_size / 4) return false;
  b->usable = AlignUp(new_size == 0 ? 1 : new_size, kPageSize);
  return true;
}

size_t Trim() {
  LargeBlock* all = nullptr;
  {
    sync::SpinLockHolder hold(&g_lock);
    for (size_t u = 0; u <= kBuckets; ++u) {
      while (LargeBlock* b = g_bucket[u]) {
        g_bucket[u] = b->next;
        b->next = all;
        all = b;
      }
    }
    g_cached_bytes = 0;
  }
  size_t released = 0;
  while (all != nullptr) {
    LargeBlock* next = all->next;
    released += all->map_size;
    Unmap(all);
    all = next;
  }
  return released;
}

LargeStats GetLargeStats() {
  LargeStats s;
  s.allocs = g_allocs.load(std::memory_order_relaxed);
  s.cache_hits = g_cache_hits.load(std::memory_order_relaxed);
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
