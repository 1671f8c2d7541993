// The per-thread front of the slab pool: one singly linked free list (a "bin")
// per size class, refilled in batches from slabs this cache owns.
//
//   malloc fast path:  TryPop(c)      pop the bin head              (no atomics)
//   malloc slow path:  Refill(c)      blocks freed back to the class's slabs ->
//                                     an idle span of the class -> the current
//                                     slab's room -> new span
//   free, own slab:    Free()         push on the bin; flush half when over limit
//   flush:             ReturnToSlabs  push on the slabs' local free lists
//   free, other slab:  QueueRemote    chained per slab, pushed on the slab's MPSC
//                                     remote list with one CAS per chain; frees
//                                     scattered over many slabs chained per owner
//                                     and class instead, pushed on its OwnerInbox;
//                                     Mid blocks (1 - 32 KiB), and Tiny ones of a
//                                     class that keeps none, by address into the
//                                     owner's RemoteRing (SendToRing), which its
//                                     next refill empties into its bins
//
// Blocks of another owner's slab go home rather than into this thread's
// bins, unless the class is in an exchange (the thread frees others' blocks
// of it about as fast as it allocates it: JudgeExchange) and the bin holds
// less than a quarter of its limit, or the owner is its partner (the two
// free each other's blocks of the class) and the bin holds less than that
// quarter too (kKeepForeignDivisor): reusing them always would leave every
// thread's slabs partly used by all the others, and the footprint grows with
// the mixing (rptest: 2x the memory); at home they let the owner's slabs
// empty and go back.
// Invariant: every block in a bin counts as used by its slab. A bin holds
// another owner's block when it kept one while low, or after an adoption;
// returning it (ReturnToSlabs) is then a chained remote push.
// A cache is never destroyed: when its thread exits it is kept, with its
// slabs and (if they hold little) its bins, for the next thread to adopt, and
// emptied (Drain) at the exit or later (see core/thread_heap.h).
#ifndef HAKMEM_POOLS_TINY_THREAD_CACHE_H_
#define HAKMEM_POOLS_TINY_THREAD_CACHE_H_

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>

#include "absl/base/attributes.h"
#include "absl/base/optimization.h"
#include "core/base/range_map.h"
#include "core/base/size_classes.h"
#include "pools/tiny/aligned_inside.h"
#include "pools/tiny/owner_inbox.h"
#include "pools/tiny/remote_ring.h"
#include "pools/tiny/slab.h"
#include "sync/spin_lock.h"

namespace hakmem::tiny {

// A counter written only by its owning thread and read by anyone: relaxed
// load + store (a plain add on x86, no lock prefix), never torn.
struct OwnerCounter {
  uint64_t value;
  void Add(uint64_t n) {
    __atomic_store_n(&value, __atomic_load_n(&value, __ATOMIC_RELAXED) + n, __ATOMIC_RELAXED);
  }
  uint64_t Read() const { return __atomic_load_n(&value, __ATOMIC_RELAXED); }
};

struct CacheCounters {
  OwnerCounter refills[kNumClasses];
  OwnerCounter spans_reused[kNumClasses];  // refills served by idle spans
  OwnerCounter spans_new[kNumClasses];     // spans taken from the SuperSlab manager
  OwnerCounter borrowed[kNumClasses];      // blocks of c served to smaller requests
  OwnerCounter borrowed_waste[kNumClasses];  // their bytes beyond the request
  OwnerCounter flushes;
  OwnerCounter remote_frees;         // blocks this thread sent back to other owners
};

struct SlabList {
  Slab* head;
  Slab* tail;
};

class ThreadCache {
 public:
  // A cache in zeroed memory is the "empty placeholder": every bin is empty, it
  // owns no slab, and Init() has not run. Init prepares a real one.
  void Init();
  // A new thread takes this cache over (its bins drained or as its last
  // thread left them): refills start small again, so a short-lived thread
  // carves and later hands back only a few blocks.
  void StartOver();
  // Its thread exits: others' frees of its blocks no longer come by its
  // ring (remote_ring.h), and what the ring holds goes back to the slabs.
  // StartOver opens it again. (A fork child's orphaned caches keep theirs
  // open: full, it refuses, and no block of theirs is reused either way.)
  void CloseRing();
  // Whether others' frees wait in the ring (a cache in the pool of exited
  // threads' heaps that holds some is drained by a decay pass).
  bool RingHoldsBlocks() const { return remote_ring_.HasBlocks(); }
  // Blocks another owner's ring gets at once from this cache's frees
  // (FlushRingOutbox).
  static constexpr uint32_t kRingBatch = 8;
  // In a fork child: see RemoteRing::MarkHolesAfterFork.
  void MarkRingHolesAfterFork() { remote_ring_.MarkHolesAfterFork(); }
  // What a thread's first refill of class c moves.
  uint32_t FirstBatch(int c) const;

  // Fast path: a block of class c from the bin, or nullptr. Clears the
  // block's free key (slab.h): from here on it is in use.
  ABSL_ATTRIBUTE_ALWAYS_INLINE void* TryPop(unsigned c) { return TryPopAt(BinOffset(c)); }
  // TryPop for an aligned request: bin c's head only if it starts at a
  // multiple of `alignment` (a block of a colour-0 span, AllocColourZero).
  ABSL_ATTRIBUTE_ALWAYS_INLINE void* TryPopAligned(unsigned c, size_t alignment) {
    const void* head = bins_[c].head;
    if (ABSL_PREDICT_FALSE((reinterpret_cast<uintptr_t>(head) & (alignment - 1)) != 0)) {
      return nullptr;
    }
    return TryPop(c);
  }
  // A block of class c that starts at a multiple of `alignment` (which the
  // class keeps only in spans laid out at colour 0: size_classes.h,
  // kColourZero): bin c takes blocks of this cache's colour-0 span of the
  // class (the last one, else another among the class's first partial
  // slabs), else what was freed to the class (FillBin, with no new span), else
  // blocks of another colour-0 span (NewColourZeroSlab), and its head is
  // popped if aligned; nullptr if none is. A refill as any other (its batch
  // and the bin's limit grow: TakeColourZeroBlocks). Blocks of such spans are
  // ordinary blocks: freed into bin c, they serve any request of the class.
  ABSL_ATTRIBUTE_NOINLINE void* AllocColourZero(int c, size_t alignment);
  // Bin c's place among the bins, in bytes, and back: malloc looks the bin up
  // in a table of these (core/front_door.h), which spares it the scaling of
  // the class (two instructions).
  static constexpr uint32_t BinOffset(unsigned c) { return c * static_cast<uint32_t>(sizeof(Bin)); }
  static constexpr int ClassOfBinOffset(size_t offset) {
    return static_cast<int>(offset / sizeof(Bin));
  }
  // TryPop for the bin at `offset` (BinOffset).
  ABSL_ATTRIBUTE_ALWAYS_INLINE void* TryPopAt(size_t offset) {
    Bin& b = BinAt(offset);
    void* p = b.head;
    if (ABSL_PREDICT_FALSE(p == nullptr)) return nullptr;
    void* next = *static_cast<void**>(p);
    // The next pop reads the new head's link: a block another core freed, or
    // one a refill took back, is cold, and that miss was most of malloc's
    // time in rptest. Prefetched, it overlaps with the program's work
    // (rptest_2t 1.10x, xmalloc 1.05x, larson_4t 1.06x; glibc_simple, whose
    // blocks are hot, 0.98x for the extra instruction).
    __builtin_prefetch(next);
    b.head = next;
    b.CountPop();
    KeyWord(p) = 0;  // same line as the link just read
    return p;
  }

