// A thread cache's ring of blocks other threads freed (Mid blocks, 1 - 32
// KiB, and Tiny ones of classes that keep none of others': ThreadCache::
// GoesByRing): their addresses and classes, written into the ring, where the
// other way home (slab.h's remote lists, the OwnerInbox) links each block
// into a chain.
//
// Why, next to those: a Mid block freed by another thread went onto its
// slab's remote list (chains of at most 8 KiB, so one push per block or two),
// and the owner then revived the slab, took its one or two blocks in a refill
// and parked it again: rptest with 1 - 16 KiB blocks, 2 threads, spent a
// quarter of its time there. From the ring the owner's next refill, of any
// class, puts every block straight into its bin (FillBin): no slab is touched
// at either end, and a push is one CAS on the ring's tail, for up to 8 blocks
// a freeing thread gathered for this owner (TryPushAll; rptest 1 - 16 KiB,
// 2 threads: 1.11 - 1.17x, 4 threads 1.05 - 1.07x; every block through the
// inbox's chains instead, 1.14x). Only Mid blocks freed at random go this
// way (ThreadCache::SendToRing): runs of one slab (a consumer freeing its
// producer's batch: xthread) stay chained, which the ring made 0.93x.
// Tiny blocks come runs and all, but only of a class the freeing thread
// keeps none of (ThreadCache::GoesByRing: xmalloc_4t 1.03 - 1.31x), and the
// refill puts them into its own class's bin, the rest onto their class's
// stash (ThreadCache::TakeRing).
//
// Bounded (kSlots): a full ring refuses and the block goes the old way (and
// the freeing thread's next ones for this owner, until the owner takes:
// ThreadCache::RingOwnerOf). A
// slot holds `block | class << kClassShift`, 0 when empty. A pusher claims
// position `pos` by CAS on the tail only while pos - head < kSlots: the
// taker has emptied that slot (its previous round's pusher has written it,
// or the taker would not have passed it), so no two pushers ever write one
// slot. The taker stops at the first slot still 0: a pusher between its CAS
// and its writes delays the blocks after it, and loses none.
//
// Open while a thread runs on the cache (ThreadCache::StartOver to
// CloseRing): a closed ring refuses every push. An exited thread's ring would
// otherwise fill with blocks that only the next thread to take the cache over
// puts into its bins, classes it may never use.
//
// A fork child has only the forking thread: a pusher that had claimed a slot
// and not written it never will, and the taker would stop there for good.
// MarkHolesAfterFork marks such slots, which the taker skips (the block that
// pusher was freeing is lost to the child, as its thread is).
//
// One taker at a time: the owner under its slab lock (FillBin, ReturnInbox).
#ifndef HAKMEM_POOLS_TINY_REMOTE_RING_H_
#define HAKMEM_POOLS_TINY_REMOTE_RING_H_

#include <atomic>
#include <cstdint>

#include "core/base/range_map.h"

namespace hakmem::tiny {

class alignas(64) RemoteRing {
 public:
  static constexpr uint32_t kSlots = 512;

  // A slot's word for block p of class c, and back.
  static uintptr_t Word(void* p, int c) {
    return reinterpret_cast<uintptr_t>(p) | (uintptr_t(c) << kClassShift);
  }
  static void* Block(uintptr_t word) { return reinterpret_cast<void*>(word & kPointerMask); }
  static int Class(uintptr_t word) { return static_cast<int>(word >> kClassShift); }

  void Open() { open_.store(true, std::memory_order_relaxed); }
  void Close() { open_.store(false, std::memory_order_relaxed); }
  bool IsOpen() const { return open_.load(std::memory_order_relaxed); }

  // Puts a word (Word) in the ring; false if it is full or closed. Any
  // thread.
  bool TryPush(uintptr_t word) { return TryPushAll(&word, 1); }

  // Puts n words (n <= kSlots) in the ring with one claim of n places; false
  // (none put) if they do not all fit or it is closed. Any thread.
  bool TryPushAll(const uintptr_t* words, uint32_t n) {
    if (!open_.load(std::memory_order_relaxed)) return false;
    uint64_t pos = tail_.load(std::memory_order_relaxed);
    do {
      if (static_cast<int64_t>(pos + n - head_.load(std::memory_order_acquire)) >
          static_cast<int64_t>(kSlots)) {
        return false;
      }
    } while (!tail_.compare_exchange_weak(pos, pos + n, std::memory_order_relaxed,
                                          std::memory_order_relaxed));
    for (uint32_t i = 0; i < n; ++i) {
      slots_[(pos + i) % kSlots].store(words[i], std::memory_order_release);
    }
    return true;
  }

  // How many slots the taker has emptied so far: a pusher the ring refused
  // waits for this to move before it tries again (a plain load of the
  // taker's line, which stays in the pusher's cache while it does not).
  uint64_t Taken() const { return head_.load(std::memory_order_relaxed); }

  // Whether a block waits at the head (a plain load: the taker's quick look).
  bool HasBlocks() const {
    return slots_[head_.load(std::memory_order_relaxed) % kSlots].load(
               std::memory_order_relaxed) != 0;
  }

  // Takes every block written so far, in order: take(block, class) for each.
  // Returns how many. The taker only.
  template <class Take>
  uint32_t TakeAll(Take take) {
    const uint64_t start = head_.load(std::memory_order_relaxed);
    uint64_t head = start;
    uint32_t n = 0;
    for (;; ++head) {
      std::atomic<uintptr_t>& slot = slots_[head % kSlots];
      const uintptr_t word = slot.load(std::memory_order_acquire);
      if (word == 0) break;
      slot.store(0, std::memory_order_relaxed);
      if (word == kHole) continue;
      take(Block(word), Class(word));
      ++n;
    }
    // Release: the slots emptied above are seen empty by the pushers that
    // read this head.
    if (head != start) head_.store(head, std::memory_order_release);
    return n;
  }

  // In a fork child (one thread): marks the slots claimed and never written.
  void MarkHolesAfterFork() {
    const uint64_t tail = tail_.load(std::memory_order_relaxed);
    for (uint64_t pos = head_.load(std::memory_order_relaxed); pos != tail; ++pos) {
      std::atomic<uintptr_t>& slot = slots_[pos % kSlots];
      if (slot.load(std::memory_order_relaxed) == 0) slot.store(kHole, std::memory_order_relaxed);
    }
  }

 private:
  static constexpr int kClassShift = 48;
  static_assert(RangeMap::kAddressBits <= kClassShift, "block addresses leave the top 16 bits");
  static constexpr uintptr_t kPointerMask = (uintptr_t{1} << kClassShift) - 1;
  static constexpr uintptr_t kHole = 1;  // no block: blocks are 16-byte aligned

  std::atomic<uint64_t> tail_{0};             // pushers' line
  std::atomic<bool> open_{false};
  alignas(64) std::atomic<uint64_t> head_{0};  // the taker's
  alignas(64) std::atomic<uintptr_t> slots_[kSlots] = {};
};

}  // namespace hakmem::tiny

#endif  // HAKMEM_POOLS_TINY_REMOTE_RING_H_
