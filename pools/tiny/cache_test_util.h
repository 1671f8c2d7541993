// Test helpers for driving thread caches directly (no heap, no front door):
// what the front door does for a thread, done by hand on a cache the test owns.
#ifndef HAKMEM_POOLS_TINY_CACHE_TEST_UTIL_H_
#define HAKMEM_POOLS_TINY_CACHE_TEST_UTIL_H_

#include <memory>

#include "core/base/range_map.h"
#include "pools/tiny/slab.h"
#include "pools/tiny/thread_cache.h"

namespace hakmem::tiny::cache_test {

inline Slab* SlabOf(void* p) {
  return RangeMap::MetaOf<Slab>(RangeMap::Lookup(p));
}

// A real (initialised) cache, as a new thread's heap has.
inline std::unique_ptr<ThreadCache> NewCache() {
  auto cache = std::make_unique<ThreadCache>();
  cache->Init();
  return cache;
}

// malloc of class c through `cache`: the bin, else a refill.
inline void* Alloc(ThreadCache& cache, int c) {
  void* p = cache.TryPop(c);
  return p != nullptr ? p : cache.Refill(c);
}

inline void Free(ThreadCache& cache, void* p) { cache.Free(SlabOf(p), p); }

}  // namespace hakmem::tiny::cache_test

#endif  // HAKMEM_POOLS_TINY_CACHE_TEST_UTIL_H_