  // W_MAX: a block of bin d for a request of `size` bytes of a smaller class
  // c, nullptr if bin d is empty. With `lend_ahead`, up to a refill's worth of
  // c's further blocks moves from bin d to bin c with it (half of what bin d
  // holds, at most): a class that lives on borrowed blocks would otherwise
  // take the slow path on every request (mid_1t: 5 % of all requests). Lent
  // blocks are counted apart, with the bytes they waste beyond `size`.
  void* Borrow(int d, int c, size_t size, bool lend_ahead);
  // Whether a miss of Mid class c may borrow (W_MAX) rather than carve. A
  // class that lives on a larger class's blocks keeps borrowing for ever:
  // the lent blocks' frees go back to the lender's bin, so bin c runs dry
  // again and again, and each lend walks the lender's list (a miss per
  // block: 1 - 2 KiB blocks at random, 70 % of the 1792-byte requests
  // served by 2 KiB blocks, the lends were 5 % of the time and the
  // program's own touches slower). Once more than two thirds of the blocks c
  // handed out were lent, kBorrowStreak windows in a row (of kBorrowWindow
  // blocks or more: judged at its misses), c carves its own instead until
  // it goes quiet (TrimQuietBins) or a new thread adopts the cache. A class
  // that borrows for less, or only at first (a build's classes, as they
  // grow on the blocks the last phase left: 50 - 67 % lent, judged from half
  // lent their carving made phase_1t's peak 65 -> 70 MiB), goes on
  // borrowing.
  bool MayBorrowFor(int c);
  static constexpr uint32_t kBorrowWindow = 1024;
  static constexpr uint8_t kBorrowStreak = 4;

  // Slow path: refills bin c and pops a block; nullptr if out of memory.
  // Blocks freed back to the class's slabs come first, then an idle span's
  // (resident until it decays), then never-used ones (the current slab's,
  // else a new span's); with Fresh::kNo only freed ones
  // (nullptr if there are none): the caller may then borrow a larger class's
  // cached block (W_MAX) before new memory is used.
  enum class Fresh : bool { kNo, kYes };
  ABSL_ATTRIBUTE_NOINLINE void* Refill(int c, Fresh fresh = Fresh::kYes);
  // The same for bin c, which is empty, leaving every block in it; false if
  // none came.
  bool FillBin(int c, Fresh fresh);

  // A program that allocates and frees a class's blocks in turns of many (a
  // structure built and freed again: a request's objects, a pass's nodes)
  // drains the bin at every turn, and each block goes to its slab and back:
  // a flush walks the blocks, a refill walks or carves them again (256
  // blocks of 1 KiB in turns: 7 ns per malloc and per free, tcmalloc 3.5).
  // A refill after draining flushes grows the bin's limit by twice the
  // blocks they gave back (GrowForTurns), so that the next turn stays in the
  // bin, if the turn fits in this many bytes of blocks (a quarter of the
  // thread's budget, HAKMEM_THREAD_CACHE_BYTES, if less). The limit falls
  // back when the class goes quiet or the bins go over the budget; a free of
  // another owner's block is kept only below a quarter of the limit as it
  // was before.
  static constexpr uint64_t kTurnBytes = 1 << 20;

  // The most a refill moves, in bytes of blocks: kRefillBytes, and for a Mid
  // class of kBigMidClassBytes or more kBigMidRefillBytes. A bin flushes half
  // when it holds more than two refills, and what a thread carves of a class
  // is its live blocks' peak plus what the bin may hold: 512 KiB a class and
  // thread from 8 KiB up made mid_4t's peak the median peer's (64 KiB worth:
  // 41.0 -> 39.0 MiB at 1.05x paired, mid_1t 14.1 -> 13.6 at 1.04x; AMD EPYC).
  // Not the smaller Mid classes, whose refills carry other threads' frees and
  // whole turns: 64 KiB worth for every Mid class cost xthread_2t 0.88x,
  // glibc_simple 0.95x and phase_short_2t 0.96 - 1.00x.
  static constexpr uint64_t kRefillBytes = 4 * kUnitSize;
  static constexpr uint64_t kBigMidClassBytes = 8192;
  static constexpr uint64_t kBigMidRefillBytes = 64 * 1024;
  static constexpr uint64_t RefillBytes(int c) {
    return TierOfClass(c) == Tier::kMid && ClassSize(c) >= kBigMidClassBytes ? kBigMidRefillBytes
                                                                             : kRefillBytes;
  }

  // Frees p, whose unit's entry (core/base/range_map.h) is `unit`, if it is
  // surely the start of a carved block in use (IsSurelyInUse): into this
  // thread's bin with no atomic operation if this cache owns the slab; else
  // home to its owner, or kept (FreeOthersBlock). Anything else goes to
  // `not_in_use(p)`: an aligned pointer inside a block, an interior pointer,
  // a block that is free already, a block in use whose key byte matches,
  // and every pointer that is not in a slab at all (a unit that is no
  // slab's has nothing carved in its digest, range_map.h), so the entry's
  // kind is not tested here. Reads the digest, not the Slab: the digest
  // shares the range-map entry's cache line, so nothing here waits for a
  // second metadata line.
  template <class NotInUse>
  ABSL_ATTRIBUTE_ALWAYS_INLINE void Free(const UnitEntry& unit, void* p, NotInUse not_in_use) {
    const uint32_t at = unit.slab.class_offset.load(std::memory_order_relaxed);
    if (ABSL_PREDICT_FALSE(!IsSurelyInUse(unit.slab, at, p))) return not_in_use(p);
    FreeInUse(unit, at, p);
  }
  // Free's part after the block test: p is a block in use of the span
  // `unit` describes, whose class_offset is `at`.
  ABSL_ATTRIBUTE_ALWAYS_INLINE void FreeInUse(const UnitEntry& unit, uint32_t at, void* p) {
    const uint64_t key = FreeKey();
    Bin& b = BinAt(at);
    const uintptr_t owner =
        reinterpret_cast<uintptr_t>(unit.slab.owner.load(std::memory_order_relaxed));
    // An own block, while others' blocks are no share of any class's frees
    // (own_match_ is this cache): onto the bin; a push past the limit flushes.
    if (ABSL_PREDICT_TRUE(owner == own_match_)) {
      if (ABSL_PREDICT_FALSE(Push(b, p, key))) FlushBin(&b);
      return;
    }
    FreeMixed(unit, at, p, owner == reinterpret_cast<uintptr_t>(this));
  }
  // FreeInUse for another owner's block (every block, for the placeholder: it
  // owns no slab and its bins have no room), and for every block while
  // others' blocks are a share of some class's frees (own_match_).
  // Another owner's block stays here while the class keeps (an exchange,
  // or partners) and the bin runs low (KeepsForeignFast), else goes home
  // (FreeOthersBlock, which also takes the verdict); an own block goes onto
  // the bin as in FreeInUse. Own and others' blocks take one path, told
  // apart by masks, not by a branch.
  ABSL_ATTRIBUTE_ALWAYS_INLINE void FreeMixed(const UnitEntry& unit, uint32_t at, void* p,
                                              bool own) {
    Bin& b = BinAt(at);
    ForeignShare& f = ForeignAt(at);
    const uint32_t others = static_cast<uint32_t>(own) - 1;  // all ones for another owner's block
    if (ABSL_PREDICT_FALSE(!KeepsForeignFast(b, f, others))) return FreeMixedSlow(p, unit, own);
    // Another owner's block never takes the bin past its limit (its room was
    // above the floor).
    if (ABSL_PREDICT_FALSE(Push(b, p, FreeKey()))) FlushBin(&b);
  }
  // FreeMixed's slow path: another owner's block the bin does not keep, or
  // any block at the end of its class's window (an own block's free judges
  // the window, so that a thread whose frees are its own again soon takes
  // the own-block branch again).
  ABSL_ATTRIBUTE_NOINLINE void FreeMixedSlow(void* p, const UnitEntry& unit, bool own);
  // The same for a caller that has the slab p points into (slow paths,
  // tests): an aligned pointer handed out inside a block frees the block
  // (aligned_inside.h; tested first, and never for a block start, which
  // free's fast path does not test either); what is not a block in use is
  // reported (FreeUnusual).
  void Free(Slab* slab, void* p) {
    if (!slab->IsCarvedBlockStart(p)) {
      if (void* base = AlignedInsideBase(*slab, p, Marker::kTake)) p = base;
    }
    Free(RangeMap::UnitAliased(p), p, [this, slab](void* q) { FreeUnusual(slab, q); });
  }
  // A pointer into `slab` that free's block test refused and that is not an
  // aligned pointer handed out inside a block: freed if it is a block in use
  // after all (only its key byte matched the free key's), else reported (a
  // double free, an interior or never-allocated pointer).
  ABSL_ATTRIBUTE_NOINLINE void FreeUnusual(Slab* slab, void* p);

