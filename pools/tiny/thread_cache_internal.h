// What the files of the thread-cache engine (thread_cache*.cc) share: the
// slab lists' links and the epoch of the learner's bin-flush requests. Not
// part of the tiny pool's interface (thread_cache.h).
#ifndef HAKMEM_POOLS_TINY_THREAD_CACHE_INTERNAL_H_
#define HAKMEM_POOLS_TINY_THREAD_CACHE_INTERNAL_H_

#include <atomic>
#include <cstdint>

#include "pools/tiny/thread_cache.h"

namespace hakmem::tiny::thread_cache_internal {

inline void PushFront(SlabList& l, Slab* s) {
  s->prev = nullptr;
  s->next = l.head;
  if (l.head) l.head->prev = s;
  else l.tail = s;
  l.head = s;
}

inline void PushBack(SlabList& l, Slab* s) {
  s->next = nullptr;
  s->prev = l.tail;
  if (l.tail) l.tail->next = s;
  else l.head = s;
  l.tail = s;
}

inline void Remove(SlabList& l, Slab* s) {
  if (s->prev) s->prev->next = s->next;
  else l.head = s->next;
  if (s->next) s->next->prev = s->prev;
  else l.tail = s->prev;
  s->prev = s->next = nullptr;
}

// Bumped by RequestBinFlush (thread_cache.cc); a cache that has not seen the
// current epoch drains the classes asked for at its next refill or upkeep.
extern std::atomic<uint64_t> g_flush_epoch;

}  // namespace hakmem::tiny::thread_cache_internal

#endif  // HAKMEM_POOLS_TINY_THREAD_CACHE_INTERNAL_H_
