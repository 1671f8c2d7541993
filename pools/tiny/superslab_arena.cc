#include "pools/tiny/superslab_arena.h"

#include <atomic>
#include <cstdint>

#include "core/base/os.h"
#include "core/base/range_map.h"
#include "core/base/size_classes.h"
#include "sync/spin_lock.h"

namespace hakmem::tiny {
namespace {

// Largest first; a smaller arena where the address space is limited. 64 GiB
// of SuperSlabs is far beyond what a program keeps in small blocks. The
// arena's first 32 MiB hold the range map's entries of the 64 GiB window
// (RangeMap::InstallWindow; a smaller arena's window reaches past its end),
// resident only where units are used; the SuperSlab chunks follow.
constexpr size_t kArenaSizes[] = {size_t{64} << 30, size_t{16} << 30, size_t{4} << 30};
constexpr size_t kMaxChunks = kArenaSizes[0] / kSuperSlabSize;
static_assert(RangeMap::kWindowTableBytes % kSuperSlabSize == 0,
              "the chunks after the table stay aligned");
static_assert(kArenaSizes[0] == RangeMap::kWindowUnits << kUnitShift,
              "the window reaches the largest arena");

constinit sync::SpinLock g_lock;
// Set once under g_lock; read without it by ReturnArenaChunk.
std::atomic<char*> g_base{nullptr};  // nullptr: no arena
std::atomic<size_t> g_chunks{0};     // chunks in the arena
std::atomic<size_t> g_reserved{0};   // bytes reserved, the range map's table included
bool g_reserve_tried = false;
size_t g_in_use = 0;
size_t g_first_free = 0;      // no chunk below this one is free
uint64_t g_used[kMaxChunks / 64] = {};  // bit i: chunk i is taken

void ReserveLocked() {
  g_reserve_tried = true;
  for (const size_t bytes : kArenaSizes) {
    void* base = OsReserveAligned(bytes, RangeMap::kLeafReach);
    if (base == nullptr) continue;
    if (!RangeMap::InstallWindow(base, bytes)) {
      OsUnreserve(base, bytes);
      return;
    }
    const size_t table = RangeMap::kWindowTableBytes;
    g_chunks.store((bytes - table) / kSuperSlabSize, std::memory_order_relaxed);
    g_reserved.store(bytes, std::memory_order_relaxed);
    g_base.store(static_cast<char*>(base) + table, std::memory_order_release);
    return;
  }
}

// The lowest free chunk at or above g_first_free, taken; -1 if none.
ptrdiff_t TakeLowestFreeLocked() {
  const size_t chunks = g_chunks.load(std::memory_order_relaxed);
  for (size_t w = g_first_free / 64; w < (chunks + 63) / 64; ++w) {
    if (g_used[w] == ~uint64_t{0}) continue;
    const int bit = __builtin_ctzll(~g_used[w]);
    const size_t i = w * 64 + static_cast<size_t>(bit);
    if (i >= chunks) return -1;  // the last word's bits beyond the arena
    g_used[w] |= uint64_t{1} << bit;
    g_first_free = i + 1;
    ++g_in_use;
    return static_cast<ptrdiff_t>(i);
  }
  return -1;
}

void FreeChunkLocked(size_t i) {
  g_used[i / 64] &= ~(uint64_t{1} << (i % 64));
  if (i < g_first_free) g_first_free = i;
  --g_in_use;
}

}  // namespace

char* TakeArenaChunk() {
  ptrdiff_t i;
  {
    sync::SpinLockHolder hold(&g_lock);
    if (!g_reserve_tried) ReserveLocked();
    if (g_base.load(std::memory_order_relaxed) == nullptr) return nullptr;
    i = TakeLowestFreeLocked();
  }
  if (i < 0) return nullptr;
  char* p = g_base.load(std::memory_order_relaxed) + static_cast<size_t>(i) * kSuperSlabSize;
  if (OsCommit(p, kSuperSlabSize)) return p;
  sync::SpinLockHolder hold(&g_lock);
  FreeChunkLocked(static_cast<size_t>(i));
  return nullptr;
}

namespace {

// The index of the arena chunk holding p, or -1 if p is not in the arena.
ptrdiff_t ChunkIndexOf(const char* p) {
  const char* base = g_base.load(std::memory_order_acquire);
  const uintptr_t off = reinterpret_cast<uintptr_t>(p) - reinterpret_cast<uintptr_t>(base);
  if (base == nullptr || off >= g_chunks.load(std::memory_order_relaxed) * kSuperSlabSize) return -1;
  return static_cast<ptrdiff_t>(off / kSuperSlabSize);
}

}  // namespace

bool InArena(const char* p) { return ChunkIndexOf(p) >= 0; }

bool ReturnArenaChunk(char* p) {
  const ptrdiff_t i = ChunkIndexOf(p);
  if (i < 0) return false;
  OsUncommit(p, kSuperSlabSize);
  sync::SpinLockHolder hold(&g_lock);
  FreeChunkLocked(static_cast<size_t>(i));
  return true;
}

size_t ArenaChunksInUse() {
  sync::SpinLockHolder hold(&g_lock);
  return g_in_use;
}

size_t ArenaReservedBytes() {
  if (g_base.load(std::memory_order_acquire) == nullptr) return 0;
  return g_reserved.load(std::memory_order_relaxed);
}

void LockArenaForFork() { g_lock.Lock(); }

void UnlockArenaAfterFork(bool in_child) {
  if (in_child) {
    g_lock.ResetAfterFork();
  } else {
    g_lock.Unlock();
  }
}

}  // namespace hakmem::tiny