  // Every bin (and stash) goes back to its slabs, remote frees are drained and
  // slabs left with no live block are returned to the SuperSlab manager: at
  // thread exit, or later for a cache nobody adopted (core/thread_heap.h).
  void Drain();
  // The bytes all bins and stashes hold by their counts (BinBytes).
  uint64_t CachedBytes() const;

  // Frees this thread chained for other owners are pushed to them now.
  void FlushRemote();
  // Called by another thread for a cache whose owner has been idle (core: a
  // decay pass, a refill about to take new units): gives back the spans with
  // no block out but on their remote lists (taking those) or none at all,
  // unless the owner is working on its slabs (then nothing). Others' frees
  // into an idle owner's slabs would otherwise wait for its next refill of
  // each class: a thread that allocated a structure, handed it to workers
  // and waits for them (larson's main thread: 1.8 MiB of its blocks freed
  // by the workers) never refills again. Bins are not touched: only the
  // owner does. A look walks every partial slab of the cache; after one that
  // gave nothing back the next waits twice as long (from kIdleLookDelayMs
  // to kIdleLookMaxDelayMs, at `now_ms` and later), until one gives back or
  // the owner works again (Upkeep): a thread waiting with 2 GiB of 64 B
  // blocks, every other one freed, had its 32 k partial slabs walked every
  // 5 ms by the others' refills: 7 % of a working thread's time.
  static constexpr uint64_t kIdleLookDelayMs = 5;
  static constexpr uint64_t kIdleLookMaxDelayMs = 320;
  void ReleaseEmptiedSpansForIdleOwner(uint64_t now_ms);
  // Emptied one-block spans (L2.5 above 128 KiB) a cache keeps for its next
  // refills (KeepSpareSpan): at most kSpareSpans of them, kSpareUnits 64 KiB
  // units in all; a span up to kSpareSlackUnits longer than a one-block
  // class's serves it (TakeSpareSpan).
  // Every span that goes back instead is a trip through the SuperSlab
  // manager, the range map and the slab record, lines the other threads
  // write too: where two CPUs share no cache, large_2t went 0.876x -> 0.955x
  // mimalloc with 16 spans of 32 units and the Large ranges a thread keeps
  // (4 and 8 before; 32 and 64 held 3 MiB more of large_1t's peak for 1 %
  // more speed; docs/BENCHMARKS.md).
  static constexpr uint32_t kSpareSpans = 16;
  static constexpr uint32_t kSpareUnits = 32;
  static constexpr uint32_t kSpareSlackUnits = 4;
  // While a thread allocates L2.5 blocks at kBigBinPopsPerMs or more (judged
  // at upkeeps over kBigRateWindowMs at least, or at once when a window's
  // worth came in less; it stops below half that),
  // each L2.5 bin holds up to kBigBinBlocks, and all bins together about
  // HAKMEM_THREAD_CACHE_BYTES at upkeeps and at most twice it at an L2.5
  // bin's overflow (ShrinkBins). Fewer for the biggest classes (2 MiB worth
  // each) cost xthread with 64 - 256 KiB blocks 12 % and 15 % more peak.
  static constexpr uint32_t kBigBinBlocks = 16;
  static constexpr uint32_t kBigBinPopsPerMs = 200;
  static constexpr uint32_t kBigRateWindowMs = 10;
  // The owner's upkeep off the fast path (core/heap_upkeep.h): a bin flush
  // the learner asked for (RequestBinFlush), TrimQuietBins, ShrinkBins; and
  // the clock refills read (kRareRefillMs).
  void Upkeep(uint64_t now_ms, uint64_t decay_ms, uint64_t budget_bytes);
  // Decay of the bins (called by the owner, from Upkeep under its slab
  // lock): a class this cache has handed out no block of for `decay_ms`
  // gives its cached blocks back to their slabs, and its spans left empty
  // (the current one too) give their pages back at once. Looks at most every
  // quarter of `decay_ms`.
  void TrimQuietBins(uint64_t now_ms, uint64_t decay_ms);
  // The bins of one thread hold at most about `budget_bytes` (called by the
  // owner, from Upkeep under its slab lock): over it, the bins holding the
  // most bytes give half their blocks back until a quarter of the budget is
  // free again.
  void ShrinkBins(uint64_t budget_bytes);
  // Called by a freeing thread: `slab`, parked, of class c, got a remote free.
  // The cache has entries for this many slabs between two of its refills.
  void NoteRevived(Slab* slab, int c);
  static constexpr uint32_t kRevivedEntries = 32;
  // A refill that took fewer blocks than this from a slab revived just now
  // goes on to the next ones revived (up to kGatherSlabs more).
  static constexpr uint32_t kGatherBlocks = 8;

  const CacheCounters& counters() const { return counters_; }
  // Whether every free takes FreeMixed (others' blocks are a share of some
  // class's frees), not free's own-block branch. For the owner (and tests).
  bool FreesMixOwners() const { return own_match_ != OwnMatch(0); }
  // Blocks of class c handed out (hits and misses alike), as of this cache's
  // last slow path for the class (readable from any thread).
  uint64_t allocs(int c) const { return allocs_[c].Read(); }
  // Brings allocs() up to date (the owner only: before reading its own).
  void PublishAllocs() {
    for (int c = 0; c < kNumClasses; ++c) PublishAllocs(c);
  }

 private:
  // A bin is two words, four to a cache line. `word` packs what malloc and
  // free update, so that free updates it with one instruction and malloc
  // with two to the same line (CountPop):
  //  - low 32 bits: room, how many more blocks the bin takes before a free
  //    flushes it (limit - count), biased by 2^31 so that it never carries
  //    or borrows into the high half; no room (<= 0) sends frees to the slow
  //    path;
  //  - high 32 bits: blocks handed out, wrapping (allocs_ keeps the total).
  // The count behind the room is exact for blocks the owner moved itself and
  // an estimate for a chain of remote frees taken whole (TakeFreed: its
  // count, clamped to half the limit); it steers flushing and the bins' byte
  // budget, and every walk of a bin follows the list, not the count.
  struct Bin {
    static constexpr uint64_t kRoomBias = uint64_t{1} << 31;
    static constexpr uint64_t kOnePop = (uint64_t{1} << 32) | 1;
    void* head;
    // `room` is the low half of `word` (x86 is little-endian), for free's
    // push to take one of room and test the sign of the result with one
    // instruction (Push).
    union {
      uint64_t word;
      uint32_t room;
      uint32_t halves[2];  // room, blocks handed out
    };

