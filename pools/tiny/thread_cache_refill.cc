// The thread cache's refills (thread_cache.h: FillBin): freed blocks back
// from the class's slabs (their local and remote lists, parked and revived
// slabs), lends of larger classes' blocks (W_MAX), and carving.
#include "pools/tiny/thread_cache.h"

#include <algorithm>
#include <array>
#include <cstdlib>

#include "core/base/config.h"
#include "core/base/log.h"
#include "pools/tiny/thread_cache_internal.h"
#include "sync/block_link.h"

namespace hakmem::tiny {

using sync::FreeBlockLink;
using thread_cache_internal::g_flush_epoch;
using thread_cache_internal::PushBack;
using thread_cache_internal::PushFront;
using thread_cache_internal::Remove;

namespace {

// A remote list longer than its slab: two threads freed one block at the same
// instant (a race the free key cannot see) and the heap is corrupt. Say so and
// stop, as glibc does on corruption it detects.
[[noreturn]] ABSL_ATTRIBUTE_NOINLINE void ReportCorruptList(const Slab* s) {
  LogLine().Str("hakmem: heap corruption: the remote free list of the slab at ")
      .Ptr(s->start).Str(" holds more blocks than the slab (a block freed twice at once?)");
  abort();
}

}  // namespace

uint32_t ThreadCache::CarveWant(int c, uint32_t want) const {
  const uint32_t page = static_cast<uint32_t>(std::max<size_t>(1, kCarveBytes / ClassSize(c)));
  return std::min(want, page * (carve_run_[c] + 1u));
}

namespace {

// 8 blocks, and no more than 64 KiB worth (2 blocks of 32 KiB): a thread that
// allocates one big block keeps one more, not seven. A table: Borrow asks on
// every lend, and a division there was a third of its own cost (phase_1t).
constexpr auto kFirstBatchOf = [] {
  constexpr uint32_t kFirstBatch = 8;
  constexpr size_t kFirstBatchBytes = 64 << 10;
  std::array<uint8_t, kNumClasses> t{};
  for (int c = 0; c < kNumClasses; ++c) {
    t[c] = static_cast<uint8_t>(
        std::clamp<size_t>(kFirstBatchBytes / ClassSize(c), 1, kFirstBatch));
  }
  return t;
}();

}  // namespace

uint32_t ThreadCache::FirstBatch(int c) const {
  return std::min<uint32_t>(batch_[c], kFirstBatchOf[c]);
}

void ThreadCache::PublishAllocs(int c) {
  const uint32_t pops = bins_[c].Pops();
  allocs_[c].Add(static_cast<uint32_t>(pops - pops_published_[c]));
  pops_published_[c] = pops;
}

void* ThreadCache::Refill(int c, Fresh fresh) { return FillBin(c, fresh) ? TryPop(c) : nullptr; }

bool ThreadCache::FillBin(int c, Fresh fresh) {
  sync::SpinLockHolder hold(&slab_lock_);
  PublishAllocs(c);
  ForgetQuietPartner(c);
  // A refill of another class since the caller found bin c empty may have
  // put blocks from the ring in it (a miss that tried to borrow first).
  if (ABSL_PREDICT_FALSE(bins_[c].head != nullptr)) return true;
  // Both callers found bin c empty: its count starts from 0, not from what
  // an estimate left (a chain taken whole counts as at most half the limit:
  // TakeFreed).
  SetCount(c, 0);
  if (ABSL_PREDICT_FALSE(g_flush_epoch.load(std::memory_order_relaxed) != flush_epoch_seen_)) {
    FlushRequestedBins(c);
  }
  uint32_t revived = 0;
  if (ABSL_PREDICT_FALSE(revived_mask_.load(std::memory_order_relaxed) & (uint64_t{1} << c))) {
    revived = ReviveParked(c);
  }
  // Blocks others freed into the ring come first, every one of them (of
  // any class: TakeRing): they are free already, and each left there is one
  // the program cannot have.
  uint32_t got = remote_ring_.HasBlocks() ? TakeRing(c) : 0;
  bool rare;
  const uint32_t want = RefillWant(c, &rare);
  // Blocks freed back to any of the class's slabs come before never-used
  // ones: carving while others' frees wait on the remote lists of the slabs
  // behind the current one grows the footprint (rptest, 4 threads: 4 MiB per
  // thread sat there). A slab with nothing freed and nothing left to carve
  // is parked.
  // A class of one-block spans (L2.5 above 128 KiB) takes others' frees
  // first, from its inbox (QueueRemoteAndPush sends them there): its spans
  // are not revived.
  const bool one_block_spans = HasOneBlockSpans(c);
  if (got == 0) got = one_block_spans ? TakeInboxShare(c, want) : TakeStash(c);
  bool carved = false;
  // Slabs revived just now (at the head) that gave fewer than kGatherBlocks
  // are followed by up to kGatherSlabs more of them: when another thread
  // frees a big heap's blocks one by one, each into another full slab, every
  // slab comes back with one block, and a refill per block cost the program
  // 30 % (deferred_free: 2.1 -> 3.0 M ops/s). Not other slabs: their short
  // remote chains were cold to walk (rptest_2t 0.99x).
  const uint32_t enough = std::min(want, kGatherBlocks);
  uint32_t more_slabs = revived > 1 ? std::min(revived - 1, kGatherSlabs) : 0;
  for (Slab* s = partial_[c].head;
       s != nullptr && (got == 0 || (got < enough && more_slabs-- > 0));) {
    Slab* next = s->next;
    const uint32_t n = TakeFreed(s, c, want - got);  // got < enough <= want
    if (n == 0 && s->UncarvedBlocks() == 0) Park(s);
    got += n;
    s = next;
  }
  // Then what others freed scattered over the class's slabs (OwnerInbox),
  // as a whole chain that becomes the bin: after the slabs' own, so that
  // every other pattern refills as it did.
  if (got == 0 && !one_block_spans) {
    if (void* chain = inbox_.Take(c, &got)) {
      bins_[c].head = chain;
      got = std::max<uint32_t>(got, 1);
      SetCount(c, got);
    }
  }
  if (got == 0) {
    if (fresh == Fresh::kNo) return false;
    // An idle span of the class (pools/mid) is resident until it decays:
    // its blocks come before never-touched ones of the current slab (with a
    // small first refill, mid_1t's peak grew 1.3 MiB in idle spans while
    // current slabs carved on).
    // (Every slab left on the list has room: the loop parked the others.)
    if (Slab* head = partial_[c].head) {
      Slab* idle = NewSlab(c, Idle::kOnly);
      if (idle != nullptr) got = TakeFreed(idle, c, want);  // nothing freed in head (above)
      if (got == 0) {
        got = Carve(idle != nullptr ? idle : head, c, CarveWant(c, want));
        carved = true;
      }
    }
  }
  if (got == 0) {
    // An idle span (pools/mid) comes with its blocks on its local list.
    Slab* s = NewSlab(c);
    if (s == nullptr) return false;
    got = TakeFreed(s, c, want);
    if (got == 0) {
      Carve(s, c, CarveWant(c, want));
      carved = true;
    }
  }
  FinishRefill(c, want, rare, carved);  // not at a Fresh::kNo miss: it was no refill
  return true;
}

uint32_t ThreadCache::RefillWant(int c, bool* rare) const {
  // A class refilled long after its last refill is allocated rarely: the
  // refill moves half as much and the next ones no more (kRareRefillMs).
  *rare = last_refill_ms_[c] != 0 && clock_ms_ - last_refill_ms_[c] >= kRareRefillMs;
  const uint32_t want = next_batch_[c];
  return *rare && want > 1 ? want / 2 : want;
}

void ThreadCache::FinishRefill(int c, uint32_t want, bool rare, bool carved) {
  // Refill after refill carving: the program is building up the class.
  if (!carved) {
    carve_run_[c] = 0;
  } else if (carve_run_[c] < kMaxCarveRun) {
    ++carve_run_[c];
  }
  last_refill_ms_[c] = clock_ms_;
  if (rare) {
    next_batch_[c] = want;
    GrowLimit(c);
  } else {
    GrowAfterRefill(c, want);
  }
  counters_.refills[c].Add(1);
}

void ThreadCache::GrowAfterRefill(int c, uint32_t want) {
  if (want < batch_[c]) next_batch_[c] = std::min(2 * want, batch_[c]);
  GrowLimit(c);
  if (drained_[c] != 0) GrowForTurns(c);
}

void ThreadCache::GrowForTurns(int c) {
  // Not L2.5: its bins keep blocks only at a high rate of them (FullLimit).
  if (TierOfClass(c) != Tier::kL25) {
    const uint64_t bytes = std::min(kTurnBytes, GetConfig().thread_cache_bytes / 4);
    const int64_t most = std::max<int64_t>(FullLimit(c), bytes / ClassSize(c));
    // Only for turns that fit (what was drained and what the bin held): a
    // bigger bin does not spare a longer turn's blocks their trip to the
    // slabs, it only holds more of them (10,000 blocks of 1 KiB in turns
    // were slower so).
    const int64_t turn = int64_t{drained_[c]} + limit_[c];
    const int64_t grown = std::max(limit_[c], FullLimit(c)) + 2 * int64_t{drained_[c]};
    if (turn <= most && grown > limit_[c]) SetLimit(c, static_cast<int32_t>(std::min(grown, most)));
  }
  drained_[c] = 0;
}

void ThreadCache::UndoTurns(int c) {
  drained_[c] = 0;
  if (limit_[c] > FullLimit(c)) SetLimit(c, FullLimit(c));
}

void ThreadCache::GrowLimit(int c) {
  if (limit_[c] < FullLimit(c)) {  // the class is in demand again (see Flush)
    SetLimit(c, std::min(std::max(2 * limit_[c], 1), FullLimit(c)));
  }
}

bool ThreadCache::MayBorrowFor(int c) {
  BorrowWindow& w = borrow_window_[c];
  if (w.own_only) return false;
  // Handed out: the bin's pops, and the blocks borrows returned themselves
  // (popped from the lender's bin).
  const uint64_t handed = uint64_t{bins_[c].Pops() - w.pops_at_start} + w.direct;
  if (handed >= kBorrowWindow) {
    w.streak = uint64_t{w.lent} * 3 > handed * 2 ? w.streak + 1 : 0;
    w.own_only = w.streak >= kBorrowStreak;
    w.lent = 0;
    w.direct = 0;
    w.pops_at_start = bins_[c].Pops();
  }
  return !w.own_only;
}

void ThreadCache::ForgetBorrowing(int c) {
  borrow_window_[c] = BorrowWindow{0, 0, bins_[c].Pops(), 0, false};
}

void* ThreadCache::Borrow(int d, int c, size_t size, bool lend_ahead) {
  void* p = TryPop(d);
  if (p == nullptr) return nullptr;
  uint32_t lent = 1;
  if (lend_ahead) {
    // At least a first refill's worth: a rare class's next refill may be one
    // block (kRareRefillMs), and a class living on borrowed blocks does not
    // refill to grow it back.
    const uint32_t batch = std::max(next_batch_[c], FirstBatch(c));
    const int32_t want =
        std::min({Count(d) / 2, static_cast<int32_t>(batch) - 1, bins_[c].Room() - 1});
    Bin& from = bins_[d];
    Bin& to = bins_[c];
    int32_t k = 0;
    for (; k < want && from.head != nullptr; ++k) {  // Count is an estimate: stop at the end
      void* q = from.head;
      from.head = FreeBlockLink::Next(q);
      FreeBlockLink::SetNext(q, to.head);
      to.head = q;
    }
    SetCount(d, Count(d) - k);
    SetCount(c, Count(c) + k);
    lent += static_cast<uint32_t>(k);
    // A class living on d's blocks (their frees go back to bin d, so bin c
    // keeps running dry) grows its lends as refills grow: a first refill's
    // worth each time made phase_1t's lulls borrow, and try a refill before
    // that, every eighth request (phase_1t 1.03x).
    GrowAfterRefill(c, batch);
  }
  borrow_window_[c].lent += lent;
  borrow_window_[c].direct += 1;
  counters_.borrowed[d].Add(lent);
  counters_.borrowed_waste[d].Add(lent * (ClassSize(d) - size));
  return p;
}

void* ThreadCache::AllocColourZero(int c, size_t alignment) {
  const auto bin = static_cast<unsigned>(c);
  if (TakeColourZeroBlocks(c, NewSpan::kNo)) return TryPopAligned(bin, alignment);
  // None at hand: take back what was freed to the class (others' frees on
  // the slabs' remote lists, the ring, the inbox, revived slabs; used-up
  // slabs parked), as any refill does: a thread that makes only aligned
  // requests of the class refills it only here.
  if (FillBin(c, Fresh::kNo)) {
    if (void* p = TryPopAligned(bin, alignment)) return p;
  }
  return TakeColourZeroBlocks(c, NewSpan::kYes) ? TryPopAligned(bin, alignment) : nullptr;
}

bool ThreadCache::TakeColourZeroBlocks(int c, NewSpan new_span) {
  sync::SpinLockHolder hold(&slab_lock_);
  if (bins_[c].head == nullptr) SetCount(c, 0);  // as FillBin: an estimate may have drifted
  // A refill's worth (slow start, rare classes: RefillWant) up to the bin's
  // room (a free past its limit would flush at once), at least one block;
  // and a refill's bookkeeping after it, so that the bin's limit grows as
  // any refill's does (with none, an L2.5 class's bin kept nothing at any
  // rate, and every aligned malloc and free laid out a colour-0 span and
  // gave it back: 4 KiB-aligned 56 KiB blocks, 0.25 us a pair). The
  // bookkeeping counts the refill's worth, not what the room let in: the next
  // batch is set from it, and a bin that FillBin had just filled would have
  // sent the class's slow start back to its first step.
  bool rare;
  const uint32_t refill = RefillWant(c, &rare);
  const int32_t room = limit_[c] - Count(c);
  const uint32_t want =
      static_cast<uint32_t>(std::max(std::min(static_cast<int32_t>(refill), room), 1));
  bool carved = false;
  auto take = [&](Slab* s) {
    if (s == nullptr) return false;
    colour_zero_[c] = s;
    if (TakeFreed(s, c, want) != 0) return true;
    carved = Carve(s, c, CarveWant(c, want)) != 0;
    return carved;
  };
  // The last span taken from, unless it has been parked since (the full
  // queue, which others' frees revive it from), then another colour-0 span
  // of the class with blocks (they come back to it as they are freed and
  // flushed), then a new one.
  Slab* last = colour_zero_[c];
  const bool took = (last != nullptr && last->queue == SlabQueue::kPartial && take(last)) ||
                    take(ColourZeroSlabWithBlocks(c)) ||
                    (new_span == NewSpan::kYes && take(NewColourZeroSlab(c)));
  if (took) FinishRefill(c, refill, rare, carved);
  return took;
}

Slab* ThreadCache::ColourZeroSlabWithBlocks(int c) const {
  uint32_t looked = 0;
  for (Slab* s = partial_[c].head; s != nullptr && looked < kColourZeroLooks;
       s = s->next, ++looked) {
    if (s->StartsAtColourZero() &&
        (s->local_free != nullptr || s->UncarvedBlocks() != 0 || !s->remote.Empty())) {
      return s;
    }
  }
  return nullptr;
}

uint32_t ThreadCache::TakeFreed(Slab* s, int c, uint32_t want) {
  Bin& b = bins_[c];
  if (s->local_free == nullptr && b.head == nullptr && !s->remote.Empty() && limit_[c] > 0) {
    // Remote frees become the bin as they are. They count as used in the bin
    // just as on the remote list, so `used` does not change and the chain need
    // not be walked (its blocks sit in other cores' caches: a walk misses on
    // every one of them in a row, where pops overlap each miss with the
    // program's work through TryPop's prefetch). A chain can be far longer
    // than the bin's limit (pushes piled up on a slab the refills did not
    // reach); it is counted as half the limit, so that the program's next
    // own frees do not flush it at once (a flush walks the cold blocks
    // twice). The blocks beyond the count stay uncounted (the byte budget
    // does not see them) until the class's next refill (which starts the
    // count from 0) or flush (which counts what it keeps): a bin holds at
    // most its limit and one slab's chain. Drained to the slab's local list
    // instead (walked once), such chains took 5 % of rptest_2t's time (taken
    // whole: 1.05x paired, 15 rounds); counted in full, they made 4,000
    // flushes a second.
    uint32_t n;
    void* chain = s->remote.TakeAll(&n);
    if (chain != nullptr) {
      b.head = chain;
      SetCount(c, std::min<int64_t>(Count(c) + n, limit_[c] / 2));
      return 1;
    }
  }
  uint32_t n = TakeLocal(s, c, want);
  if (n < want && !s->remote.Empty()) {
    DrainRemote(s);
    n += TakeLocal(s, c, want - n);
  }
  SetCount(c, Count(c) + n);
  s->used += n;
  return n;
}

uint32_t ThreadCache::Carve(Slab* s, int c, uint32_t want) {
  // Never-used blocks in address order: the first popped is the lowest. Each
  // gets the free key: it is free until handed out.
  Bin& b = bins_[c];
  const uint32_t carved = s->Carved();
  const uint32_t avail = s->UncarvedBlocks();
  const uint32_t k = avail < want ? avail : want;
  if (k == 0) return 0;
  char* first = s->start + carved;
  char* p = first;
  const uint64_t key = FreeKey();
  for (uint32_t i = 1; i < k; ++i, p += s->block_size) {
    *reinterpret_cast<void**>(p) = p + s->block_size;
    KeyWord(p) = key;
  }
  *reinterpret_cast<void**>(p) = b.head;
  KeyWord(p) = key;
  b.head = first;
  s->carved.store(carved + k * s->block_size, std::memory_order_relaxed);
  s->PublishDigest();
  SetCount(c, Count(c) + k);
  s->used += k;
  return k;
}

uint32_t ThreadCache::TakeLocal(Slab* s, int c, uint32_t want) {
  Bin& b = bins_[c];
  uint32_t n = 0;
  if (b.head == nullptr && s->local_count <= static_cast<uint32_t>(limit_[c])) {
    // The whole free list becomes the bin in O(1): no walk over cold blocks.
    b.head = s->local_free;
    n = s->local_count;
    s->local_free = nullptr;
    s->local_count = 0;
    return n;
  }
  void* head = b.head;
  while (n < want && s->local_free != nullptr) {
    void* p = s->local_free;
    s->local_free = *static_cast<void**>(p);
    *static_cast<void**>(p) = head;
    head = p;
    ++n;
  }
  s->local_count -= n;
  b.head = head;
  return n;
}

void ThreadCache::DrainRemote(Slab* s) {
  if (s->remote.Empty()) return;  // a plain load; the exchange is a locked instruction
  uint32_t pushed;  // the pushes' count: the walk below counts (and checks) itself
  void* chain = s->remote.TakeAll(&pushed);
  if (chain == nullptr) return;
  uint32_t n = 1;
  void* tail = chain;
  for (void* next; (next = FreeBlockLink::Next(tail)) != nullptr; tail = next) {
    // Every free checks the key before linking, so a list holds each block
    // once; longer than the slab means two threads freed one block at the
    // same instant and the list is corrupt: stop rather than loop forever.
    if (++n > s->capacity) ReportCorruptList(s);
  }
  PutOnLocalList(s, chain, tail, n);
}

void ThreadCache::PutOnLocalList(Slab* s, void* first, void* last, uint32_t n) {
  FreeBlockLink::SetNext(last, s->local_free);
  s->local_free = first;
  s->local_count += n;
  s->used -= n;
}

void ThreadCache::Park(Slab* s) {
  const int c = s->size_class;
  Remove(partial_[c], s);
  PushBack(full_[c], s);
  s->queue = SlabQueue::kFull;
  // Dekker with PushRemote (seq_cst store here, seq_cst push there): either we
  // see its push now, or it sees parked_full and revives the slab (slab.h).
  s->parked_full.store(true, std::memory_order_seq_cst);
  if (!s->remote.EmptyOrdered() && s->parked_full.exchange(false, std::memory_order_acq_rel)) {
    Unpark(s);
  }
}

void ThreadCache::Unpark(Slab* s) {
  const int c = s->size_class;
  Remove(full_[c], s);
  PushFront(partial_[c], s);
  s->queue = SlabQueue::kPartial;
}

uint32_t ThreadCache::ReviveParked(int c) {
  const uint64_t bit = uint64_t{1} << c;
  revived_mask_.fetch_and(~bit, std::memory_order_acq_rel);
  uint32_t of_c = 0;
  for (std::atomic<Slab*>& entry : revived_) {
    if (entry.load(std::memory_order_relaxed) == nullptr) continue;
    if (Slab* s = entry.exchange(nullptr, std::memory_order_acquire)) {
      if (UnparkIfRevived(s) && s->size_class == c) ++of_c;
    }
  }
  if ((revived_overflow_mask_.load(std::memory_order_relaxed) & bit) == 0) return of_c;
  revived_overflow_mask_.fetch_and(~bit, std::memory_order_acq_rel);
  for (Slab* s = full_[c].head; s != nullptr;) {
    Slab* next = s->next;
    if (!s->parked_full.load(std::memory_order_acquire)) {
      Unpark(s);
      ++of_c;
    }
    s = next;
  }
  return of_c;
}

bool ThreadCache::UnparkIfRevived(Slab* s) {
  // The entry may be stale: the slab unparked since by this cache (its own
  // frees came back), or given back and taken by another cache. Only the
  // owner changes a slab's queue, under its slab lock, which this one holds.
  if (s->owner.load(std::memory_order_acquire) != this || s->queue != SlabQueue::kFull ||
      s->parked_full.load(std::memory_order_acquire)) {
    return false;
  }
  Unpark(s);
  return true;
}

}  // namespace hakmem::tiny
