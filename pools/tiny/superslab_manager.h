// The global source of slab spans: maps 2 MiB SuperSlabs, hands out runs of
// free 64 KiB units, takes them back, and unmaps SuperSlabs that fall empty
// beyond a small cache (HAKMEM_SUPERSLAB_CACHE). One spin lock guards it; it is
// reached only when a thread cache needs a new slab or gives one back.
#ifndef HAKMEM_POOLS_TINY_SUPERSLAB_MANAGER_H_
#define HAKMEM_POOLS_TINY_SUPERSLAB_MANAGER_H_

#include <cstddef>
#include <cstdint>

#include "pools/tiny/slab.h"

namespace hakmem::tiny {

// A span of `units` free units, its Slab record reset and owned by nobody
// (the caller initialises it). nullptr if the OS refuses memory.
Slab* AcquireSpan(uint32_t units);
// Gives a span back. Its blocks must all be free.
void ReleaseSpan(Slab* slab);
// Decommits every free unit and unmaps every empty SuperSlab. Returns the
// number of bytes given back to the OS.
size_t TrimSuperSlabs();

uint64_t LiveSuperSlabs();

// fork(): the parent holds the lock across fork; both sides then release it.
void LockSuperSlabsForFork();
void UnlockSuperSlabsAfterFork(bool in_child);

}  // namespace hakmem::tiny

#endif  // HAKMEM_POOLS_TINY_SUPERSLAB_MANAGER_H_
