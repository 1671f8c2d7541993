#include "core/heap_upkeep.h"

#include <atomic>

#include "core/base/clock.h"
#include "core/base/config.h"
#include "core/decay.h"
#include "sync/spin_lock.h"

namespace hakmem {
namespace {

struct NudgeArgs {
  uint64_t now_ms;
  uint64_t idle_ms;
};

// Held by a decay pass while it works on other threads' heaps, and across
// fork (the child must not inherit a heap's lists half updated).
constinit sync::SpinLock g_idle_heaps_lock;

void NudgeIfIdle(Heap& h, void* arg) {
  const NudgeArgs& a = *static_cast<const NudgeArgs*>(arg);
  const uint64_t last = h.upkeep_ms.load(std::memory_order_relaxed);
  // The calling thread is on a slow path already.
  if (a.now_ms < last + a.idle_ms || &h == OwnHeap()) return;
  // Only a thread still pointing at its heap: not one in the middle of
  // exiting (the exited placeholder), nor one nudged already.
  Heap* expected = &h;
  __atomic_compare_exchange_n(h.tls_slot, &expected, &g_nudged_heap, false, __ATOMIC_RELAXED,
                              __ATOMIC_RELAXED);
  // A thread blocked (in a join, on a lock) takes no nudge: its slabs'
  // remote frees are taken and its emptied spans given back for it.
  h.tiny.ReleaseEmptiedSpansForIdleOwner();
}

tiny::ThreadCache* OwnCacheOfNudgedThread() {
  if (CurrentHeap() != &g_nudged_heap) return nullptr;
  return &ReturnFromNudge()->tiny;
}

}  // namespace

void RunHeapUpkeep(Heap* h) {
  const uint64_t now = NowMs();
  // The first upkeep of a working thread makes it nudgeable (AllowNudge).
  if (h->upkeep_ms.exchange(now, std::memory_order_relaxed) == 0) AllowNudge(h);
  MaybeDecay();
  const Config& config = GetConfig();
  h->tiny.Upkeep(now, config.decay_ms, config.thread_cache_bytes);
}

Heap* ReturnFromNudge() {
  Heap* h = OwnHeap();
  __atomic_store_n(&tls_heap, h, __ATOMIC_RELAXED);
  RunHeapUpkeep(h);
  // A thread that went quiet may still hold blocks chained for other owners.
  h->tiny.FlushRemote();
  return h;
}

void NudgeIdleHeaps(uint64_t now_ms, uint64_t idle_ms) {
  NudgeArgs args{now_ms, idle_ms};
  sync::SpinLockHolder hold(&g_idle_heaps_lock);
  ForEachNudgeableHeap(NudgeIfIdle, &args);
}

void LockIdleHeapsForFork() { g_idle_heaps_lock.Lock(); }

void UnlockIdleHeapsAfterFork(bool in_child) {
  if (in_child) {
    g_idle_heaps_lock.ResetAfterFork();
  } else {
    g_idle_heaps_lock.Unlock();
  }
}

void InstallNudgeRoute() { tiny::InstallPlaceholderRoute(OwnCacheOfNudgedThread); }

}  // namespace hakmem
