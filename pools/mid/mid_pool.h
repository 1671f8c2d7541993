// The Mid pool (1 KiB - 32 KiB) and L2.5 (32 KiB - 1 MiB): the slab engine's
// thread caches (pools/tiny) with what makes these tiers a pool of their own:
//  - idle-span stacks per class bounded by CAP (idle_spans.h), plugged into
//    the engine as its span source for these tiers (pools/tiny/span_source.h);
//  - refill batching: a refill that needs new spans takes
//    HAKMEM_POOL_REFILL_BATCH of them (never more than CAP) in one go;
//  - W_MAX borrowing: a miss may take a cached block of a larger class;
//  - the tier parameters behind them (pool_policy.h), which the learner moves.
#ifndef HAKMEM_POOLS_MID_MID_POOL_H_
#define HAKMEM_POOLS_MID_MID_POOL_H_

#include <cstddef>

#include "pools/tiny/thread_cache.h"

namespace hakmem::mid {

// Reads the tier parameters from the configuration and installs the span
// source for the Mid and L2.5 classes. Called once at start-up (core/).
void Init();

// W_MAX: on a miss of class c for a request of `size` bytes, a block of a
// larger class already in `cache` whose size is within W_MAX x size, else one
// of the next (Mid) class's blocks freed back to its slabs; nullptr if there
// is none (or c is a Tiny class, which never borrows). Where W_MAX
// holds for every request of class c, more of that class's blocks move to
// bin c with it (ThreadCache::Borrow), so that its next requests are hits.
// A class that lives on lent blocks for good carves its own instead
// (ThreadCache::MayBorrowFor): nullptr.
void* TryBorrow(tiny::ThreadCache& cache, int c, size_t size);

}  // namespace hakmem::mid

#endif  // HAKMEM_POOLS_MID_MID_POOL_H_
