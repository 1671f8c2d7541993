// Heap upkeep: what a thread does for its own heap off the fast paths. A class
// it stopped allocating gives its cached blocks back and its emptied spans'
// pages go (ThreadCache::TrimQuietBins), bins over HAKMEM_THREAD_CACHE_BYTES
// shrink, a bin flush the learner asked for is honoured, blocks chained for
// other threads go home, and a decay pass runs if one is due.
//
// A thread runs it on its slow paths (every 16th refill). A thread that takes
// no slow path, because its bins serve every request (a program in a steady
// quiet phase), is nudged: a decay pass swaps the thread's tls_heap for
// &g_nudged_heap, whose bins are empty and have no room, so the thread's next
// malloc or free goes down its slow path, which puts the thread's own heap
// back (ReturnFromNudge) and runs the upkeep there. Only the owner ever
// touches its caches; the fast paths pay nothing (tls_heap is loaded as
// before, with a relaxed atomic load).
#ifndef HAKMEM_CORE_HEAP_UPKEEP_H_
#define HAKMEM_CORE_HEAP_UPKEEP_H_

#include <cstdint>

#include "core/thread_heap.h"

namespace hakmem {

// The owner's upkeep of h (its slow path; no hakmem lock held).
void RunHeapUpkeep(Heap* h);

// Called by a thread that found &g_nudged_heap in its tls_heap: puts its own
// heap back, runs the upkeep and returns the heap.
Heap* ReturnFromNudge();

// Nudges every live thread whose last upkeep is at least `idle_ms` old
// (called by decay passes), and gives back the spans that others' frees
// emptied in its slabs (a blocked thread takes no nudge). Threads that take
// slow paths anyway are left alone.
void NudgeIdleHeaps(uint64_t now_ms, uint64_t idle_ms);

// fork(): taken before the heap registry's lock (a pass holds it while it
// walks the registry).
void LockIdleHeapsForFork();
void UnlockIdleHeapsAfterFork(bool in_child);

// Routes frees that reach a placeholder's cache (tiny::InstallPlaceholderRoute):
// a nudged thread's to its own cache; and once a thread that never allocated
// has freed kPlaceholderFreesBeforeHeap blocks, to a heap set up for it. Such
// a thread (a consumer that only frees what producers allocated: xmalloc)
// otherwise sends every block home with a CAS of its own on the slab's remote
// list, which the owner and the other consumers contend for; with a cache it
// chains them per slab, one CAS per chain (xmalloc_4t 1.6x). A thread that
// frees a few blocks stays without a heap. Called once at start-up.
inline constexpr uint32_t kPlaceholderFreesBeforeHeap = 64;
void InstallPlaceholderFreeRoute();

// Has a refill that is about to take new units first give back the spans
// that others' frees emptied in idle threads' slabs
// (tiny::InstallIdleOwnerReclaimer). Called once at start-up.
void InstallIdleOwnerReclaim();

}  // namespace hakmem

#endif  // HAKMEM_CORE_HEAP_UPKEEP_H_