    // One more block handed out, one more of room: an add to each half, not
    // one add of kOnePop to the word. Free's push writes the low half alone,
    // and a load of the whole word right after that store is not forwarded
    // from it: the pop of a block freed just before (a temporary object)
    // waited for the store to reach the cache (16 - 64 B allocated and freed
    // in turn: 6.7 -> 6.0 ns per pair on AMD EPYC, tcmalloc 6.0). In asm,
    // since the compiler merges two adjacent adds into one of both halves.
    ABSL_ATTRIBUTE_ALWAYS_INLINE void CountPop() {
#if defined(__x86_64__)
      asm("addl $1, %0\n\taddl $1, %1" : "+m"(halves[0]), "+m"(halves[1]));
#else
      word += kOnePop;
#endif
    }

    // Room above `floor`, a biased room (ForeignShare::room_floor).
    bool RoomAbove(uint32_t floor) const { return static_cast<uint32_t>(word) > floor; }
    int32_t Room() const { return static_cast<int32_t>(static_cast<uint32_t>(word) - kRoomBias); }
    void SetRoom(int64_t room) {
      word = (word & ~uint64_t{0xffffffff}) | static_cast<uint32_t>(room + kRoomBias);
    }
    uint32_t Pops() const { return static_cast<uint32_t>(word >> 32); }
  };
  static_assert(sizeof(Bin) == kDigestClassScale, "a digest's class_offset indexes the bins");

  // Puts p, a block in use, on bin b; true if that took the bin past its
  // limit (the caller flushes). One less of room never borrows from the
  // high half (the room is biased by 2^31), and the room is below 0 exactly
  // when its biased value has bit 31 clear: free's push tests the flags of
  // its own decrement, where a test of the room before the push took one
  // instruction more.
  ABSL_ATTRIBUTE_ALWAYS_INLINE static bool Push(Bin& b, void* p, uint64_t key) {
    KeyWord(p) = key;
    *static_cast<void**>(p) = b.head;
    b.head = p;
    return static_cast<int32_t>(--b.room) >= 0;
  }

  // Blocks in bin c by its room (exact or estimated, see Bin).
  int32_t Count(int c) const { return limit_[c] - bins_[c].Room(); }
  // Every change of the count that is not a push or a pop (blocks a slow
  // path moved in or out) comes here, and is summed in moved_
  // (OwnFreesThisWindow).
  void SetCount(int c, int64_t n) {
    moved_[c] += static_cast<uint32_t>(n - Count(c));
    bins_[c].SetRoom(limit_[c] - n);
  }
  // The bytes bin c holds by its count (0 for an empty bin).
  uint64_t BinBytes(int c) const;
  // A new limit for bin c, its count unchanged.
  void SetLimit(int c, int32_t limit);
  // How many blocks the next refill of class c moves (next_batch_, halved
  // for a class refilled rarely: kRareRefillMs, then *rare is true).
  uint32_t RefillWant(int c, bool* rare) const;
  // After a refill of bin c that asked for `want` blocks (RefillWant) and
  // `carved` or not: the carve run, the refill's time, the next batch and the
  // limit (GrowAfterRefill, or only the limit for a rare class), the counter.
  void FinishRefill(int c, uint32_t want, bool rare, bool carved);
  // After a refill (or a lend) that moved up to `want` blocks into bin c: the
  // next moves twice as many, up to the batch, and the limit grows back.
  void GrowAfterRefill(int c, uint32_t want);
  // Bin c's limit doubles back toward FullLimit (the class is in demand).
  void GrowLimit(int c);
  // After a refill that followed draining flushes (drained_): bin c's limit
  // grows by twice what they gave back, up to kTurnBytes of blocks (or a
  // quarter of the thread's budget, if less), if the turn fits in that.
  void GrowForTurns(int c);
  // Class c may borrow again, its windows start afresh (the class went
  // quiet, or a new thread adopts the cache).
  void ForgetBorrowing(int c);
  // Bin c's limit back to FullLimit, if it had grown for turns: the class
  // went quiet, the bins went over the budget, or a new thread adopts them.
  void UndoTurns(int c);
  // Brings allocs_[c] up to date with the bin's wrapping count.
  void PublishAllocs(int c);

