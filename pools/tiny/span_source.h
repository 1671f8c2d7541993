// How a tier plugs a pool of spans in front of the engine's SuperSlab manager.
//
// A thread cache that needs a new span for size class c, or holds a span that
// emptied, asks the SpanSource installed for c's tier. With none installed
// (the Tiny tier) it goes straight to the SuperSlab manager: one span per
// refill, emptied spans given back at once. The Mid pool (pools/mid) installs
// one for the Mid and L2.5 tiers: idle-span stacks bounded by CAP and refills
// of several spans at a time. The engine calls these only on slow paths
// (a refill that found no slab with free blocks, a span that emptied).
#ifndef HAKMEM_POOLS_TINY_SPAN_SOURCE_H_
#define HAKMEM_POOLS_TINY_SPAN_SOURCE_H_

#include <cstdint>

#include "core/base/size_classes.h"
#include "pools/tiny/slab.h"

namespace hakmem::tiny {

// What a thread that releases a span lives on: kBigBlocks while it allocates
// L2.5 blocks fast (ThreadCache::KeepBigBlocksInBins) and they are an eighth
// or more of its allocations (ThreadCache::JudgeBigBlocks).
enum class SpanDemand : bool { kUsual, kBigBlocks };

struct SpanSource {
  // Spans a refill of class c takes at once when it needs new ones (>= 1,
  // at most kMaxSpansPerRefill).
  uint32_t (*spans_per_refill)(int c);
  // Up to `max` idle spans of class c (formatted for c, no owner, no live
  // block) into out[]; `shard` is the calling cache's. Returns how many.
  uint32_t (*take_idle)(int c, uint32_t shard, Slab** out, uint32_t max);
  // Keeps an emptied span (no owner, no live block) for reuse. false: the
  // caller gives it back to the SuperSlab manager. A source may keep more
  // for a thread living on big blocks (`demand`).
  bool (*keep_idle)(Slab* slab, uint32_t shard, SpanDemand demand);
};

inline constexpr uint32_t kMaxSpansPerRefill = 4;

// Installs `source` for the classes of `tier` (nullptr: none). Called at
// start-up, before any thread cache refills a class of that tier.
void InstallSpanSource(Tier tier, const SpanSource* source);
// The source for class c, or nullptr.
const SpanSource* SpanSourceFor(int c);

// Idle spans that a tier keeps for its classes must never make the process
// map new memory for another class: before a refill of class c maps a new
// SuperSlab, the engine asks the reclaimer (if one is installed) to give back
// idle spans of other classes, about `units` 64 KiB units' worth, whose pages
// the refill then carves again. Returns the units given back.
using IdleReclaimer = uint32_t (*)(int c, uint32_t units);
void InstallIdleReclaimer(IdleReclaimer reclaimer);
uint32_t ReclaimIdleSpans(int c, uint32_t units);

// Likewise the spans that others' frees emptied in the slabs of threads that
// have gone idle (core/heap_upkeep.h): asked for before a refill takes new
// units. The calling cache holds its own slab lock.
using IdleOwnerReclaimer = void (*)();
void InstallIdleOwnerReclaimer(IdleOwnerReclaimer reclaimer);
void ReclaimIdleOwnersSpans();

}  // namespace hakmem::tiny

#endif  // HAKMEM_POOLS_TINY_SPAN_SOURCE_H_
