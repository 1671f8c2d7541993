#include "pools/tiny/page_cache.h"

#include <atomic>

#include "core/pool_policy.h"
#include "pools/tiny/superslab_manager.h"
#include "sync/cache_line.h"
#include "sync/tagged_stack.h"

namespace hakmem::tiny {
namespace {

struct alignas(sync::kCacheLineSize) Shard {
  sync::TaggedStack stack;
};

Shard g_shards[kNumClasses][kPageCacheShards];
// Idle spans per class: reserved before a push, so CAP holds under races.
std::atomic<uint32_t> g_idle[kNumClasses];

}  // namespace

bool PutIdleSpan(Slab* slab, uint32_t shard) {
  const int c = slab->size_class;
  const uint32_t cap = PoolPolicy::Cap(c);
  uint32_t n = g_idle[c].load(std::memory_order_relaxed);
  do {
    if (n >= cap) return false;
  } while (!g_idle[c].compare_exchange_weak(n, n + 1, std::memory_order_relaxed));
  g_shards[c][shard % kPageCacheShards].stack.Push(slab);
  return true;
}

uint32_t TakeIdleSpans(int c, uint32_t shard, Slab** out, uint32_t max) {
  uint32_t got = 0;
  for (uint32_t i = 0; i < kPageCacheShards && got < max; ++i) {
    sync::TaggedStack& stack = g_shards[c][(shard + i) % kPageCacheShards].stack;
    while (got < max) {
      void* s = stack.Pop();
      if (s == nullptr) break;
      out[got++] = static_cast<Slab*>(s);
    }
  }
  if (got != 0) g_idle[c].fetch_sub(got, std::memory_order_relaxed);
  return got;
}

void ReleaseIdleSpans() {
  for (int c = 0; c < kNumClasses; ++c) {
    Slab* batch[16];
    uint32_t n;
    while ((n = TakeIdleSpans(c, 0, batch, 16)) != 0) {
      for (uint32_t i = 0; i < n; ++i) ReleaseSpan(batch[i]);
    }
  }
}

uint64_t IdleSpans(int c) { return g_idle[c].load(std::memory_order_relaxed); }

}  // namespace hakmem::tiny