  // Flushes bin c when a free finds it full: the newest half stays, or
  // nothing if the class is only being freed (its limit then halves, down
  // to DrainingLimit(c), until refills show demand again).
  ABSL_ATTRIBUTE_NOINLINE void Flush(int c);
  // Flush for free's fast path, which has the bin's address at hand: passing
  // the class cost that path a register copy on every free.
  ABSL_ATTRIBUTE_NOINLINE void FlushBin(Bin* b) { Flush(static_cast<int>(b - bins_)); }
  // Bin c's limit when the class is in demand.
  int32_t FullLimit(int c) const;
  // The least a draining bin's limit falls to: as many blocks as make
  // kDrainingBytes, but at least 4 and at most 64. Each flush of a draining
  // bin costs some 200 instructions (the calls, the lock, a slab update per
  // run of blocks), paid once per limit's worth of frees: at 4 tiny blocks
  // every fifth free (glibc_simple, 10,000 blocks freed in a row: 2 % of all
  // its instructions), at 16 still 12 instructions per free of a 16 or 64 B
  // block (64: 116 -> 106 instructions per malloc and free there). A bin of
  // big blocks keeps 4, since each block kept pins its span until the class
  // decays; the 4 KiB bound keeps what a drained bin holds small.
  static constexpr int32_t kDrainingLimit = 4;
  static constexpr int32_t kDrainingLimitTiny = 64;
  static constexpr size_t kDrainingBytes = 4096;
  static int32_t DrainingLimit(int c) {
    const size_t fit = kDrainingBytes / ClassSize(c);
    return fit >= kDrainingLimitTiny ? kDrainingLimitTiny
                                     : std::max<int32_t>(kDrainingLimit, static_cast<int32_t>(fit));
  }
  // A bin keeps another owner's block only while the class is in an
  // exchange (JudgeExchange) or the owner is a partner, and the bin holds
  // fewer than limit / kKeepForeignDivisor blocks (FreeForeign).
  static constexpr int32_t kKeepForeignDivisor = 4;
  // Whether class c is in an exchange (ForeignShare::keep), judged at the end
  // of each window of kForeignWindow allocations of the class, on the
  // others' blocks freed into it meanwhile: threads that live on each other's blocks (producer and
  // consumer in turns: xthread) reuse them while they are hot, where sending
  // them home costs each block two more trips between the cores (blocks of
  // one size only: 0.55x). A thread that frees others' blocks now and then
  // among its own (rptest: one in four) sends them home: kept, they stay
  // live in the keeper for long while their owners carve to replace them
  // (rptest_2t peak RSS 14.0 MiB sending all home, 15.3-16.9 keeping some,
  // 19-29 keeping all). The two look alike once a thread keeps: a kept block
  // the keeper frees again counts as another's, and both settle near half.
  // So the verdict is taken while not keeping, when they differ, over
  // windows of kForeignWindow allocations of the class: a class starts
  // keeping after kEnterStreak windows in a row in which others' blocks
  // freed came to kEnterEighths / 8 of its allocations and its own blocks
  // freed into the bin to no more than kEnterOwnEighths / 8 (xthread: all
  // and none; rptest: a quarter and three quarters), and stops after a
  // window in which others' fell below 1 / kLeaveDivisor of them. Others'
  // share alone let rptest_2t in whenever one thread ran several times
  // faster than the other for some milliseconds (the VM's doing): a keep
  // then fed itself (kept blocks freed again count as others'), and the
  // peak grew 14 -> 15-18 MiB in 18 runs of 74. Own frees do not grow
  // with the partner's speed. The same verdict keeps a class as partners
  // (below the same floor) after kEnterStreak windows in a row as partners,
  // and stops it after one that is not. A class keeping as partners is
  // still judged for an exchange, with the blocks it kept (others' frees
  // less those sent home: foreign_sent_) taken out of its own frees.
  // `pending`: the free being judged, if it is another owner's block (1:
  // counted in the window's frees, neither kept nor sent home yet).
  void JudgeExchange(int c, uint32_t pending);
  // Whether the owner whose block class c's slow path freed last last freed
  // one of this cache's blocks of c (partners): read at a window's end,
  // racing that thread's writes (a stale answer costs the window).
  bool IsPartnerOf(int c) const;
  // A refill of class c whose window is overdue by a whole window (no free
  // ended it: JudgeExchange runs at frees of another's block, and while the
  // thread mixes at its own frees too) clears foreign_from_[c] and its bit
  // in mixing_classes_: threads that stopped trading blocks are no
  // partners. A window judged with no free of another's block does the same
  // (JudgeExchange).
  void ForgetQuietPartner(int c);
  // Clears foreign_from_[c] (written only if set: a partner's line stays
  // shared).
  void ForgetPartner(int c);
  // FreeForeign for a free that ends its class's window: the verdict, then
  // the same as any other. Out of line and called last, so that FreeForeign's
  // every other free calls nothing that returns to it (the verdict's call
  // in its middle made it save six registers every time).
  ABSL_ATTRIBUTE_NOINLINE void FreeForeignAtWindowEnd(int c, Slab* slab, void* p);
  // p, another owner's block freed into class c, stays in bin c while the
  // class keeps (an exchange, or partners) and the bin is low, else goes
  // home.
  void KeepOrSendHome(int c, Slab* slab, void* p);
  // Own blocks freed into bin c in the current window: its pushes (the
  // room's change with the pops and the slow paths' moves taken out),
  // which are all own blocks while the class is not keeping.
  int64_t OwnFreesThisWindow(int c) const;
  // Bin c's room_floor: below a quarter of its limit in an exchange or as
  // partners, else kNoRoomFloor (no room is above it).
  void SetRoomFloor(int c);
  static constexpr uint32_t kForeignWindow = 256;  // allocations per verdict
  static constexpr uint32_t kEnterEighths = 7;
  static constexpr uint32_t kEnterOwnEighths = 1;
  static constexpr uint8_t kEnterStreak = 4;
  static constexpr uint32_t kLeaveDivisor = 4;
  static constexpr uint32_t kNoRoomFloor = UINT32_MAX;
  // Two threads that free each other's blocks of a class (each the other's
  // latest source of others' blocks of it: rptest_2t, a quarter of the
  // frees) are partners, and a partner's block freed into the class stays
  // too, while the bin holds fewer than limit / kKeepForeignDivisor blocks.
  // Sent home, such a block is cold where it is allocated again: its lines
  // are in the cache of the partner, which has just read them (rptest_2t
  // ran 0.83x tcmalloc, whose freeing thread reuses them; under cachegrind,
  // which runs threads one at a time, hakmem missed less than tcmalloc).
  // Partners and not a ring: in rptest_4t each thread frees the blocks of
  // the one before it and its own go to the one after, and keeping there
  // mixed four threads' blocks in every slab (peak 25 -> 33 MiB, 0.87x).
  // The floor bounds what the partner's slabs carve anew while their blocks
  // wait in this bin (rptest_2t, AMD EPYC Zen 5, 12 interleaved rounds of
  // 2 s, against tcmalloc: a sixteenth 0.96x when the VM's two CPUs share a
  // cache and 0.95x when they do not, a quarter 1.00x and 0.955x; peak RSS
  // at 40 M ops 16.2 -> 17.0 MiB, glibc's 18.7, jemalloc's 26.6, mimalloc's
  // 15.6; with no floor 20.9). Partners also need others' blocks freed to
  // come to 1 / kPartnerShareDivisor of the window's allocations or more.
  static constexpr uint32_t kPartnerShareDivisor = 16;
  enum class Keep : uint8_t { kNo, kExchange, kPartners };
  struct ForeignShare {
    uint32_t frees;          // others' blocks freed into class c, this window
    uint32_t pops_at_start;  // Bin::Pops() when the window began
    // The biased room (Bin::word) a bin keeps others' blocks above: its
    // count below limit / kKeepForeignDivisor in an exchange or as
    // partners, else never.
    uint32_t room_floor;
    Keep keep;
    uint8_t streak;          // windows in a row at an exchange's entry share
    uint8_t partner_streak;  // windows in a row as partners
  };
  static_assert(sizeof(ForeignShare) == kDigestClassScale, "and these");
  // The bin and the ForeignShare at byte offset `offset` (BinOffset, a
  // digest's class_offset): the fast paths index them without scaling.
  Bin& BinAt(size_t offset) {
    return *reinterpret_cast<Bin*>(reinterpret_cast<char*>(bins_) + offset);
  }
  ForeignShare& ForeignAt(size_t offset) {
    return *reinterpret_cast<ForeignShare*>(reinterpret_cast<char*>(foreign_) + offset);
  }
  // Where bin c's count stood when its window began, and the blocks slow
  // paths had moved into it (out: negative) by then (OwnFreesThisWindow).
  struct WindowStart {
    int32_t count;
    uint32_t moved;
  };
  // FreeForeign on free's fast path, for a free that needs no verdict: the
  // class keeps, the bin is low and the window is not over (counted);
  // false sends the free to the slow path, which counts it and judges.
  // Keeping there, with no call, is what an exchange's frees cost most:
  // half of xthread's frees are of the partner's blocks, and the call, the
  // digest read again and the limit's quarter worked out were 45
  // instructions more than an own block's free. With `others` 0 (an own
  // block) the floor is 0, which every room is above: true unless the
  // window is over, nothing counted.
  ABSL_ATTRIBUTE_ALWAYS_INLINE static bool KeepsForeignFast(const Bin& b, ForeignShare& f,
                                                            uint32_t others) {
    if (!b.RoomAbove(f.room_floor & others) || b.Pops() - f.pops_at_start >= kForeignWindow) {
      return false;
    }
    f.frees -= others;  // + 1 for another owner's block
    return true;
  }
  // Gives bin c's blocks back to their slabs but the newest `keep`, and its
  // stash.
  void TrimBin(int c, int32_t keep);
  // Cuts bin c after its newest `keep` blocks (none: all go) and returns the
  // rest (nullptr if none), its count (an estimate where the bin's is; at
  // least 1 for a rest) in *rest_count.
  void* SplitBin(int c, int32_t keep, int32_t* rest_count);
  // The older half of a full bin, put aside whole by Flush rather than
  // returned to its slabs, for the class's next refill to take back whole
  // (TakeStash): a class that is freed and allocated in turns by more than
  // a bin's worth (espresso's covers, a structure freed and rebuilt) moved
  // every such half to the slabs and back, a walk over its blocks each way.
  // At most one per class, of at most kStashMaxBytes by the bin's count (an
  // estimate where the bin's is); counted in the bin's bytes (ShrinkBins) and
  // given back with the bin (TrimBin). A Tiny class's stash also gathers the
  // ring's blocks of the class (TakeRing) beyond its bin's limit, or taken
  // by another class's refill, up to the bin's limit; the class's next
  // refill that finds none of its blocks in the ring takes it. A one-block
  // class has none of these:
  // its stash is what its refills have not yet taken of its inbox
  // (TakeInboxShare).
  struct Stash {
    void* head;
    int32_t count;
  };
  static constexpr uint64_t kStashMaxBytes = 64 << 10;
  void ReturnStash(int c);
  // Moves class c's stash into its bin, which is empty; how many blocks.
  uint32_t TakeStash(int c);
  // Class c (one-block spans) refills from what others freed: up to `want` blocks of its
  // stash, which takes the whole inbox when empty; how many blocks.
  uint32_t TakeInboxShare(int c, uint32_t want);
  // Empties bin c of a class that went quiet and releases its spans left with
  // no live block, decommitting their pages (releasing_quiet_).
  void DrainQuietClass(int c);
  // Takes the remote frees of class c's partial slabs (with kEmptiedOnly,
  // only of those whose every block out is on the list) after moving revived
  // full ones back among them, and releases those left with no live block.
  // How many it released.
  enum class RemoteDrain : bool { kAll, kEmptiedOnly };
  uint32_t ReleaseEmptySlabs(int c, RemoteDrain drain = RemoteDrain::kAll);
  // Honours a RequestBinFlush this cache has not seen yet.
  void FlushRequestedBins(int refilling);
  // Free's slow path for a carved block start in use of another owner's slab
  // (any block freed through the placeholder): kept in an exchange or as
  // partners while the bin runs low, else sent home; its owner noted for
  // the partners' test (foreign_from_). It reads p's unit entry, which the fast path
  // hands over as it found it (in the arena's window or, without an arena,
  // the two-level map), and nothing of the Slab record unless the block goes
  // home: a thread living on its partner's blocks keeps most of them, and
  // each load of the partner's Slab line was a miss on a line the partner
  // writes. No more arguments than the fast path has in registers already:
  // more made free save registers on every call (five instructions per free).
  ABSL_ATTRIBUTE_NOINLINE void FreeOthersBlock(void* p, const UnitEntry& unit);
  void FreeForeign(int c, Slab* slab, void* p);
  // The placeholder's: to the thread's own cache if core routes it there,
  // else home at once.
  void FreeFromPlaceholder(Slab* slab, void* p);
  // Chains p, a block of `slab` (whose blocks are `block_size` bytes), for
  // its owner's remote list (pending_), pushing when due. The size comes from
  // the caller (a free has it from the class), so that a block sent home reads
  // nothing of the Slab's first line, which its owner writes as it refills:
  // xmalloc_4t 1.04x, larson_4t 1.04x (paired, 7 rounds).
  void QueueRemote(Slab* slab, uint32_t block_size, void* p);
  // A chain is pushed at kRemoteBatch blocks or kRemoteBatchBytes, whichever
  // comes first: big blocks held back from their owner make it carve more.
  static constexpr uint32_t kRemoteBatch = 32;             // blocks per chained remote push
  static constexpr uint32_t kRemoteBatchBytes = 8 << 10;  // or this many bytes
  static constexpr uint32_t kPendingSlots = 32;            // foreign slabs chained at once
  static constexpr uint32_t kPendingMaxBytes = 64 << 10;  // then everything is pushed

