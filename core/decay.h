// Decay: free memory a program stopped using goes back to the OS by time
// (HAKMEM_DECAY_MS), never from the fast paths and never with a system call
// per free. Each tier keeps the time its free memory went unused, and a pass
// gives back what stayed unused longer than the delay: the Large tier's big
// cache (pools/large, which also decays on its own allocations and frees),
// the Mid/L2.5 idle spans (pools/mid), then the SuperSlab manager's resident
// free units and empty SuperSlabs (pools/tiny). A thread's bins of classes it
// stopped allocating decay on that thread's own slow paths (they are its own);
// a pass nudges a thread that takes none into one (core/heap_upkeep.h).
//
// A pass runs at most every quarter of the delay, in whichever thread gets
// there first: from allocation slow paths (every 16th refill of a thread,
// Large allocations and frees through malloc/free, thread exit), from the
// learner's thread when it runs (HAKMEM_LEARN=1), and from hakmem's decay
// thread, which sleeps between passes so that a program that stopped
// allocating gets its memory back too. While the process's footprint rises
// by memory hakmem did not map, the decay thread looks every 20 ms and gives
// back what has been unused for a moment, not the whole delay (decay.cc,
// WatchPeak; core/peak_watch.h).
// The decay thread starts at the first refill or Large allocation 250 ms after
// start-up (a program that ends sooner has nothing to give back), or at once
// when hakmem has 32 MiB mapped for blocks; in a program of one thread only at
// that size (its second thread would end glibc's single-threaded fast paths);
// unless HAKMEM_DECAY_THREAD=0, and never in the child of a threaded parent
// (only async-signal-safe calls are allowed there before exec; the child's
// slow paths still run passes). A parent of one thread has a child that is a
// whole process: the same rules (core/thread_heap.cc, PrepareFork).
#ifndef HAKMEM_CORE_DECAY_H_
#define HAKMEM_CORE_DECAY_H_

#include <cstddef>
#include <cstdint>

namespace hakmem {

// A pass if one is due (a relaxed load and a coarse clock read otherwise).
void MaybeDecay();
// From an allocation slow path with no hakmem lock held (it may create a
// thread, which allocates): starts the decay thread when it is due.
void MaybeStartDecayThread();
// fork: the child of a threaded parent has no decay thread and starts none.
void DecayAfterForkInChild();

// The give-backs made while the program grew elsewhere (WatchPeak), ever:
// how many, and the bytes unmapped or decommitted (statistics).
struct RisingGiveBacks {
  uint64_t count;
  uint64_t bytes;
};
RisingGiveBacks GetRisingGiveBacks();

}  // namespace hakmem

#endif  // HAKMEM_CORE_DECAY_H_
