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
#ifndef HAKMEM_SYNC_MPSC_LIST_H_
#define HAKMEM_SYNC_MPSC_LIST_H_

#include <atomic>

#include "sync/block_link.h"

namespace hakmem::sync {

class RemoteFreeList {
 public:
  constexpr RemoteFreeList() = default;
  RemoteFreeList(const RemoteFreeList&) = delete;
  RemoteFreeList& operator=(const RemoteFreeList&) = delete;

  // Pushes one block. Returns true if the list was empty just before the push:
  // exactly one pusher sees true per empty -> non-empty transition, so the
  // caller can notify the owner once (e.g. put the slab on a "has remote
  // frees" list) instead of on every free.
  bool Push(void* block) { return PushChain(block, block); }

  // Pushes a chain first -> ... -> last already linked through first words
  // (last's link is overwritten). Same return value as Push.
  //
  // The successful CAS is seq_cst (free on x86, where every locked
  // instruction is a full barrier), so a caller may follow a push with a
  // seq_cst load of some flag and pair it with a consumer that stores that flag
  // seq_cst and then checks NonEmptyOrdered(): one of the two always sees the
  // other (the Dekker pattern), with no separate fence.
  bool PushChain(void* first, void* last) {
    void* head = head_.load(std::memory_order_relaxed);
    do {
      FreeBlockLink::SetNext(last, head);
    } while (!head_.compare_exchange_weak(
        head, first, std::memory_order_seq_cst, std::memory_order_relaxed));
    return head == nullptr;
  }

  // Takes every block pushed so far (LIFO order: the newest first); nullptr if
  // empty. Only the owning (single) consumer calls this.
  void* TakeAll() { return head_.exchange(nullptr, std::memory_order_acquire); }

  // A hint for the owner's fast check "anything to drain?": relaxed, so a push
  // racing with it may or may not be seen. Take with TakeAll to be sure.
  bool Empty() const {
    return head_.load(std::memory_order_relaxed) == nullptr;
  }

  // Empty() as a seq_cst load: the consumer's side of the pattern above.
  bool EmptyOrdered() const {
    return head_.load(std::memory_order_seq_cst) == nullptr;
  }

 private:
  std::atomic<void*> head_{nullptr};
};

}  // namespace hakmem::sync

#endif  // HAKMEM_SYNC_MPSC_LIST_H_