  // Move up to `want` blocks of `slab` to bin c and return how many: blocks
  // freed back to it (its local list, then its remote list), or never-used
  // ones carved from its end.
  uint32_t TakeFreed(Slab* slab, int c, uint32_t want);
  uint32_t Carve(Slab* slab, int c, uint32_t want);
  // TakeFreed's part that takes from the slab's local free list (without
  // counting them in the bin or the slab: the caller does).
  uint32_t TakeLocal(Slab* slab, int c, uint32_t want);
  // Returns a chain of blocks to their slabs (owner side), each run of one
  // slab's blocks at once, releasing slabs that empty; others' blocks go home.
  void ReturnToSlabs(void* chain);
  enum class Idle : bool { kOrNew, kOnly };
  Slab* NewSlab(int c, Idle idle = Idle::kOrNew);
  // Up to `want` new spans of class c's length into `spans` (units already
  // mapped, others' idle spans reclaimed, then new memory); how many.
  uint32_t AcquireNewSpans(int c, Slab** spans, uint32_t want);
  // A span of class c laid out at colour 0 (its blocks start at multiples of
  // their size from the span's first byte), taken in as the current slab:
  // aligned requests' blocks (AllocColourZero). A span NewSlab reuses (idle
  // or spare) laid out again, else a new one; nullptr if none is to be had.
  Slab* NewColourZeroSlab(int c);
  // A colour-0 span among the first kColourZeroLooks partial slabs of class
  // c with a block to take (freed back, remote or never carved), or nullptr.
  Slab* ColourZeroSlabWithBlocks(int c) const;
  // A refill of bin c from a colour-0 span of class c (AllocColourZero): the
  // last one, else another with blocks, else (NewSpan::kYes) a new one;
  // false if none had any. Takes the slab lock.
  enum class NewSpan : bool { kNo, kYes };
  bool TakeColourZeroBlocks(int c, NewSpan new_span);
  static constexpr uint32_t kColourZeroLooks = 16;
  // Spans just laid out (or reused) for class c become this cache's partial
  // slabs, the first the current one.
  void TakeInSpans(int c, Slab** spans, uint32_t n);
  void Park(Slab* slab);
  void Unpark(Slab* slab);
  // Moves the slabs NoteRevived named back to the partial lists (any class),
  // and with an overflow of class c, every revived one of class c; how many
  // of class c (now at the head of its partial list).
  uint32_t ReviveParked(int c);
  bool UnparkIfRevived(Slab* slab);
  void MaybeRelease(Slab* slab);
  void Release(Slab* slab);
  // While L2.5 blocks are at least 1 / kSpareShareDivisor of a thread's
  // allocations (JudgeBigBlocks, at each upkeep), its emptied one-block
  // spans stay with it for its next refills whose class (any tier's)
  // has a span as long, laid out again for that class (the newest first): every
  // such free and malloc was a release to the SuperSlab manager and a
  // best-fit search there, under its lock. The oldest go back beyond
  // kSpareSpans or kSpareUnits; all go back when the share falls, on Drain,
  // at an idle look, and after the decay time unused. By share of
  // allocations, not refills: alloc_test's big buffers (1 request in 1,000,
  // in 24 classes) are most of its refills, and spans kept there raised its
  // peak 4 - 15 %.
  static constexpr uint32_t kSpareShareDivisor = 8;
  void JudgeBigBlocks();
  // Every L2.5 malloc and free of a thread was a slow path (its lock, a span
  // laid out or given back; the SuperSlab manager's lock and search past
  // the spare spans): some 0.3 - 0.5 us, a tenth of the thread's time and
  // more at kBigBinPopsPerMs (larson with 32 - 256 KiB blocks 1.7x, xthread
  // 64 - 256 KiB 1.7x at a fifth less peak). By rate, not share: below it
  // the pages the program touches in such blocks dwarf the slow path, and
  // bins kept there only held memory (large_1t, 60 per ms: +12 % peak).
  void KeepBigBlocksInBins(bool keep);
  void KeepSpareSpan(Slab* slab);
  // The shortest spare span of `units` to `units` + `slack` (kSpareSlackUnits
  // for a one-block class, whose block uses what it needs of it: the rest of a
  // smaller class's slab would hold its resident pages as long as any block
  // lives), or nullptr.
  Slab* TakeSpareSpan(uint32_t units, uint32_t slack);
  void ReleaseSpareSpans();
  static void DrainRemote(Slab* slab);
  // Puts first..last, n blocks of `slab` linked through their first words, on
  // the slab's local free list: free and known to the owner, no longer used.
  static void PutOnLocalList(Slab* slab, void* first, void* last, uint32_t n);

