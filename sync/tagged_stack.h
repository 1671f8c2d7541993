// TaggedStack: a lock-free, ABA-safe LIFO of free blocks (Treiber stack),
// many pushers and many poppers: the global per-class free lists that thread
// caches refill from and overflow into. The link lives in each block's first
// word (block_link.h).
//
// Representation: ONE 64-bit word, {tag:19 | block address >> 3 : 45}.
//   We pack instead of using a 16-byte {pointer, tag} pair because gcc 12
//   does not inline cmpxchg16b for std::atomic<16 bytes> even with -mcx16: it
//   calls __atomic_compare_exchange_16 in libatomic (is_always_lock_free is
//   false), which would add a library dependency to the allocator and an
//   out-of-line call to every pop. A 64-bit CAS is lock-free everywhere.
//   Requirements on blocks (checked by assert in debug builds):
//   - address < 2^48. x86-64 user space is below 2^47 (4-level paging; with
//     5-level paging Linux maps above 2^47 only when mmap is given a hint
//     there); AArch64 with 48-bit VA likewise. Pointers must carry no tag
//     bits in their top byte (ours come from our own mmap, so they do not).
//   - 8-byte aligned: the 3 zero low bits buy 3 more tag bits.
//   The tag changes on every successful update, so a popper's CAS fails if
//   anything happened to the head since it read it, unless exactly a multiple
//   of 2^19 (524,288) updates happened while that popper was stalled between
//   two instructions. That is the accepted residual risk of every bounded tag.
//
// The ABA hazard and the speculative read: Pop reads head = A, then reads
// next = A->link, then CASes head from A to next. Between the two reads
// another thread may pop A, hand it out, and even push it back, so the value
// of next may be garbage. The tag makes that CAS fail, so the garbage is never
// installed. But the read itself touches memory that may already belong to
// someone else. It is safe here because an allocator's free blocks stay mapped
// (pages go back with madvise, which reads as zeros, never munmap while a
// stack may hold them); that is a REQUIREMENT on users of this class. The read
// is a relaxed atomic load (FreeBlockLink::Next), so it is not a data race in
// C++ terms and TSan stays quiet as long as whoever writes a block's first
// word while the block may still be read by a stale popper (e.g. linking it
// into a thread-local list right after popping it) uses FreeBlockLink::SetNext.
// A *plain* write to the first word in that window (e.g. user data) can still
// be reported by TSan; under sanitizers user data never lives in these blocks
// (the sanitizer owns malloc), so only hakmem's own code needs the rule.
//
// Size(): an atomic count kept beside the head, updated after each successful
// CAS. Under concurrency it lags (it may even dip below the true value for a
// moment, it is clamped at 0); with no operation in flight it is exact.
//
// Place each TaggedStack on its own cache line (CacheLinePadded) when several
// of them sit in an array: head and count are written by every operation.
#ifndef HAKMEM_SYNC_TAGGED_STACK_H_
#define HAKMEM_SYNC_TAGGED_STACK_H_

#include <atomic>
#include <cassert>
#include <cstddef>
#include <cstdint>

#include "sync/block_link.h"

namespace hakmem::sync {

class TaggedStackTestPeer;

class TaggedStack {
 public:
  static constexpr int kAddressBits = 48;
  static constexpr int kAlignShift = 3;  // blocks are 8-byte aligned
  static constexpr int kTagBits = 64 - (kAddressBits - kAlignShift);  // 19

  constexpr TaggedStack() = default;
  TaggedStack(const TaggedStack&) = delete;
  TaggedStack& operator=(const TaggedStack&) = delete;

  void Push(void* block) { PushBatch(block, block, 1); }

  // Pushes n blocks already linked first -> ... -> last through their first
  // words (last's link is overwritten). One CAS for the whole chain.
  void PushBatch(void* first, void* last, size_t n) {
    assert(Fits(first) && Fits(last));
    uint64_t old = head_.load(std::memory_order_relaxed);
    do {
      FreeBlockLink::SetNext(last, Decode(old));
      // release: the links of the chain are visible to whoever pops it.
    } while (!head_.compare_exchange_weak(old, Bump(old, first),
                                          std::memory_order_release,
                                          std::memory_order_relaxed));
    count_.fetch_add(static_cast<int64_t>(n), std::memory_order_relaxed);
  }

  // Pops one block, nullptr if empty.
  void* Pop() {
    void* block = PopNoCount();
    if (block != nullptr) count_.fetch_sub(1, std::memory_order_relaxed);
    return block;
  }

