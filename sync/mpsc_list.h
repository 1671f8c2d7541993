// RemoteFreeList: an intrusive multi-producer / single-consumer list of free
// blocks. Threads that free a block they do not own push it here; the owner
// later takes the whole list at once and puts the blocks back on its own free
// list. The link lives in each block's first word (block_link.h), so the list
// costs one word: the head.
//
// Why no ABA protection is needed (unlike TaggedStack):
//  - The consumer never removes one element with a CAS on `head->next`; it
//    swaps the whole list out with one exchange. It never reads a link it does
//    not yet own, so there is no stale "next" to install.
//  - A producer writes `block->next = expected` and then CASes head from
//    `expected` to `block`. If head went A -> (taken) -> A meanwhile, the CAS
//    succeeds and the result is still correct: head *is* A at that instant and
//    the block links to it. Only the value of head matters, not its history.
//
// Ordering: a push publishes with release (the link and anything the freeing
// thread wrote before are visible); TakeAll acquires, so the consumer may walk
// the chain with plain loads afterwards.
//
// The number of blocks on the list rides in the head word (CountedWord): the
// push that links a chain counts it in the same CAS, and the exchange that
// takes the list learns how many came. A count kept beside the list was a
// second locked instruction on every push, and a take could miss the count of
// a push that landed between the two.
#ifndef HAKMEM_SYNC_MPSC_LIST_H_
#define HAKMEM_SYNC_MPSC_LIST_H_

#include <atomic>
#include <cstdint>

#include "sync/block_link.h"
#include "sync/counted_word.h"

namespace hakmem::sync {

class RemoteFreeList {
 public:
  // The most the count shows: past it, a floor (a list of one owner's slab
  // holds a few thousand blocks at most).
  static constexpr uint32_t kMaxCount = CountedWord::kMaxCount;

  constexpr RemoteFreeList() = default;
  RemoteFreeList(const RemoteFreeList&) = delete;
  RemoteFreeList& operator=(const RemoteFreeList&) = delete;

  // Pushes one block. Returns true if the list was empty just before the push:
  // exactly one pusher sees true per empty -> non-empty transition, so the
  // caller can notify the owner once (e.g. put the slab on a "has remote
  // frees" list) instead of on every free.
  bool Push(void* block) { return PushChain(block, block, 1); }

  // Pushes a chain of n blocks first -> ... -> last already linked through
  // first words (last's link is overwritten). Same return value as Push.
  //
  // The successful CAS is seq_cst (free on x86, where every locked
  // instruction is a full barrier), so a caller may follow a push with a
  // seq_cst load of some flag and pair it with a consumer that stores that flag
  // seq_cst and then checks NonEmptyOrdered(): one of the two always sees the
  // other (the Dekker pattern), with no separate fence.
  bool PushChain(void* first, void* last, uint32_t n) {
    uintptr_t head = head_.load(std::memory_order_relaxed);
    uintptr_t word;
    do {
      FreeBlockLink::SetNext(last, CountedWord::Head(head));
      word = CountedWord::Pushed(head, first, n);
    } while (!head_.compare_exchange_weak(head, word, std::memory_order_seq_cst,
                                          std::memory_order_relaxed));
    return head == 0;
  }

  // Takes every block pushed so far (LIFO order: the newest first; nullptr if
  // none) and their number in *n (exact below kMaxCount). Only the owning
  // (single) consumer calls this.
  void* TakeAll(uint32_t* n) {
    const uintptr_t word = head_.exchange(0, std::memory_order_acquire);
    *n = CountedWord::Count(word);
    return CountedWord::Head(word);
  }

  // A hint for the owner's fast check "anything to drain?": relaxed, so a push
  // racing with it may or may not be seen. Take with TakeAll to be sure.
  bool Empty() const { return head_.load(std::memory_order_relaxed) == 0; }

  // How many blocks the list holds now, as a hint (relaxed, as Empty).
  uint32_t Count() const { return CountedWord::Count(head_.load(std::memory_order_relaxed)); }

  // Empty() as a seq_cst load: the consumer's side of the pattern above.
  bool EmptyOrdered() const { return head_.load(std::memory_order_seq_cst) == 0; }

 private:
  std::atomic<uintptr_t> head_{0};
};

}  // namespace hakmem::sync

#endif  // HAKMEM_SYNC_MPSC_LIST_H_
