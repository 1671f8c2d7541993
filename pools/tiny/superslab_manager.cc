#include "pools/tiny/superslab_manager.h"

#include <atomic>
#include <new>

#include "core/config.h"
#include "core/meta_pool.h"
#include "core/os.h"
#include "core/range_map.h"
#include "sync/spin_lock.h"

namespace hakmem::tiny {
namespace {

constexpr uint32_t kAllUnits = 0xffffffffu;
static_assert(kUnitsPerSuperSlab == 32, "free_units is a 32-bit map");

constinit sync::SpinLock g_lock;
constinit MetaPool<SuperSlab> g_headers;
// SuperSlabs with at least one free unit; empty ones are among them.
SuperSlab* g_with_space = nullptr;
uint32_t g_empty_count = 0;
std::atomic<uint64_t> g_live{0};

void LinkLocked(SuperSlab* ss) {
  ss->prev = nullptr;
  ss->next = g_with_space;
  if (g_with_space) g_with_space->prev = ss;
  g_with_space = ss;
}

void UnlinkLocked(SuperSlab* ss) {
  if (ss->prev) ss->prev->next = ss->next;
  else g_with_space = ss->next;
  if (ss->next) ss->next->prev = ss->prev;
  ss->next = ss->prev = nullptr;
}

// First unit of a run of `units` free units in `mask`, or -1.
int FindRun(uint32_t mask, uint32_t units) {
  const uint32_t want = units == 32 ? kAllUnits : ((1u << units) - 1);
  for (uint32_t u = 0; u + units <= 32; ++u) {
    if (((mask >> u) & want) == want) return static_cast<int>(u);
  }
  return -1;
}

SuperSlab* MapSuperSlab() {
  char* base = static_cast<char*>(OsMapAligned(kSuperSlabSize, kSuperSlabSize));
  if (base == nullptr) return nullptr;
  SuperSlab* ss = g_headers.New();
  if (ss == nullptr) {
    OsUnmap(base, kSuperSlabSize);
    return nullptr;
  }
  ss->base = base;
  ss->free_units = kAllUnits;
  // Publish the header in the range map last: its fields are set.
  if (!RangeMap::Register(base, kSuperSlabSize, RangeKind::kSuperSlab, ss)) {
    g_headers.Delete(ss);
    OsUnmap(base, kSuperSlabSize);
    return nullptr;
  }
  g_live.fetch_add(1, std::memory_order_relaxed);
  return ss;
}

void UnmapSuperSlab(SuperSlab* ss) {
  RangeMap::Unregister(ss->base, kSuperSlabSize);
  OsUnmap(ss->base, kSuperSlabSize);
  g_headers.Delete(ss);
  g_live.fetch_sub(1, std::memory_order_relaxed);
}

Slab* CarveLocked(SuperSlab* ss, uint32_t first, uint32_t units) {
  const uint32_t bits = units == 32 ? kAllUnits : ((1u << units) - 1) << first;
  if (ss->free_units == kAllUnits) --g_empty_count;
  ss->free_units &= ~bits;
  if (ss->free_units == 0) UnlinkLocked(ss);
  Slab* slab = &ss->slabs[first];
  for (uint32_t u = first; u < first + units; ++u) ss->slab_of_unit[u] = slab;
  slab->superslab = ss;
  slab->first_unit = static_cast<uint8_t>(first);
  slab->units = static_cast<uint8_t>(units);
  return slab;
}

}  // namespace

Slab* AcquireSpan(uint32_t units) {
  {
    sync::SpinLockHolder hold(&g_lock);
    // Prefer partly used SuperSlabs so empty ones can go back to the OS.
    SuperSlab* empty = nullptr;
    for (SuperSlab* ss = g_with_space; ss != nullptr; ss = ss->next) {
      if (ss->free_units == kAllUnits) {
        if (empty == nullptr) empty = ss;
        continue;
      }
      const int first = FindRun(ss->free_units, units);
      if (first >= 0) return CarveLocked(ss, static_cast<uint32_t>(first), units);
    }
    if (empty != nullptr) return CarveLocked(empty, 0, units);
  }
  // Map outside the lock: mmap is slow and may be called by many threads.
  SuperSlab* ss = MapSuperSlab();
  if (ss == nullptr) return nullptr;
  sync::SpinLockHolder hold(&g_lock);
  LinkLocked(ss);
  ++g_empty_count;
  return CarveLocked(ss, 0, units);
}

void ReleaseSpan(Slab* slab) {
  SuperSlab* ss = slab->superslab;
  const uint32_t first = slab->first_unit;
  const uint32_t units = slab->units;
  const uint32_t bits = units == 32 ? kAllUnits : ((1u << units) - 1) << first;
  sync::SpinLockHolder hold(&g_lock);
  if (ss->free_units == 0) LinkLocked(ss);
  ss->free_units |= bits;
  if (ss->free_units != kAllUnits) return;
  if (g_empty_count < GetConfig().superslab_cache) {
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
    SuperSlab* next = ss->next;
    if (ss->free_units == kAllUnits) {
      UnlinkLocked(ss);
      --g_empty_count;
      UnmapSuperSlab(ss);
      released += kSuperSlabSize;
    } else {
      for (uint32_t u = 0; u < 32; ++u) {
        if (ss->free_units & (1u << u)) {
          OsDecommit(ss->base + u * kUnitSize, kUnitSize);
          released += kUnitSize;
        }
      }
    }
    ss = next;
  }
  return released;
}

uint64_t LiveSuperSlabs() { return g_live.load(std::memory_order_relaxed); }

// Lock order: g_lock, then the header pool's lock (UnmapSuperSlab frees a
// header while holding g_lock).
void LockSuperSlabsForFork() {
  g_lock.Lock();
  g_headers.lock().Lock();
}

void UnlockSuperSlabsAfterFork(bool in_child) {
  if (in_child) {
    g_lock.ResetAfterFork();
    g_headers.lock().ResetAfterFork();
  } else {
    g_headers.lock().Unlock();
    g_lock.Unlock();
  }
}

}  // namespace hakmem::tiny
