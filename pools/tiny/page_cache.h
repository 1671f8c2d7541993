// Idle spans ("pages"): spans whose blocks are all free, kept per class for
// reuse, still formatted for their class, in lock-free stacks (TaggedStack)
// sharded by thread. A refill that needs a new span pops here first, so the
// steady state of a class never takes the SuperSlab manager's lock. How many a
// class keeps is its CAP (core/pool_policy.h); beyond CAP an emptied span goes
// back to the SuperSlab manager. Spans are Slab records, which are never freed,
// so a stale popper's read of a link is always of mapped memory.
#ifndef HAKMEM_POOLS_TINY_PAGE_CACHE_H_
#define HAKMEM_POOLS_TINY_PAGE_CACHE_H_

#include <cstddef>
#include <cstdint>

#include "pools/tiny/slab.h"

namespace hakmem::tiny {

inline constexpr uint32_t kPageCacheShards = 4;

// Keeps `slab` (no owner, no live block) as an idle span of its class if the
// class holds fewer than CAP; false if the caller must release it.
bool PutIdleSpan(Slab* slab, uint32_t shard);
// Pops up to `max` idle spans of class c into out[], the caller's shard first.
uint32_t TakeIdleSpans(int c, uint32_t shard, Slab** out, uint32_t max);
// Releases every idle span to the SuperSlab manager (malloc_trim).
void ReleaseIdleSpans();
uint64_t IdleSpans(int c);

}  // namespace hakmem::tiny

#endif  // HAKMEM_POOLS_TINY_PAGE_CACHE_H_
