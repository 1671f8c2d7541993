#include "core/thread_heap.h"

#include <pthread.h>
#include <sched.h>

#include <atomic>

#include "core/background.h"
#include "core/base/clock.h"
#include "core/base/config.h"
#include "core/base/meta_pool.h"
#include "core/base/os.h"
#include "core/decay.h"
#include "core/heap_upkeep.h"
#include "core/stats.h"
#include "pools/large/large_tier.h"
#include "pools/mid/mid_pool.h"
#include "pools/tiny/superslab_manager.h"
#include "sync/spin_lock.h"

// glibc's lock over its list of open FILEs (exported since GLIBC_2.2.5, in no
// installed header). Weak: with another libc they are null and skipped.
extern "C" {
void _IO_list_lock(void) __attribute__((weak));
void _IO_list_unlock(void) __attribute__((weak));
void _IO_list_resetlock(void) __attribute__((weak));
}

namespace hakmem {

// In .data, not .bss: a cache's own_match_ starts at 1 (thread_cache.h).
constinit Heap g_placeholder_heap{};
constinit Heap g_exited_heap{};
constinit Heap g_nudged_heap{};
__thread Heap* tls_heap __attribute__((tls_model("initial-exec"))) = &g_placeholder_heap;
// The heap tls_heap points at unless the thread is nudged (read by its thread only).
__thread Heap* tls_own_heap __attribute__((tls_model("initial-exec"))) = nullptr;

namespace {

// Lock order (fork takes them all): stdio's list lock (see PrepareFork), a
// background component's lock (the learner's, core/background.h),
// g_late_lock, core/heap_upkeep.cc's lock, g_pool_drain_lock, g_heaps_lock,
// the heap records' lock, then the SuperSlab locks, then the large-tier
// locks. A heap's cache lock comes before the SuperSlab locks and the
// large-tier lock (a refill about to map a SuperSlab past the most makes the
// big cache give way, tiny::InstallGrowthReclaimer, and may unmap a range
// while it holds its cache lock); a refill
// holds its own while it takes core/heap_upkeep.cc's lock and g_heaps_lock
// (and only tries other live heaps' cache locks), and a decay pass takes
// free-pool heaps' cache locks under g_pool_drain_lock: live and free-pool
// heaps are never the same, so the two never wait on each other.
constinit sync::SpinLock g_late_lock;
Heap* g_late_heap = nullptr;  // under g_late_lock
constinit sync::SpinLock g_heaps_lock;
// Held while free-pool heaps are drained (DrainPooledHeaps), and across fork:
// the heaps being drained are off the free pool meanwhile, and a child must
// not lose them.
constinit sync::SpinLock g_pool_drain_lock;
constinit MetaPool<Heap> g_heap_records;
Heap* g_all_heaps = nullptr;
Heap* g_free_heaps = nullptr;
uint64_t g_heaps_set_up = 0;  // new or adopted
uint64_t g_heaps_exited = 0;
uint64_t g_heap_records_made = 0;

pthread_key_t g_exit_key;
std::atomic<bool> g_exit_key_ready{false};

// 0: nothing done; 1: one thread is setting up; 2: allocation works;
// 3: fork handlers registered too.
std::atomic<int> g_init_stage{0};

// The most an exiting thread's bins may hold and stay for the next thread
// (a short-lived thread's: thread_churn's hold a few KiB).
constexpr uint64_t kKeptBinBytes = 64 << 10;

void TearDownThreadHeap(void* arg) {
  Heap* h = static_cast<Heap*>(arg);
  // From here on this thread's frees go the remote way, and what a later
  // destructor allocates comes from the late heap (no new heap: nothing
  // might return it).
  __atomic_store_n(&tls_heap, &g_exited_heap, __ATOMIC_RELAXED);
  tls_own_heap = nullptr;
  large::ReturnRanges(large::TakeThreadRanges(&h->large_ranges));
  h->tiny.PublishAllocs();  // the statistics and the learner count them now
  // Bins that hold little stay as they are for the next thread that sets up
  // a heap: it takes this one (the free pool is a stack) and allocates from
  // them at once. Drained here, a stream of short-lived threads spent its
  // time giving every bin back to its slabs, the emptied spans to the
  // SuperSlab manager, and carving them again (thread_churn_4t: 1.22x with
  // the bins kept, at the same RSS). A heap nobody takes is drained by a
  // decay pass, a decay delay after the exit (DrainIdleExitedHeaps). More
  // than kKeptBinBytes goes back now: the thread that takes the heap over
  // runs no upkeep before its 16th refill (AllowNudge), so bins it does not
  // use do not decay before then. Others' blocks chained for their owners
  // go home now either way.
  // Others' frees of its blocks go onto their slabs from here on, not
  // into the ring of a cache that may sit in the pool for long.
  h->tiny.CloseRing();
  const bool keep_bins = h->tiny.CachedBytes() <= kKeptBinBytes;
  if (keep_bins) {
    h->tiny.FlushRemote();
  } else {
    h->tiny.Drain();
  }
  MaybeDecay();
  sync::SpinLockHolder hold(&g_heaps_lock);
  // No nudge from here on (none could land meanwhile: tls_heap is no longer
  // h): this thread's TLS goes away with it.
  h->tls_slot = nullptr;
  h->live = false;
  h->holds_bins = keep_bins;
  h->exited_ms = NowMs();
  h->next_free = g_free_heaps;
  g_free_heaps = h;
  ++g_heaps_exited;
}

// fork and stdio. glibc's fork runs the atfork prepare handlers first and
// only then takes stdio's list lock (multi-threaded parents). If our handler
// held hakmem's locks while fork waited for the list lock, this would hang:
//   forking thread:  hakmem locks held  -> waits for the list lock
//   fflush(NULL):    list lock held     -> waits for a FILE's lock
//   getline:         FILE's lock held   -> realloc waits for a hakmem lock
// So the prepare handler takes the list lock before any hakmem lock. The
// lock order is then list lock -> FILE lock -> hakmem locks, with no cycle:
//   list -> FILE:   fflush(NULL), fclose (glibc's own order)
//   FILE -> hakmem: allocations under a FILE's lock (getline, buffers)
//   list -> hakmem: this handler; glibc allocating under the list lock
//   hakmem -> none: hakmem never calls stdio while holding one of its locks
//                   (it logs with write(2), core/base/log.h; learner/ too)
// The list lock is recursive per thread: fork's own _IO_list_lock nests in
// ours, and its unlock in the parent leaves ours to ParentAfterFork. In the
// child glibc resets the lock if the parent was multi-threaded, else it never
// took it; resetting it (again) is right either way. A fork from a thread that
// holds a FILE's lock takes the list lock inside it, as glibc's fork does.
// A parent glibc says has one thread (OsSingleThreaded: so no decay or
// learner thread either) has no other thread that could hold one of these
// locks, or be amid an update of a heap or a ring, when it forks: the
// handlers take, release and reset nothing, as glibc's own fork does then.
// Each lock taken and released around a fork wrote a page the fork had just
// shared: a fault in the parent and a copied page in the child, a dozen per
// fork (docs/ARCHITECTURE.md, "Start-up, re-entry, fork"). PrepareFork's
// choice, for the other two handlers; written only when it changes (so not a
// page fault of its own at every fork).
std::atomic<bool> g_fork_took_locks{false};

void PrepareFork() {
  const bool take = !OsSingleThreaded();
  if (g_fork_took_locks.load(std::memory_order_relaxed) != take) {
    g_fork_took_locks.store(take, std::memory_order_relaxed);
  }
  if (!take) return;
  if (_IO_list_lock != nullptr) _IO_list_lock();
  // A background component's lock comes first among ours: it takes core's
  // locks while holding its own (core/background.h).
  if (const BackgroundHooks* b = Background()) b->prepare_fork();
  g_late_lock.Lock();
  LockIdleHeapsForFork();
  g_pool_drain_lock.Lock();
  g_heaps_lock.Lock();
  g_heap_records.lock().Lock();
  tiny::LockSuperSlabsForFork();
  large::LockForFork();
}

void ParentAfterFork() {
  if (!g_fork_took_locks.load(std::memory_order_relaxed)) return;
  large::UnlockAfterFork(false);
  tiny::UnlockSuperSlabsAfterFork(false);
  g_heap_records.lock().Unlock();
  g_heaps_lock.Unlock();
  g_pool_drain_lock.Unlock();
  UnlockIdleHeapsAfterFork(false);
  g_late_lock.Unlock();
  if (const BackgroundHooks* b = Background()) b->parent_after_fork();
  if (_IO_list_unlock != nullptr) _IO_list_unlock();
}

void ChildAfterFork() {
  // The child of a parent of one thread is a whole process (POSIX limits
  // only a threaded parent's child to async-signal-safe calls): its decay
  // thread and the learner's start by the usual rules.
  if (!g_fork_took_locks.load(std::memory_order_relaxed)) return;
  large::UnlockAfterFork(true);
  tiny::UnlockSuperSlabsAfterFork(true);
  g_heap_records.lock().ResetAfterFork();
  g_heaps_lock.ResetAfterFork();
  g_pool_drain_lock.ResetAfterFork();
  UnlockIdleHeapsAfterFork(true);
  g_late_lock.ResetAfterFork();
  // Only the forking thread survives. Other threads' heaps may have been in
  // the middle of an update: keep them out of circulation for good.
  for (Heap* h = g_all_heaps; h != nullptr; h = h->next_all) {
    h->tiny.MarkRingHolesAfterFork();
    if (h->live && h != tls_own_heap) {
      h->live = false;
      h->tls_slot = nullptr;
      h->orphaned = true;
    }
  }
  DecayAfterForkInChild();
  if (const BackgroundHooks* b = Background()) b->child_after_fork();
  if (_IO_list_resetlock != nullptr) _IO_list_resetlock();
}

void InitSlow() {
  int expected = 0;
  if (!g_init_stage.compare_exchange_strong(expected, 1, std::memory_order_acq_rel)) {
    // Another thread is in stage 1, which allocates nothing and is short.
    while (g_init_stage.load(std::memory_order_acquire) < 2) sched_yield();
    return;
  }
  LoadConfig();  // may find no environ this early; the constructor retries
  mid::Init();
  InstallPlaceholderFreeRoute();
  InstallIdleOwnerReclaim();
  tiny::InstallGrowthReclaimer(large::YieldToSlabGrowth);
  if (pthread_key_create(&g_exit_key, TearDownThreadHeap) == 0) {
    g_exit_key_ready.store(true, std::memory_order_release);
  }
  g_init_stage.store(2, std::memory_order_release);
  // May allocate (glibc grows its handler list): allocation works by now.
  pthread_atfork(PrepareFork, ParentAfterFork, ChildAfterFork);
  g_init_stage.store(3, std::memory_order_release);
}

// glibc's hook behind C++ thread_local destructors: the way a heap goes back
// at thread exit when no pthread key could be created (the process used them
// all up before hakmem started). Weak: absent from some C libraries.
extern "C" int __cxa_thread_atexit_impl(void (*fn)(void*), void* arg, void* dso) __attribute__((weak));
extern "C" void* __dso_handle;

// Arranges for h to be torn down when the calling thread exits, normally by
// the pthread key's destructor (h->exit_by_key). Nothing may be arranged
// (the heap then stays live after the thread is gone).
void ReturnAtThreadExit(Heap* h) {
  h->exit_by_key = false;
  if (g_exit_key_ready.load(std::memory_order_acquire)) {
    h->exit_by_key = pthread_setspecific(g_exit_key, h) == 0;
  } else if (__cxa_thread_atexit_impl != nullptr) {
    __cxa_thread_atexit_impl(TearDownThreadHeap, h, &__dso_handle);
  }
}

// A heap record, new or from the pool of exited threads' heaps.
Heap* TakeHeap() {
  {
    sync::SpinLockHolder hold(&g_heaps_lock);
    if (Heap* h = g_free_heaps) {
      g_free_heaps = h->next_free;
      h->holds_bins = false;
      h->tiny.StartOver();
      return h;
    }
  }
  Heap* h = g_heap_records.New();
  if (h == nullptr) return nullptr;
  h->tiny.Init();
  sync::SpinLockHolder hold(&g_heaps_lock);
  h->next_all = g_all_heaps;
  g_all_heaps = h;
  ++g_heap_records_made;
  return h;
}

__attribute__((constructor)) void InitAtLoad() {
  EnsureGlobalInit();
  if (!ConfigLoaded()) {  // the first allocation came before environ was set
    LoadConfig();
    mid::Init();
  }
}

__attribute__((destructor)) void ReportAtExit() {
  const BackgroundHooks* b = Background();
  if (b != nullptr) b->at_exit();  // the learner stops before the counters are read
  if (GetConfig().stats) {
    PrintStats(2);
    if (b != nullptr) b->print_stats(2);
  }
}

}  // namespace

void EnsureGlobalInit() {
  if (ABSL_PREDICT_TRUE(g_init_stage.load(std::memory_order_acquire) >= 2)) return;
  InitSlow();
}

Heap* SetUpThreadHeap() {
  EnsureGlobalInit();
  Heap* h = TakeHeap();
  if (h == nullptr) return nullptr;
  h->next_free = nullptr;
  // No upkeep yet, so not nudged (AllowNudge): the first comes after 16
  // refills of this thread, not of the thread that had the heap before.
  h->refills = 0;
  h->upkeep_ms.store(0, std::memory_order_relaxed);
  {
    sync::SpinLockHolder hold(&g_heaps_lock);
    ++g_heaps_set_up;
    h->live = true;
  }
  // Publish before registering the exit hook: glibc may calloc there (high
  // key numbers, the thread_local destructor list), and that allocation must
  // find this heap, not recurse.
  tls_own_heap = h;
  __atomic_store_n(&tls_heap, h, __ATOMIC_RELAXED);
  ReturnAtThreadExit(h);
  return h;
}

void AllowNudge(Heap* h) {
  if (!h->exit_by_key || h != tls_own_heap) return;
  sync::SpinLockHolder hold(&g_heaps_lock);
  h->tls_slot = &tls_heap;
}

Heap* OwnHeap() { return tls_own_heap; }

large::ThreadRanges* OwnLargeRanges() {
  Heap* h = tls_own_heap;
  return h != nullptr ? &h->large_ranges : nullptr;
}

void ReturnAllThreadRanges() {
  large::LargeBlock* chain = nullptr;
  {
    sync::SpinLockHolder hold(&g_heaps_lock);
    for (Heap* h = g_all_heaps; h != nullptr; h = h->next_all) {
      chain = large::TakeThreadRanges(&h->large_ranges, chain);
    }
  }
  large::ReturnRanges(chain);  // the big cache's lock, not the registry's
}

void* AllocForExitedThread(int c) {
  sync::SpinLockHolder hold(&g_late_lock);
  if (g_late_heap == nullptr) {
    // Not `live`: no single thread owns it, and a fork child keeps it (the
    // prepare handler holds g_late_lock, so it is consistent at the fork).
    g_late_heap = TakeHeap();
    if (g_late_heap == nullptr) return nullptr;
    // An exited thread's bins may have come with it: no upkeep or decay
    // pass would ever give them back from here. Nor would anything but its
    // rare refills take a ring, which would fill its bins of every class.
    g_late_heap->tiny.Drain();
    g_late_heap->tiny.CloseRing();
  }
  if (void* p = g_late_heap->tiny.TryPop(c)) return p;
  return g_late_heap->tiny.Refill(c);
}

namespace {

// Drains the free-pool heaps `due` picks (under g_heaps_lock) with
// g_heaps_lock released: they leave the pool for the drain and go back to
// its bottom, so a thread starting meanwhile (TakeHeap) and a refill looking
// for idle owners (ForEachNudgeableHeap) wait for two list updates, not for
// the bins of every exited thread to go back to their slabs. A thread that
// starts while they are out takes another pooled heap or a new record.
template <class Due>
void DrainPooledHeaps(Due due) {
  sync::SpinLockHolder drain(&g_pool_drain_lock);
  Heap* taken = nullptr;
  {
    sync::SpinLockHolder hold(&g_heaps_lock);
    for (Heap** link = &g_free_heaps; *link != nullptr;) {
      Heap* h = *link;
      if (!due(*h)) {
        link = &h->next_free;
        continue;
      }
      *link = h->next_free;
      h->next_free = taken;
      taken = h;
    }
  }
  if (taken == nullptr) return;
  for (Heap* h = taken; h != nullptr; h = h->next_free) {
    h->tiny.Drain();
    h->holds_bins = false;
  }
  // Below the heaps still holding bins: those are the better ones to adopt.
  sync::SpinLockHolder hold(&g_heaps_lock);
  Heap** end = &g_free_heaps;
  while (*end != nullptr) end = &(*end)->next_free;
  *end = taken;
}

}  // namespace

void DrainExitedHeaps() {
  {
    sync::SpinLockHolder hold(&g_late_lock);
    if (g_late_heap != nullptr) g_late_heap->tiny.Drain();
  }
  DrainPooledHeaps([](const Heap&) { return true; });
}

void DrainIdleExitedHeaps(uint64_t now_ms, uint64_t idle_ms) {
  // (A pass that read its clock before a heap's exit must not wrap.)
  // A push that saw a ring open as its thread exited may land after the
  // exit gave the ring back (CloseRing): such a heap is drained too.
  DrainPooledHeaps([=](const Heap& h) {
    return (h.holds_bins || h.tiny.RingHoldsBlocks()) && now_ms >= h.exited_ms + idle_ms;
  });
}

void ForEachHeap(void (*fn)(const Heap&, void*), void* arg) {
  sync::SpinLockHolder hold(&g_heaps_lock);
  for (Heap* h = g_all_heaps; h != nullptr; h = h->next_all) fn(*h, arg);
}

void ForEachNudgeableHeap(void (*fn)(Heap&, void*), void* arg) {
  sync::SpinLockHolder hold(&g_heaps_lock);
  for (Heap* h = g_all_heaps; h != nullptr; h = h->next_all) {
    if (h->live && h->tls_slot != nullptr) fn(*h, arg);
  }
}

HeapCounts GetHeapCounts() {
  sync::SpinLockHolder hold(&g_heaps_lock);
  uint64_t pooled = 0;
  for (const Heap* h = g_free_heaps; h != nullptr; h = h->next_free) ++pooled;
  return HeapCounts{g_heaps_set_up, g_heaps_exited, g_heap_records_made, pooled};
}

}  // namespace hakmem