  Bin bins_[kNumClasses] = {};     // zero: no block, no room (the placeholder's)
  // The owner free's own-block branch takes (FreeInUse): this cache, or one
  // past it (no owner is) while others' blocks are a share of some class's
  // frees (mixing_classes_), so that every free then takes FreeMixed; 1 in a
  // cache before Init and in the placeholders, which own no slab: not 0, the
  // owner of a released span (a late free there would push onto the
  // placeholder's bin), which keeps the placeholders out of .bss. Compared
  // with the digest's owner as is: one instruction fewer than `owner - this`
  // compared with an offset, as this was until 2026-12-08. Where two
  // threads trade blocks, each bin holds both owners' blocks in no order,
  // and a branch on the owner mispredicts on about every other free
  // (xthread: 0.58 per free under cachegrind's model; rptest_2t: an owner
  // change on 33 % of its frees). On one CPU, where only the instructions
  // count, FreeMixed made xthread_2t 1.14x and rptest_2t 1.14x as fast
  // (AMD EPYC, Zen 5). A thread whose frees are its own (a single-threaded
  // program) keeps the branch: FreeMixed for every free cost glibc_simple
  // 10 %, this test of a word in the line after the bins nothing measurable.
  uintptr_t own_match_ = 1;
  // own_match_ for the mixing classes `classes` (Init, SetMixingClasses).
  uintptr_t OwnMatch(uint64_t classes) const {
    return reinterpret_cast<uintptr_t>(this) + (classes != 0 ? 1 : 0);
  }
  // Bit c: others' blocks came to 1 / kMixedShareDivisor of class c's
  // allocations or more in its last window (JudgeExchange, which also clears
  // it); cleared too by a refill a window after the class's last free of
  // another's block (ForgetQuietPartner) and when the class goes quiet
  // (TrimQuietBins). A thread that frees others' blocks of classes it does
  // not allocate ends no window of them and does not mix.
  uint64_t mixing_classes_ = 0;
  static constexpr uint32_t kMixedShareDivisor = 16;
  void NoteMixing(int c, bool mixing);
  // mixing_classes_ and, in step with it, own_match_.
  void SetMixingClasses(uint64_t classes);
  // Held by the owner while it works on its slabs and their lists (FillBin,
  // Flush, Upkeep, Drain: slow paths only; the fast paths touch bins alone),
  // and by another thread releasing an idle owner's emptied spans.
  sync::SpinLock slab_lock_;
  int32_t limit_[kNumClasses] = {};  // a bin flushes half above this many blocks
  uint32_t pops_at_flush_[kNumClasses] = {};  // Bin::Pops() at the class's last flush
  // Blocks the class's draining flushes gave back since its last refill.
  uint32_t drained_[kNumClasses] = {};
  // Class c's borrowing in its current window (MayBorrowFor): the blocks
  // lent to it (Borrow), those of them that did not go through bin c (the
  // one each borrow returns), Bin::Pops() when the window began, and
  // whether c carves rather than borrows.
  struct BorrowWindow {
    uint32_t lent;
    uint32_t direct;
    uint32_t pops_at_start;
    uint8_t streak;  // windows in a row in which more than two thirds were lent
    bool own_only;
  };
  BorrowWindow borrow_window_[kNumClasses] = {};
  OwnerCounter allocs_[kNumClasses] = {};
  uint32_t pops_published_[kNumClasses] = {};
  SlabList partial_[kNumClasses] = {};   // slabs that may have free blocks; head first
  SlabList full_[kNumClasses] = {};    // parked slabs
  // Each class's colour-0 span for aligned requests (AllocColourZero), or
  // nullptr; cleared when the span leaves the cache (Release).
  Slab* colour_zero_[kNumClasses] = {};
  uint32_t batch_[kNumClasses] = {};       // the most a refill moves
  uint32_t next_batch_[kNumClasses] = {};  // what the next refill moves (slow start)
  // A refill of a class that comes kRareRefillMs or more after its last one
  // (on the clock of the thread's upkeep, every 16th refill) carves or walks
  // half of what was due (down to one block), and so does the next: a class
  // the program allocates rarely carves a block or two, not a batch
  // (mstress's 1 in 10,000 blocks of 8-32 KB: 8 of each class in every
  // thread's bins and on its slabs' remote lists, 2.4 MiB), while its
  // refills, rare as they are, cost nothing that counts. Refills that come
  // quickly again double it back. A slab's whole local list or remote chain
  // still moves at once (TakeFreed).
  static constexpr uint32_t kRareRefillMs = 50;
  uint32_t last_refill_ms_[kNumClasses] = {};  // clock_ms_ then; 0: none yet
  // A refill carves at most a page's worth of never-used blocks (at least
  // one), one page more for each refill before it that carved too, up to
  // what the refill wants: carved blocks are written (link and free key), so
  // each one carved ahead of need is resident memory no other class can use
  // until its whole span is free. A whole batch carved whenever a class's
  // freed blocks ran out was 4 MiB of rptest_4t's 33 (Carve touches them;
  // mimalloc extends a page's free list by a few KiB at a time likewise). A
  // program building a structure still gets full batches after a few refills.
  uint32_t CarveWant(int c, uint32_t want) const;
  static constexpr size_t kCarveBytes = 4096;
  static constexpr uint8_t kMaxCarveRun = 255;
  uint8_t carve_run_[kNumClasses] = {};  // refills in a row that carved
  uint32_t clock_ms_ = 0;  // the time at the last Upkeep (every 16th refill)
  // Bit c: some parked slab of class c received a remote free (set by freeing
  // threads, cleared by the owner before it looks).
  std::atomic<uint64_t> revived_mask_{0};
  // Which slabs: a freeing thread puts the slab it revived in a free entry
  // (pointers only, no link in the slab: an entry may outlive the slab's time
  // with this cache, and the owner checks it); when it finds none it sets the
  // class's overflow bit, and the owner's next look walks that class's full
  // list. Walking it on every revival made a thread that holds 64 MiB of
  // 64 B blocks, which another thread frees one by one, 17x slower than
  // mimalloc (1 GiB: 120x).
  static constexpr uint32_t kRevivedProbes = 8;
  // FillBin's gathering from further revived slabs (thread_cache_refill.cc).
  static constexpr uint32_t kGatherSlabs = 7;
  std::atomic<Slab*> revived_[kRevivedEntries] = {};
  std::atomic<uint64_t> revived_overflow_mask_{0};
  bool initialized_ = false;  // false only in the placeholder
  uint32_t shard_ = 0;        // sequence number: picks a span source shard (span_source.h)
  uint64_t flush_epoch_seen_ = 0;  // last RequestBinFlush honoured
  uint64_t next_bin_trim_ms_ = 0;  // TrimQuietBins
  uint64_t next_idle_look_ms_ = 0;  // ReleaseEmptiedSpansForIdleOwner
  uint64_t idle_look_delay_ms_ = 0;
  uint64_t allocs_at_trim_[kNumClasses] = {};
  uint64_t active_ms_[kNumClasses] = {};  // last look that saw class c allocated
  bool releasing_quiet_ = false;  // Release decommits (DrainQuietClass)
  // Blocks being chained per foreign slab (QueueRemote), in a small
  // direct-mapped table: frees into one slab are pushed together even when
  // frees into other slabs come in between.
  struct PendingChain {
    Slab* slab;
    void* head;
    void* tail;
    uint32_t count;
    uint32_t block_size;
  };
  // Pushes one pending chain and empties its slot.
  void PushPending(PendingChain& chain);
  // QueueRemote's every case, for one that pushes: p goes on `chain` (its
  // slab's slot), which is pushed when due, and everything pending when
  // that is too much.
  ABSL_ATTRIBUTE_NOINLINE void QueueRemoteAndPush(PendingChain& chain, Slab* slab,
                                                  uint32_t block_size, void* p);
  PendingChain pending_[kPendingSlots] = {};
  // Frees scattered over another owner's slabs (a block here, a block
  // there: a thread freeing another's blocks at random over a big heap) are
  // chained per owner and class instead, and pushed onto the owner's inbox
  // (OwnerInbox) by kRemoteBatch blocks or kRemoteBatchBytes: per slab, each
  // was a push onto a cold slab, most reviving a parked one, and then a
  // refill of the owner for a block or two (deferred_free, 64 B blocks:
  // 3.4 -> 7.4 M ops/s; 16 B - 4 KiB: 1.95 -> 4.47). Only while scattering:
  // at least (kScatterDivisor - 1) / kScatterDivisor of the pending chains
  // evicted in a window of kScatterWindow held fewer than kShortChain
  // blocks; where chains grow longer (producer and consumer: xmalloc, whose
  // consumers share an owner's inbox line where they each had slabs of
  // their own) the slabs' lists stay. Blocks of one-block spans always
  // go this way (QueueRemoteAndPush).
  struct ScatteredChain {
    ThreadCache* owner;
    void* head;
    void* tail;
    uint32_t count;
    uint32_t size_class;
  };
  static constexpr uint32_t kShortChain = 4;
  static constexpr uint32_t kScatterWindow = 256;
  static constexpr uint32_t kScatterDivisor = 8;
  static constexpr uint32_t kScatteredSlots = 8;
  static size_t ScatteredIndex(const ThreadCache* owner, uint32_t c) {
    return (((reinterpret_cast<uintptr_t>(owner) >> 6) + c) * 0x9E3779B97F4A7C15ull) >> 61;
  }
  static_assert(kScatteredSlots == 8, "ScatteredIndex picks one of 8");
  // Sends an evicted or flushed pending chain home: while scattering, a
  // short one by its owner's inbox (Scatter), else onto its slab. (A block of a
  // one-block span is never pending: one is due at once, QueueRemoteAndPush.)
  void SendPending(PendingChain& chain);
  // Moves a pending chain onto its owner's and class's scattered chain,
  // pushing that when due.
  void Scatter(PendingChain& chain);
  void PushScattered(ScatteredChain& sc);
  // Gives class c's inbox (and for one-block spans, its stash: the inbox's
  // rest) back to the slabs, and the ring's every block (owner side: the slab
  // lock held).
  void ReturnInbox(int c);
  // The ring's every block back to its slab (the slab lock held).
  void ReturnRing();
  // Whether class c's blocks sent home go by the owner's ring (SendToRing).
  bool GoesByRing(int c) const;
  // The owner of p (another's block) whose ring it may go to: nullptr if it
  // has none, or while its ring has not been taken from since it refused.
  ThreadCache* RingOwnerOf(void* p);
  // p, a block of class c (GoesByRing) of `owner`'s slab, its free key set:
  // for the owner's ring (by the outbox: FlushRingOutbox, which sends what a
  // full or closed ring refuses the chained way); false, and p goes the
  // chained way, if it continues a Mid run of one slab.
  bool SendToRing(Slab* slab, int c, void* p, ThreadCache* owner);
  // The slab each Mid class's last block sent to a ring belonged to
  // (SendToRing's run test).
  const Slab* last_sent_slab_[kNumClasses] = {};
  // Blocks SendToRing took for one owner's ring, pushed together with one
  // claim of their places (FlushRingOutbox): when kRingBatch are there, when
  // a block for another owner comes, and wherever the pending chains go
  // (FlushRemote). A claim per block was a line's trip to the ring's tail
  // per free (xmalloc with 4 KiB blocks: a seventh of the samples).
  void FlushRingOutbox();
  struct RingOutbox {
    ThreadCache* owner;
    uint32_t count;
    uint32_t bytes;  // in pending_bytes_ too
    uintptr_t words[kRingBatch];
    Slab* slabs[kRingBatch];  // for the chained way if the ring refuses them
  };
  RingOutbox ring_outbox_ = {};
  // The owner whose ring last refused a batch, its Taken() before that push
  // and whether it was open (RingOwnerOf).
  const ThreadCache* ring_refused_by_ = nullptr;
  uint64_t ring_refused_at_ = 0;
  bool ring_refused_open_ = false;
  // Empties the ring (the slab lock held, FillBin): a Mid block into its
  // class's bin while the bin is below its limit, a Tiny one into bin c
  // below its limit or onto its class's stash, the rest onto their slabs.
  // How many went into bin c.
  uint32_t TakeRing(int c);
  ScatteredChain scattered_[kScatteredSlots] = {};
  uint32_t evictions_ = 0;        // pending chains evicted, this window
  uint32_t short_evictions_ = 0;  // of them shorter than kShortChain
  bool scattering_ = false;
  // Others' frees scattered over this cache's slabs (and every one of a
  // one-block span): taken by FillBin after the slabs' own (one-block spans:
  // before, TakeInboxShare),
  // and given back to the slabs by TrimBin and
  // ReleaseEmptySlabs (so by decay, Drain and the looks at an idle owner).
  OwnerInbox inbox_;
  Slab* spare_[kSpareSpans] = {};  // KeepSpareSpan, oldest first (under the slab lock)
  uint32_t spare_count_ = 0;
  uint32_t spare_units_ = 0;
  uint32_t spare_span_ms_ = 0;      // clock_ms_ when one was last kept
  bool wants_spare_spans_ = false;  // JudgeBigBlocks
  bool big_bins_ = false;           // KeepBigBlocksInBins
  uint32_t big_rate_ms_ = 0;        // clock_ms_ at the last judgement of the rate
  uint32_t l25_pops_at_rate_ = 0;   // L2.5 classes' Pops(), summed, then
  uint32_t pops_at_judge_ = 0;      // the bins' Pops(), summed, at the last judgement
  uint32_t l25_pops_at_judge_ = 0;  // the same over L2.5 classes
  uint32_t pending_bytes_ = 0;
  ForeignShare foreign_[kNumClasses] = {};
  // The owner of the other owner's block the slow path freed last into
  // class c (FreeOthersBlock), for the partners' test (IsPartnerOf): the
  // owner reads it of the thread it got others' blocks from; cleared by a
  // window with no such free (JudgeExchange) or a refill a window after the
  // last such free (ForgetQuietPartner). Written
  // only when it changes: two partners' entries stay as they are, and their
  // lines shared.
  std::atomic<const ThreadCache*> foreign_from_[kNumClasses] = {};
  // Others' blocks of class c sent home this window (KeepOrSendHome): the
  // rest of ForeignShare::frees stayed in the bin, pushes that are not own
  // frees (JudgeExchange).
  uint32_t foreign_sent_[kNumClasses] = {};
  Stash stash_[kNumClasses] = {};
  uint32_t moved_[kNumClasses] = {};  // SetCount's changes, summed (wrapping)
  WindowStart window_start_[kNumClasses] = {};
  CacheCounters counters_ = {};
  // Others' frees of this cache's blocks (GoesByRing), by address (remote_ring.h):
  // taken first by the next refill of any class (FillBin), into the bins and stashes,
  // and given back to the slabs with the inbox (ReturnInbox). Last: 4 KiB
  // the other fields' lines need not be laid out around.
  RemoteRing remote_ring_;
};

// Asks every thread cache to hand back the blocks in its bins of the classes
// in `class_mask` (bit c: class c) at its next refill, releasing the spans
// that empties: for classes the learner found quiet, whose cached blocks would
// otherwise pin their spans. Replaces the previous request.
void RequestBinFlush(uint64_t class_mask);

// Where a free that reached a shared placeholder cache (no bin has room)
// belongs: the calling thread's own cache when core steered the thread away
// from it for a moment (core/heap_upkeep.h) or has just set one up for a
// thread that keeps freeing without allocating, else nullptr (the block goes
// home as a remote free). Installed once by core.
using PlaceholderRoute = ThreadCache* (*)();
void InstallPlaceholderRoute(PlaceholderRoute route);

// Frees from threads that have no cache of their own yet are counted here.
void CountOrphanRemoteFree();
uint64_t OrphanRemoteFrees();

}  // namespace hakmem::tiny

#endif  // HAKMEM_POOLS_TINY_THREAD_CACHE_H_
