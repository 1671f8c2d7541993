#include "core/heap_upkeep.h"

#include <atomic>

#include "core/base/clock.h"
#include "core/base/config.h"
#include "core/decay.h"
#include "pools/tiny/span_source.h"
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

// Whether h's thread has run no upkeep for a.idle_ms. Not the calling
// thread's: it is on a slow path already.
bool IsIdle(const Heap& h, const NudgeArgs& a) {
  return a.now_ms >= h.upkeep_ms.load(std::memory_order_relaxed) + a.idle_ms && &h != OwnHeap();
}

void NudgeIfIdle(Heap& h, void* arg) {
  const NudgeArgs& a = *static_cast<const NudgeArgs*>(arg);
  if (!IsIdle(h, a)) return;
  // Only a thread still pointing at its heap: not one in the middle of
  // exiting (the exited placeholder), nor one nudged already.
  Heap* expected = &h;
  __atomic_compare_exchange_n(h.tls_slot, &expected, &g_nudged_heap, false, __ATOMIC_RELAXED,
                              __ATOMIC_RELAXED);
  // A thread blocked (in a join, on a lock) takes no nudge: its slabs'
  // remote frees are taken and its emptied spans given back for it.
  h.tiny.ReleaseEmptiedSpansForIdleOwner(a.now_ms);
}

// Frees a thread has made through the placeholder (it never allocated).
__thread uint32_t tls_placeholder_frees __attribute__((tls_model("initial-exec"))) = 0;

tiny::ThreadCache* CacheForPlaceholderFree() {
  Heap* h = CurrentHeap();
  if (h == &g_nudged_heap) return &ReturnFromNudge()->tiny;
  if (h != &g_placeholder_heap || ++tls_placeholder_frees < kPlaceholderFreesBeforeHeap) {
    return nullptr;
  }
  Heap* own = SetUpThreadHeap();
  return own != nullptr ? &own->tiny : nullptr;
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

namespace {

// Before a refill takes new units, heaps whose owner has run no upkeep for
// kIdleOwnerMs give back the spans others' frees emptied; at most every
// kIdleOwnerScanMs, since each look walks the partial slabs of those heaps
// (and a heap whose look found nothing is looked at less often). A thread
// that hands its blocks to others and waits for them (larson's main thread:
// 4,000 blocks, freed within the chains' first milliseconds) would otherwise
// keep that memory from everyone until the decay pass, and the others' peak
// is set by then: larson_4t 13.1 -> 12.8 MiB at 30 ms, 12.3 at 10 ms. With 4
// threads on 2 cores a working thread waits 10 ms for its turn and looks
// idle; while every look walked all its slabs, rptest_4t ran at 0.92x with
// 10 ms (1.006x paired since looks walk partial slabs and back off).
constexpr uint64_t kIdleOwnerMs = 10;
constexpr uint64_t kIdleOwnerScanMs = 5;
std::atomic<uint64_t> g_next_idle_owner_scan_ms{0};

void ReleaseIfIdle(Heap& h, void* arg) {
  const NudgeArgs& a = *static_cast<const NudgeArgs*>(arg);
  if (IsIdle(h, a)) h.tiny.ReleaseEmptiedSpansForIdleOwner(a.now_ms);
}

void ReleaseIdleOwnersSpans() {
  const uint64_t now = NowMs();
  if (!ClaimPeriod(g_next_idle_owner_scan_ms, now, kIdleOwnerScanMs)) return;
  NudgeArgs args{now, kIdleOwnerMs};
  sync::SpinLockHolder hold(&g_idle_heaps_lock);
  ForEachNudgeableHeap(ReleaseIfIdle, &args);
}

}  // namespace

void InstallIdleOwnerReclaim() { tiny::InstallIdleOwnerReclaimer(ReleaseIdleOwnersSpans); }

void LockIdleHeapsForFork() { g_idle_heaps_lock.Lock(); }

void UnlockIdleHeapsAfterFork(bool in_child) {
  if (in_child) {
    g_idle_heaps_lock.ResetAfterFork();
  } else {
    g_idle_heaps_lock.Unlock();
  }
}

void InstallPlaceholderFreeRoute() { tiny::InstallPlaceholderRoute(CacheForPlaceholderFree); }

}  // namespace hakmem