  // Pops up to `max` blocks as a chain linked through first words, newest
  // first, with nullptr in the last block's link. Returns the first block (or
  // nullptr, *got = 0), sets *last to the last block and *got to the count.
  //
  // One CAS per block, on purpose: grabbing k blocks with one CAS would need
  // walking k links from a head that other poppers may take and reuse in the
  // meantime. Pop reads one possibly stale link and never follows it; a walk
  // would dereference garbage. Callers that want everything use PopAll.
  void* PopBatch(size_t max, void** last, size_t* got) {
    void* first = nullptr;
    void* tail = nullptr;
    size_t n = 0;
    while (n < max) {
      void* block = PopNoCount();
      if (block == nullptr) break;
      if (tail == nullptr) {
        first = block;
      } else {
        FreeBlockLink::SetNext(tail, block);
      }
      tail = block;
      ++n;
    }
    if (tail != nullptr) FreeBlockLink::SetNext(tail, nullptr);
    if (n != 0)
      count_.fetch_sub(static_cast<int64_t>(n), std::memory_order_relaxed);
    *last = tail;
    *got = n;
    return first;
  }

  // Takes the whole stack (one CAS); the chain ends with a nullptr link.
  // Walks the now-private chain to keep Size() exact at rest; if `got` is not
  // null it receives the number of blocks.
  void* PopAll(size_t* got = nullptr) {
    uint64_t old = head_.load(std::memory_order_acquire);
    while (Decode(old) != nullptr &&
           !head_.compare_exchange_weak(old, Bump(old, nullptr),
                                        std::memory_order_acquire,
                                        std::memory_order_acquire)) {
    }
    void* first = Decode(old);
    size_t n = 0;
    for (void* b = first; b != nullptr; b = FreeBlockLink::Next(b)) ++n;
    if (n != 0)
      count_.fetch_sub(static_cast<int64_t>(n), std::memory_order_relaxed);
    if (got != nullptr) *got = n;
    return first;
  }

  // Approximate under concurrency, exact at rest (see the header comment).
  size_t Size() const {
    int64_t n = count_.load(std::memory_order_relaxed);
    return n > 0 ? static_cast<size_t>(n) : 0;
  }

  // A hint: relaxed, may be stale by the time the caller acts on it.
  bool Empty() const {
    return Decode(head_.load(std::memory_order_relaxed)) == nullptr;
  }

 private:
  friend class TaggedStackTestPeer;

  static constexpr int kTagShift = kAddressBits - kAlignShift;  // 45
  static constexpr uint64_t kAddressMask = (uint64_t{1} << kTagShift) - 1;

  static bool Fits(void* p) {
    auto a = reinterpret_cast<uintptr_t>(p);
    return (a >> kAddressBits) == 0 && (a & ((1u << kAlignShift) - 1)) == 0;
  }
  static void* Decode(uint64_t word) {
    return reinterpret_cast<void*>((word & kAddressMask) << kAlignShift);
  }
  static uint64_t Tag(uint64_t word) { return word >> kTagShift; }
  // The next head word: `p` with the tag of `old` plus one. Adding to the top
  // field wraps modulo 2^kTagBits for free (the carry leaves bit 63).
  static uint64_t Bump(uint64_t old, void* p) {
    return ((old & ~kAddressMask) + (uint64_t{1} << kTagShift)) |
           (reinterpret_cast<uintptr_t>(p) >> kAlignShift);
  }

  // One pop attempt split in two so the test can stall a popper between
  // reading the link and the CAS (the ABA window) deterministically.
  struct PopAttempt {
    uint64_t expected;  // the head word the attempt is based on
    void* top;
    void* next;  // speculative: may be garbage if top was taken meanwhile
  };
  static PopAttempt Prepare(uint64_t head) {
    void* top = Decode(head);
    return {head, top, top == nullptr ? nullptr : FreeBlockLink::Next(top)};
  }
  // On failure *head holds the current head word for the next attempt.
  bool Commit(const PopAttempt& a, uint64_t* head) {
    *head = a.expected;
    // acquire (success): the block's contents written before its push.
    return head_.compare_exchange_weak(*head, Bump(a.expected, a.next),
                                       std::memory_order_acquire,
                                       std::memory_order_acquire);
  }

  void* PopNoCount() {
    // acquire: pairs with the push that installed the head, so its link is
    // the pusher's value when the head is still what we read.
    uint64_t head = head_.load(std::memory_order_acquire);
    for (;;) {
      PopAttempt a = Prepare(head);
      if (a.top == nullptr) return nullptr;
      if (Commit(a, &head)) return a.top;
    }
  }

  static_assert(std::atomic<uint64_t>::is_always_lock_free);
  std::atomic<uint64_t> head_{0};  // {tag, address >> 3}; 0 == empty, tag 0
  std::atomic<int64_t> count_{0};
};

}  // namespace hakmem::sync

#endif  // HAKMEM_SYNC_TAGGED_STACK_H_
