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

// Up to `max` spans of `units` free units each, owned by nobody (the caller
// formats them), taken under one lock. Returns how many (0: the OS refused).
uint32_t AcquireSpans(uint32_t units, Slab** out, uint32_t max);
// Gives a span back. Its blocks must all be free. Free units stay resident up
// to HAKMEM_POOL_RETAIN_BYTES in all; beyond that a released span's pages are
// decommitted (MADV_DONTNEED) before it is marked free.
void ReleaseSpan(Slab* slab);
// Decommits every resident free unit and unmaps every empty SuperSlab.
// Returns the number of bytes given back to the OS.
size_t TrimSuperSlabs();
// Bytes of free units whose pages are still resident.
uint64_t ResidentFreeBytes();

uint64_t LiveSuperSlabs();

// fork(): the parent holds the lock across fork; both sides then release it.
void LockSuperSlabsForFork();
void UnlockSuperSlabsAfterFork(bool in_child);

}  // namespace hakmem::tiny

#endif  // HAKMEM_POOLS_TINY_SUPERSLAB_MANAGER_H_
