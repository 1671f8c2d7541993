// A thread cache's inbox: per size class, the blocks other threads freed
// scattered over the cache's slabs, as one lock-free stack of chains. A
// freeing thread pushes a chain (its blocks of one owner and class, linked
// through their first words) with one CAS; the owner takes everything of a
// class with one exchange, and the chain becomes its bin as it is: no slab
// is touched at either end.
//
// Why, next to each slab's own remote list (slab.h): a thread that frees
// another's blocks at random over a big heap (a cache's evictions, RCU-style
// reclamation) sends each block to a different slab, and every such free was
// a push onto a cold slab, most of them reviving a parked one, and a refill
// of the owner per slab for a block or two (ThreadCache::Scatter decides
// which chains come here).
//
// The count of blocks rides in the head word (sync::CountedWord), so a push
// is one CAS and a take one exchange that also learns how many blocks came,
// for the bin's count. Push-only stacks
// taken whole have no ABA: a head that went and came back still heads a
// valid chain.
#ifndef HAKMEM_POOLS_TINY_OWNER_INBOX_H_
#define HAKMEM_POOLS_TINY_OWNER_INBOX_H_

#include <atomic>
#include <cstdint>

#include "core/base/range_map.h"
#include "core/base/size_classes.h"
#include "sync/counted_word.h"

namespace hakmem::tiny {

// On lines of its own: other threads write it, and the cache's fields
// around it are its owner's.
class alignas(64) OwnerInbox {
 public:
  // Pushes first..last, n blocks of class c linked through their first
  // words (last's link is overwritten). Any thread.
  void Push(int c, void* first, void* last, uint32_t n) {
    std::atomic<uintptr_t>& head = heads_[c];
    uintptr_t old = head.load(std::memory_order_relaxed);
    uintptr_t word;
    do {
      *static_cast<void**>(last) = sync::CountedWord::Head(old);
      word = sync::CountedWord::Pushed(old, first, n);
    } while (!head.compare_exchange_weak(old, word, std::memory_order_release,
                                         std::memory_order_relaxed));
  }

  // Takes every block of class c (nullptr if none) and their number in *n:
  // exact, but for a saturated count (kMaxCount), which is then a floor.
  // The owner (or whoever holds its slab lock).
  void* Take(int c, uint32_t* n) {
    std::atomic<uintptr_t>& head = heads_[c];
    if (head.load(std::memory_order_relaxed) == 0) return nullptr;  // no write to a quiet line
    const uintptr_t word = head.exchange(0, std::memory_order_acquire);
    *n = sync::CountedWord::Count(word);
    return sync::CountedWord::Head(word);
  }

  static constexpr uint32_t kMaxCount = sync::CountedWord::kMaxCount;

 private:
  static_assert(RangeMap::kAddressBits <= sync::CountedWord::kCountShift,
                "block addresses leave the top 16 bits");

  std::atomic<uintptr_t> heads_[kNumClasses] = {};
};

}  // namespace hakmem::tiny

#endif  // HAKMEM_POOLS_TINY_OWNER_INBOX_H_
