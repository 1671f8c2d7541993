// The per-thread heap: what one thread allocates from without locks. A thread
// reaches it through one initial-exec TLS pointer that starts at a constant,
// empty placeholder heap; the placeholder's empty caches send the first
// allocation down the slow path, which sets up a real heap (no "initialised?"
// test on the fast path). A third placeholder, the nudged heap, sends a
// thread down its slow path to run its upkeep (heap_upkeep.h).
//
// Heaps are never freed. At thread exit (pthread key destructor, or a C++
// thread_local destructor if no pthread key could be had) the heap joins a
// free pool with its slabs and, if they hold little, its bins (else they are
// drained at once); the next new thread adopts it, and a decay pass drains
// one nobody adopted. The thread then points at a second
// placeholder, the exited heap: anything it allocates later (another key's
// destructor, possibly in glibc's last destructor round, after which nothing
// would return a new heap) comes from one shared "late" heap under a lock. In
// a fork child the heaps of the parent's other threads are orphaned (their
// state may have been mid-update when fork ran) and never reused.
#ifndef HAKMEM_CORE_THREAD_HEAP_H_
#define HAKMEM_CORE_THREAD_HEAP_H_

#include <atomic>
#include <cstdint>

#include "absl/base/attributes.h"
#include "pools/large/large_tier.h"
#include "pools/tiny/thread_cache.h"

namespace hakmem {

struct Heap {
  tiny::ThreadCache tiny;  // first: the fast paths index into it
  Heap* next_all;          // every heap ever created (stats)
  Heap* next_free;         // the free pool
  bool live;               // owned by a running thread (not the late heap)
  uint32_t refills;        // by this thread (every 16th runs its upkeep)
  bool orphaned;           // lost to a fork; never reused
  // Its thread's tls_heap while the nudge may write there (core/heap_upkeep.h:
  // AllowNudge), else nullptr. Under the registry lock.
  Heap** tls_slot;
  std::atomic<uint64_t> upkeep_ms;  // NowMs of the owner's last upkeep
  bool exit_by_key;  // torn down by the pthread key's destructor (owner only)
  // In the free pool with its exited thread's bins still full (under the
  // registry lock, or by the drain that took the heap out of the pool): the
  // next thread takes them over (TakeHeap), else a decay pass drains them
  // once `exited_ms` is decay_ms old.
  bool holds_bins;
  uint64_t exited_ms;
  // The Large ranges this heap's thread freed last (pools/large/large_tier.h);
  // emptied at its exit, by every decay pass and by malloc_trim
  // (ReturnAllThreadRanges). A thread that never allocated below 1 MiB has
  // no heap, and its Large blocks all go through the big cache.
  large::ThreadRanges large_ranges;
};

extern Heap g_placeholder_heap;  // a thread that has not allocated yet
extern Heap g_exited_heap;       // a thread whose heap was torn down
extern Heap g_nudged_heap;       // a thread asked to run its upkeep (heap_upkeep.h)
extern __thread Heap* tls_heap __attribute__((tls_model("initial-exec")));

// The calling thread's tls_heap. Atomic (a relaxed load is a plain load)
// because a decay pass on another thread may swap it for &g_nudged_heap.
ABSL_ATTRIBUTE_ALWAYS_INLINE inline Heap* CurrentHeap() {
  return __atomic_load_n(&tls_heap, __ATOMIC_RELAXED);
}
// The calling thread's own heap, nudged or not; nullptr if it has none (it
// never allocated, or its heap was torn down).
Heap* OwnHeap();

// Slow path of a thread's first allocation: global start-up if needed, then a
// heap from the free pool or a new one. nullptr if the OS refuses memory.
Heap* SetUpThreadHeap();

// A block of class c for a thread whose heap was torn down (tls_heap ==
// &g_exited_heap), from the shared late heap; nullptr if out of memory.
void* AllocForExitedThread(int c);

// One-time process set-up (configuration, thread-exit key, fork handlers).
// Cheap once done; safe to re-enter from an allocation it triggers.
void EnsureGlobalInit();

// Drains the caches of heaps whose threads have exited (their remote frees)
// and releases slabs left empty. For malloc_trim.
void DrainExitedHeaps();
// Hands the Large ranges every heap keeps (Heap::large_ranges) to the big
// cache: at each decay pass and at malloc_trim.
void ReturnAllThreadRanges();
// The calling thread's Large ranges, or nullptr if it has no heap.
large::ThreadRanges* OwnLargeRanges();
// The same for the heaps whose threads exited `idle_ms` or more ago and that
// no new thread took over: their bins go back (a decay pass).
void DrainIdleExitedHeaps(uint64_t now_ms, uint64_t idle_ms);

// Calls fn(heap, arg) for every heap, under the heap registry lock.
void ForEachHeap(void (*fn)(const Heap&, void*), void* arg);
// Lets decay passes nudge h, the calling thread's heap (called by its owner
// at its first upkeep). Only a heap whose teardown is armed through the
// pthread key may be nudged: the nudge writes into the thread's TLS, and the
// teardown, which withdraws the permission under the registry lock, is what
// guarantees the TLS outlives it. Waiting for the first upkeep (16 refills)
// leaves out a thread whose first allocations come from glibc's last round
// of key destructors (its teardown would never run) and threads whose heap
// went back through the __cxa_thread_atexit fallback.
void AllowNudge(Heap* h);
// Calls fn(heap, arg) for every heap owned by a running thread that may be
// nudged (tls_slot set), under the heap registry lock.
void ForEachNudgeableHeap(void (*fn)(Heap&, void*), void* arg);

struct HeapCounts {
  uint64_t created;  // heaps set up for a thread, new or adopted
  uint64_t exited;
  uint64_t records;  // heap records ever made (each is reused once its thread exits)
  uint64_t pooled;   // heaps in the free pool now, waiting for a thread
};
HeapCounts GetHeapCounts();

}  // namespace hakmem

#endif  // HAKMEM_CORE_THREAD_HEAP_H_
