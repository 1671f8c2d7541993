#include "pools/mid/idle_spans.h"

#include <atomic>

#include "core/base/clock.h"
#include "pools/mid/pool_policy.h"
#include "pools/tiny/superslab_manager.h"
#include "sync/block_link.h"
#include "sync/cache_line.h"
#include "sync/tagged_stack.h"

namespace hakmem::mid {
namespace {

struct alignas(sync::kCacheLineSize) Shard {
  sync::TaggedStack stack;
};

Shard g_shards[kNumClasses][kIdleSpanShards];
// Idle spans per class: reserved before a push, so CAP holds under races.
std::atomic<uint32_t> g_idle[kNumClasses];

// Units held by the idle spans of all L2.5 classes.
std::atomic<uint64_t> g_idle_l25_units{0};

void CountIdle(int c, int64_t spans) {
  if (TierOfClass(c) != Tier::kL25) return;
  const int64_t units = spans * kClassInfo[c].span_units;
  g_idle_l25_units.fetch_add(static_cast<uint64_t>(units), std::memory_order_relaxed);
}

// Pushes with the time it went idle unchanged (PutIdleSpan sets it).
bool KeepIdle(tiny::Slab* slab, uint32_t shard, uint32_t cap) {
  const int c = slab->size_class;
  uint32_t n = g_idle[c].load(std::memory_order_relaxed);
  do {
    if (n >= cap) return false;
  } while (!g_idle[c].compare_exchange_weak(n, n + 1, std::memory_order_relaxed));
  CountIdle(c, 1);
  g_shards[c][shard % kIdleSpanShards].stack.Push(slab);
  return true;
}

}  // namespace

uint32_t IdleCap(int c, tiny::SpanDemand demand) {
  const uint32_t cap = PoolPolicy::Cap(c);
  if (demand == tiny::SpanDemand::kUsual || TierOfClass(c) != Tier::kL25) return cap;
  // Beyond CAP only within the big-block budget, all L2.5 classes together.
  const uint64_t in_use_units = tiny::InUseBytes() / kUnitSize;
  const uint32_t units = kClassInfo[c].span_units;
  if (g_idle_l25_units.load(std::memory_order_relaxed) + units > in_use_units / kBigBlockIdleShare) {
    return cap;
  }
  const uint32_t spans = kBigBlockIdleUnits / units;
  return cap > spans ? cap : spans;
}

bool PutIdleSpan(tiny::Slab* slab, uint32_t shard, tiny::SpanDemand demand) {
  slab->idle_since_ms = NowMs();
  return KeepIdle(slab, shard, IdleCap(slab->size_class, demand));
}

uint32_t TakeIdleSpans(int c, uint32_t shard, tiny::Slab** out, uint32_t max) {
  uint32_t got = 0;
  for (uint32_t i = 0; i < kIdleSpanShards && got < max; ++i) {
    sync::TaggedStack& stack = g_shards[c][(shard + i) % kIdleSpanShards].stack;
    while (got < max) {
      void* s = stack.Pop();
      if (s == nullptr) break;
      out[got++] = static_cast<tiny::Slab*>(s);
    }
  }
  if (got != 0) {
    g_idle[c].fetch_sub(got, std::memory_order_relaxed);
    CountIdle(c, -static_cast<int64_t>(got));
  }
  return got;
}

uint32_t ReleaseIdleAbove(int c, uint64_t keep) {
  uint32_t released = 0;
  uint64_t idle = IdleSpans(c);
  while (idle > keep) {
    tiny::Slab* batch[16];
    const uint64_t want = idle - keep < 16 ? idle - keep : 16;
    const uint32_t got = TakeIdleSpans(c, 0, batch, static_cast<uint32_t>(want));
    if (got == 0) break;
    for (uint32_t i = 0; i < got; ++i) tiny::ReleaseSpan(batch[i]);
    released += got;
    idle = got < idle ? idle - got : 0;
  }
  return released;
}

uint32_t ReclaimIdleSpansForOtherClass(int c, uint32_t units) {
  uint32_t released = 0;
  while (released < units) {
    // The class whose idle spans hold the most units.
    int victim = -1;
    uint64_t most = 0;
    for (int d = 0; d < kNumClasses; ++d) {
      const uint64_t held = IdleSpans(d) * kClassInfo[d].span_units;
      if (d != c && held > most) {
        most = held;
        victim = d;
      }
    }
    tiny::Slab* s;
    if (victim < 0 || TakeIdleSpans(victim, 0, &s, 1) == 0) break;
    released += s->units;
    tiny::ReleaseSpan(s, tiny::Residency::kKeep);
  }
  return released;
}

uint32_t DecayIdleSpans(uint64_t now_ms, uint64_t decay_ms) {
  uint32_t released = 0;
  for (int c = 0; c < kNumClasses; ++c) {
    // Take them all, give back the old ones, and push the young ones back
    // only at the end (a young span pushed back at once would be popped again
    // before the older ones below it are looked at). Out of the stacks a
    // span's idle_link is free to chain them: pops come newest first, so
    // chaining each at the front leaves the oldest at the head, pushed first.
    tiny::Slab* young = nullptr;
    tiny::Slab* batch[64];
    uint32_t n;
    // Spans pushed while the pass runs are young: the ones there at the start
    // are enough to look at.
    for (uint64_t left = IdleSpans(c); left > 0 && (n = TakeIdleSpans(c, 0, batch, 64)) != 0;
         left = n < left ? left - n : 0) {
      for (uint32_t i = 0; i < n; ++i) {
        tiny::Slab* s = batch[i];
        if (s->idle_since_ms + decay_ms > now_ms) {
          // An atomic store: a pop in another thread may still read this
          // link of what was the stack's top (its CAS then fails).
          sync::FreeBlockLink::SetNext(s, young);
          young = s;
        } else {
          // Idle for the whole delay: its pages go back now, not after
          // another delay among the manager's free units.
          tiny::ReleaseSpan(s, tiny::Residency::kDecommit);
          ++released;
        }
      }
    }
    while (young != nullptr) {
      tiny::Slab* next = static_cast<tiny::Slab*>(sync::FreeBlockLink::Next(young));
      // A young span stays within the most its class may keep (a span kept
      // for a thread living on big blocks, too); beyond: CAP went down
      // meanwhile, or the units in use fell below what the big-block
      // budget needs (IdleCap).
      if (!KeepIdle(young, 0, IdleCap(c, tiny::SpanDemand::kBigBlocks))) {
        tiny::ReleaseSpan(young);
        ++released;
      }
      young = next;
    }
  }
  return released;
}

void ReleaseAllIdleSpans() {
  for (int c = 0; c < kNumClasses; ++c) ReleaseIdleAbove(c, 0);
}

uint64_t IdleSpans(int c) { return g_idle[c].load(std::memory_order_relaxed); }

}  // namespace hakmem::mid
