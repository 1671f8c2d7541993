// Idle spans ("pages") of the Mid and L2.5 classes: spans whose blocks are all
// free, kept per class for reuse, still formatted for their class, in
// lock-free stacks (TaggedStack) sharded by thread. A refill that needs a new
// span pops here first, so the steady state of a class never takes the
// SuperSlab manager's lock. How many a class keeps is its CAP (pool_policy.h);
// beyond CAP an emptied span goes back to the SuperSlab manager. Spans are Slab
// records, which are never freed, so a stale popper's read of a link is always
// of mapped memory.
#ifndef HAKMEM_POOLS_MID_IDLE_SPANS_H_
#define HAKMEM_POOLS_MID_IDLE_SPANS_H_

#include <cstddef>
#include <cstdint>

#include "pools/tiny/slab.h"
#include "pools/tiny/span_source.h"

namespace hakmem::mid {

inline constexpr uint32_t kIdleSpanShards = 4;

// Keeps `slab` (no owner, no live block) as an idle span of its class if the
// class holds fewer than its cap (IdleCap); false if the caller must release
// it. `shard` is any number (the caller's cache sequence number).
bool PutIdleSpan(tiny::Slab* slab, uint32_t shard,
                 tiny::SpanDemand demand = tiny::SpanDemand::kUsual);
// How many idle spans class c keeps: its CAP, and for an L2.5 class, when the
// releasing thread lives on big blocks (SpanDemand::kBigBlocks), at least
// kBigBlockIdleUnits' worth while the idle spans of all L2.5 classes hold
// less than a kBigBlockIdleShare-th of the units in use, the idle ones
// included (a third of the others, for a quarter). With CAP 0
// (HAKMEM_CAP_LARGE's default) every L2.5 span (then a block each) went back
// to the SuperSlab manager at its free and came from it at the next malloc,
// under the manager's lock and its best-fit search: with 16 - 128 KiB blocks
// (mstress, 2 threads) a sixth of the time (kept: 1.13 - 1.15x, 4 threads
// 1.12x). Only for such a thread: rare big buffers kept so (alloc_test, 1 in
// 1,000) grew its peak 43 - 52 %; big blocks of many classes at a lower rate
// (large, 64 KiB - 4 MiB) 9 - 19 %, and at a small share (rptest, 16 B - 256
// KiB) 7 - 11 %, at no gain in speed. 64 units: 16 and 32 gave mstress 1.11x
// and 1.12x. The share: 64 units of each of 20 classes held 22 MiB idle
// beside 9 MiB of blocks (16 blocks of 64 KiB - 1 MiB replaced at random,
// 1 thread: 53 -> 41 MiB peak, 0.98x; 2 threads 83 -> 70 MiB, 1.00x; an
// eighth: 40 MiB, 0.98x; mimalloc 27 MiB, 0.90x); mstress's 800 MiB in use
// leave the classes' own bound binding.
inline constexpr uint32_t kBigBlockIdleUnits = 64;
inline constexpr uint64_t kBigBlockIdleShare = 4;
uint32_t IdleCap(int c, tiny::SpanDemand demand);
// Pops up to `max` idle spans of class c into out[], the caller's shard first.
uint32_t TakeIdleSpans(int c, uint32_t shard, tiny::Slab** out, uint32_t max);
// Gives class c's idle spans beyond `keep` back to the SuperSlab manager;
// returns how many went. ReleaseIdleAbove(c, 0) for every class is malloc_trim's.
uint32_t ReleaseIdleAbove(int c, uint64_t keep);
void ReleaseAllIdleSpans();
uint64_t IdleSpans(int c);

// The engine's idle reclaimer (pools/tiny/span_source.h): gives back idle
// spans of classes other than c, those holding the most memory first, until
// about `units` units went back; their pages stay resident for the refill
// that asked. Returns the units given back.
uint32_t ReclaimIdleSpansForOtherClass(int c, uint32_t units);

// Decay: gives back every idle span that has been idle for `decay_ms` (its
// pages go back to the OS beyond HAKMEM_POOL_RETAIN_BYTES). Returns how many.
uint32_t DecayIdleSpans(uint64_t now_ms, uint64_t decay_ms);

}  // namespace hakmem::mid

#endif  // HAKMEM_POOLS_MID_IDLE_SPANS_H_
