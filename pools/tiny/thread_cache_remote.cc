// Blocks of other owners' slabs: sent home (chained per slab, per owner
// and class, or by address into the owner's ring), or kept while the class
// is in an exchange or its owner a partner (JudgeExchange); and what reaches
// a thread with no heap yet (the placeholder).
#include "pools/tiny/thread_cache.h"

#include <algorithm>

#include "core/base/invalid_free.h"
#include "core/base/range_map.h"
#include "pools/tiny/thread_cache_internal.h"
#include "sync/block_link.h"

namespace hakmem::tiny {

using sync::FreeBlockLink;
using thread_cache_internal::PushBack;
using thread_cache_internal::Remove;

namespace {

std::atomic<PlaceholderRoute> g_placeholder_route{nullptr};

// An index in [0, 32) from a slab's address, for the per-cache tables of 32
// entries (pending chains, revived slabs). Slabs lie 64-byte aligned: hashed
// from the address above that, without a division.
inline size_t SlabIndex32(const Slab* s) {
  return ((reinterpret_cast<uintptr_t>(s) >> 6) * 0x9E3779B97F4A7C15ull) >> 59;
}

// The slab of a block this cache holds (so its unit is a carved span's).
Slab* SlabOf(void* p) { return RangeMap::MetaOf<Slab>(RangeMap::Lookup(p)); }

}  // namespace

void InstallPlaceholderRoute(PlaceholderRoute route) {
  g_placeholder_route.store(route, std::memory_order_relaxed);
}

void ThreadCache::ReturnToSlabs(void* chain) {
  while (chain != nullptr) {
    void* first = chain;
    Slab* s = SlabOf(first);
    chain = *static_cast<void**>(first);
    if (s->owner.load(std::memory_order_relaxed) != this) {
      QueueRemote(s, s->block_size, first);
      continue;
    }
    // The run of blocks of this slab that follow: a bin flushed in the order
    // its blocks were freed holds long runs (a structure freed in the order
    // it was built), and a run costs one lookup and one update of the slab.
    // The chain's end needs no test of its own: nullptr lies below `start`,
    // so its offset wraps far beyond `carved`.
    const uintptr_t start = reinterpret_cast<uintptr_t>(s->start);
    const uint32_t carved = s->Carved();
    void* last = first;
    uint32_t n = 1;
    while (reinterpret_cast<uintptr_t>(chain) - start < carved) {
      last = chain;
      chain = *static_cast<void**>(chain);
      ++n;
    }
    PutOnLocalList(s, first, last, n);
    if (s->queue == SlabQueue::kFull) {
      // It has free blocks again. A racing remote free may also have revived
      // it; ReviveParked then finds it already gone from the full queue.
      s->parked_full.store(false, std::memory_order_relaxed);
      Unpark(s);
      // Unpark put it at the head; let the slab we were using stay current.
      Slab* head = partial_[s->size_class].head;
      if (head == s && s->next != nullptr) {
        Remove(partial_[s->size_class], s);
        PushBack(partial_[s->size_class], s);
      }
    }
    // Released or not, no block of s is left in the chain: all of them
    // counted in `used`, and it reached 0 only if this run held the last.
    MaybeRelease(s);
  }
}

namespace {

// Hands a chain of blocks of `slab` to its owner (slab.h: parking protocol).
void PushRemote(Slab* slab, void* first, void* last, uint32_t n) {
  const bool was_empty = slab->remote.PushChain(first, last, n);
  if (!was_empty) return;
  // First blocks since the owner last drained: the slab may be parked. The
  // push was seq_cst; so is this load (the other half of Park's check).
  if (slab->parked_full.load(std::memory_order_seq_cst) &&
      slab->parked_full.exchange(false, std::memory_order_acq_rel)) {
    // Caches are never freed, so the owner pointer stays valid memory even
    // if that thread has exited; a stale bit only causes a spare scan.
    // The slab may have been emptied, given back and laid out again for
    // another class since the push (by its owner, or for an idle one):
    // notify for its class now, read atomically against Format.
    ThreadCache* owner = slab->owner.load(std::memory_order_acquire);
    if (owner != nullptr) {
      owner->NoteRevived(slab, __atomic_load_n(&slab->size_class, __ATOMIC_RELAXED));
    }
  }
}

}  // namespace

void ThreadCache::NoteRevived(Slab* slab, int c) {
  const uint64_t bit = uint64_t{1} << c;
  const size_t first = SlabIndex32(slab);
  static_assert(kRevivedEntries == 32, "SlabIndex32 picks the first entry tried");
  bool named = false;
  for (uint32_t i = 0; i < kRevivedProbes && !named; ++i) {
    std::atomic<Slab*>& entry = revived_[(first + i) % kRevivedEntries];
    Slab* empty = nullptr;
    // Release: an owner that finds the entry (ReviveParked, maybe for
    // another class's bit, before the mask's release below) must see the
    // cleared parked_full with it, or it drops the entry and the slab stays
    // parked for good (free on x86, where the exchange is a locked op anyway).
    named = entry.load(std::memory_order_relaxed) == nullptr &&
            entry.compare_exchange_strong(empty, slab, std::memory_order_release,
                                          std::memory_order_relaxed);
  }
  // The owner clears the mask's bit before it looks; the overflow bit too may
  // be seen before it (the owner's walk of the full queue reads parked_full).
  if (!named) revived_overflow_mask_.fetch_or(bit, std::memory_order_release);
  revived_mask_.fetch_or(bit, std::memory_order_release);
}

void ThreadCache::FreeFromPlaceholder(Slab* slab, void* p) {
  // A thread steered here while it has a cache of its own (core's nudge), or
  // given one now, frees into that one.
  if (PlaceholderRoute route = g_placeholder_route.load(std::memory_order_relaxed)) {
    if (ThreadCache* own = route()) return own->Free(slab, p);
  }
  // A thread that never allocated (and has not freed enough to be given a
  // heap by the route) holds nothing: the block goes straight back to its
  // owner.
  KeyWord(p) = FreeKey();
  PushRemote(slab, p, p, 1);
  CountOrphanRemoteFree();
}

bool ThreadCache::IsPartnerOf(int c) const {
  const ThreadCache* from = foreign_from_[c].load(std::memory_order_relaxed);
  return from != nullptr && from != this &&
         from->foreign_from_[c].load(std::memory_order_relaxed) == this;
}

void ThreadCache::JudgeExchange(int c, uint32_t pending) {
  ForeignShare& f = foreign_[c];
  const uint64_t frees = f.frees;
  const uint64_t pops = bins_[c].Pops() - f.pops_at_start;
  if (f.keep == Keep::kExchange) {
    // Its streak stays: one window at the entry share right after takes it
    // back (a burst of the VM's scheduling is no reason for four windows of
    // trips home).
    if (frees * kLeaveDivisor < pops) f.keep = Keep::kNo;
  } else {
    // Others' blocks kept, pushes that are not own frees (none unless
    // partners).
    const int64_t kept =
        std::max<int64_t>(0, static_cast<int64_t>(frees) - pending - foreign_sent_[c]);
    const int64_t own = OwnFreesThisWindow(c) - kept;
    const bool exchange = frees * 8 >= pops * kEnterEighths &&
                          own * 8 <= static_cast<int64_t>(pops) * kEnterOwnEighths;
    const bool partners = frees * kPartnerShareDivisor >= pops && IsPartnerOf(c);
    f.streak = exchange ? std::min<int>(f.streak + 1, kEnterStreak) : 0;
    f.partner_streak = partners ? std::min<int>(f.partner_streak + 1, kEnterStreak) : 0;
    f.keep = f.streak >= kEnterStreak           ? Keep::kExchange
             : f.partner_streak >= kEnterStreak ? Keep::kPartners
                                                : Keep::kNo;
    if (f.keep == Keep::kExchange) f.partner_streak = 0;
  }
  NoteMixing(c, frees * kMixedShareDivisor >= pops);
  // A whole window with no other's block: no partner (while the thread
  // mixes, its own frees end windows, and no refill finds one overdue).
  if (frees == 0) ForgetPartner(c);
  f.frees = 0;
  foreign_sent_[c] = 0;
  f.pops_at_start = bins_[c].Pops();
  window_start_[c] = WindowStart{Count(c), moved_[c]};
  SetRoomFloor(c);
}

void ThreadCache::ForgetQuietPartner(int c) {
  // A free of another's block after the window's end would have closed it
  // (JudgeExchange): a window overdue by a whole window had none.
  if (bins_[c].Pops() - foreign_[c].pops_at_start >= 2 * kForeignWindow) {
    ForgetPartner(c);
    NoteMixing(c, false);
  }
}

void ThreadCache::ForgetPartner(int c) {
  if (foreign_from_[c].load(std::memory_order_relaxed) != nullptr) {
    foreign_from_[c].store(nullptr, std::memory_order_relaxed);
  }
}

int64_t ThreadCache::OwnFreesThisWindow(int c) const {
  // count = start + pushes - pops + moved, all since the window began.
  const uint32_t pops = bins_[c].Pops() - foreign_[c].pops_at_start;
  const int32_t moved = static_cast<int32_t>(moved_[c] - window_start_[c].moved);
  return int64_t{Count(c)} - window_start_[c].count + pops - moved;
}

void ThreadCache::SetRoomFloor(int c) {
  // A quarter of the limit, as it was before any growth for turns: what the
  // bin holds for the class's own turns is no room for others' blocks.
  const int32_t keep = std::min(limit_[c], FullLimit(c)) / kKeepForeignDivisor;
  foreign_[c].room_floor = foreign_[c].keep != Keep::kNo
                               ? static_cast<uint32_t>(Bin::kRoomBias + limit_[c] - keep)
                               : kNoRoomFloor;
}

void ThreadCache::NoteMixing(int c, bool mixing) {
  const uint64_t bit = uint64_t{1} << c;
  SetMixingClasses(mixing ? mixing_classes_ | bit : mixing_classes_ & ~bit);
}

void ThreadCache::SetMixingClasses(uint64_t classes) {
  if (classes == mixing_classes_) return;  // the fast path's line stays as it is
  mixing_classes_ = classes;
  own_match_ = OwnMatch(classes);
}

void ThreadCache::FreeMixedSlow(void* p, const UnitEntry& unit, bool own) {
  if (!own) return FreeOthersBlock(p, unit);
  const int c = ClassOfBinOffset(unit.slab.class_offset.load(std::memory_order_relaxed));
  JudgeExchange(c, 0);
  if (Push(bins_[c], p, FreeKey())) Flush(c);
}

void ThreadCache::FreeOthersBlock(void* p, const UnitEntry& unit) {
  const int c = ClassOfBinOffset(unit.slab.class_offset.load(std::memory_order_relaxed));
  // The fast path read only the digest: a double free racing its span's
  // release can pass it and find the unit given back by now (its key gone
  // with the decommitted page). Nothing of a SuperSlab is taken for a Slab.
  const uintptr_t word = unit.word.load(std::memory_order_acquire);
  if (ABSL_PREDICT_FALSE(!RangeMap::IsSlab(word))) return ReportInvalidFree(p, BadFree::kFreeMemory);
  Slab* slab = RangeMap::SlabMetaOf<Slab>(word);
  if (ABSL_PREDICT_FALSE(!initialized_)) return FreeFromPlaceholder(slab, p);
  const auto* owner =
      static_cast<const ThreadCache*>(unit.slab.owner.load(std::memory_order_relaxed));
  if (foreign_from_[c].load(std::memory_order_relaxed) != owner) {
    foreign_from_[c].store(owner, std::memory_order_relaxed);
  }
  FreeForeign(c, slab, p);
}

ABSL_ATTRIBUTE_ALWAYS_INLINE inline void ThreadCache::FreeForeign(int c, Slab* slab, void* p) {
  ForeignShare& f = foreign_[c];
  ++f.frees;  // every free of another owner's block counts (JudgeExchange)
  if (ABSL_PREDICT_FALSE(bins_[c].Pops() - f.pops_at_start >= kForeignWindow)) {
    return FreeForeignAtWindowEnd(c, slab, p);
  }
  KeepOrSendHome(c, slab, p);
}

void ThreadCache::FreeForeignAtWindowEnd(int c, Slab* slab, void* p) {
  JudgeExchange(c, 1);
  KeepOrSendHome(c, slab, p);
}

ABSL_ATTRIBUTE_ALWAYS_INLINE inline void ThreadCache::KeepOrSendHome(int c, Slab* slab, void* p) {
  // Kept only in an exchange or as partners, and while this bin runs low
  // (the thread allocates the class as fast as it frees others' blocks and
  // would refill at once), else home to its owner, chained with others for
  // its slab.
  // Below a quarter of the limit: at an eighth, threads trading batches of
  // 32 blocks found the bin at the threshold after each refill took a chain
  // that came home, and sent all home again; at a half, xthread peaked at
  // 9.0-9.6 MiB (7.9-8.1 at a quarter, 7.4 keeping less).
  // The fast path's test (KeepsForeignFast), after the verdict.
  if (bins_[c].RoomAbove(foreign_[c].room_floor)) {  // never while not keeping
    Push(bins_[c], p, FreeKey());  // never past the limit: room above the floor
    return;
  }
  ++foreign_sent_[c];
  KeyWord(p) = FreeKey();
  if (GoesByRing(c)) {
    if (ThreadCache* owner = RingOwnerOf(p); owner != nullptr && SendToRing(slab, c, p, owner)) {
      return;
    }
  }
  QueueRemote(slab, static_cast<uint32_t>(ClassSize(c)), p);
}

ABSL_ATTRIBUTE_ALWAYS_INLINE inline ThreadCache* ThreadCache::RingOwnerOf(void* p) {
  // The block keeps its slab (and so the slab its owner) until the owner
  // takes it: the owner read here is the one whose ring it reaches. Read
  // from the span's digest, on the line free has just read, not from the
  // Slab's first line, which its owner writes.
  auto* owner = static_cast<ThreadCache*>(const_cast<void*>(
      RangeMap::UnitAliased(p).slab.owner.load(std::memory_order_relaxed)));
  // Not while the owner's ring has not been taken from since it refused a
  // batch (full: its thread is not refilling), nor, if it was closed (its
  // thread exited), until it is open again (a new thread took the cache
  // over, whose first take needs a push first): a thread freeing 2 M of an
  // idle thread's 16 B blocks took 10 ns a free chained and 16 when each
  // went through the outbox, was refused and was chained after all; paused
  // for the next 512 blocks instead, xmalloc_4t lost 7 %. One owner is
  // remembered: frees alternating between two owners' full rings are
  // refused a batch at a time, as before.
  if (ABSL_PREDICT_FALSE(owner == ring_refused_by_) && owner != nullptr) {
    const RemoteRing& ring = owner->remote_ring_;
    if (ring.Taken() == ring_refused_at_ && (ring_refused_open_ || !ring.IsOpen())) return nullptr;
    ring_refused_by_ = nullptr;
  }
  return owner;
}

ABSL_ATTRIBUTE_ALWAYS_INLINE inline bool ThreadCache::GoesByRing(int c) const {
  // Mid blocks; Tiny ones only of a class that keeps none of others' blocks:
  // a consumer's frees of its producer's blocks chained on their slab were
  // popped by the producer one miss after another, where the ring's refill
  // writes each block's link, misses that overlap (xmalloc_4t 1.03 - 1.31x
  // on Emerald Rapids). Partners' and exchanges' blocks stay chained: through
  // the ring they filled the owner's bins, which then kept none of its
  // partner's (rptest_2t 0.92x, 8.1 M blocks sent home against 3.8 M).
  const Tier tier = TierOfClass(c);
  return tier == Tier::kMid || (tier == Tier::kTiny && foreign_[c].keep == Keep::kNo);
}

bool ThreadCache::SendToRing(Slab* slab, int c, void* p, ThreadCache* owner) {
  // A Mid block of the slab the class's last one went to continues a run (a
  // structure freed in the order it was built, a consumer freeing its
  // producer's batch): runs are chained on their slab, which takes them
  // back whole. Not Tiny runs: what the ring wins for them (GoesByRing) is
  // a consumer's.
  if (TierOfClass(c) == Tier::kMid) {
    const bool run = last_sent_slab_[c] == slab;
    last_sent_slab_[c] = slab;
    if (run) return false;
  }
  RingOutbox& out = ring_outbox_;
  if (out.owner != owner && out.count != 0) FlushRingOutbox();
  out.owner = owner;
  out.words[out.count] = RemoteRing::Word(p, c);
  out.slabs[out.count] = slab;
  // Its bytes count with the chained ones (kPendingMaxBytes): a thread
  // holds no more of others' blocks than before.
  const uint32_t size = static_cast<uint32_t>(ClassSize(c));
  out.bytes += size;
  pending_bytes_ += size;
  if (++out.count == kRingBatch) {
    FlushRingOutbox();
  } else if (pending_bytes_ >= kPendingMaxBytes) {
    FlushRemote();
  }
  return true;
}

void ThreadCache::FlushRingOutbox() {
  RingOutbox out = ring_outbox_;
  if (out.count == 0) return;
  ring_outbox_.count = 0;
  ring_outbox_.bytes = 0;
  pending_bytes_ -= out.bytes;
  // Read before the push: a take between the two ends the pause at once,
  // and a ring closed on either side of it counts as closed (a pause that
  // took a ring closed and opened again in between for a full one would
  // wait for a take that waits for a push).
  RemoteRing& ring = out.owner->remote_ring_;
  const uint64_t taken = ring.Taken();
  const bool was_open = ring.IsOpen();
  if (ring.TryPushAll(out.words, out.count)) {
    counters_.remote_frees.Add(out.count);
    return;
  }
  // Full or closed: each block the chained way, and the owner's next ones
  // until its ring is taken from or opened again (RingOwnerOf).
  ring_refused_by_ = out.owner;
  ring_refused_at_ = taken;
  ring_refused_open_ = was_open && ring.IsOpen();
  for (uint32_t i = 0; i < out.count; ++i) {
    const int c = RemoteRing::Class(out.words[i]);
    QueueRemote(out.slabs[i], static_cast<uint32_t>(ClassSize(c)), RemoteRing::Block(out.words[i]));
  }
}

uint32_t ThreadCache::TakeRing(int c) {
  uint32_t got = 0;
  remote_ring_.TakeAll([&](void* p, int k) {
    // Its free key is set (the freeing thread's KeepOrSendHome); it counts
    // as used by its slab in the ring as in the bin, so only the count moves.
    // A Mid block into its class's bin below the limit. A Tiny block into
    // the bin only of the class refilled, else onto its class's stash (taken
    // whole by a refill of the class that finds none of its blocks in the
    // ring): every Tiny bin filled to its limit here left no room to keep a
    // partner's blocks (rptest_2t 0.98x, and 0.92x when partners' blocks
    // came by the ring too); the refilled class's bin to half its limit
    // only, xmalloc_4t 0.89 - 0.92x.
    const bool tiny = TierOfClass(k) == Tier::kTiny;
    if ((!tiny || k == c) && Count(k) < limit_[k]) {
      FreeBlockLink::SetNext(p, bins_[k].head);
      bins_[k].head = p;
      SetCount(k, Count(k) + 1);
      got += k == c;
    } else if (tiny && stash_[k].count < limit_[k] &&
               uint64_t(stash_[k].count + 1) * ClassSize(k) <= kStashMaxBytes) {
      FreeBlockLink::SetNext(p, stash_[k].head);
      stash_[k].head = p;
      ++stash_[k].count;
    } else {
      FreeBlockLink::SetNext(p, nullptr);
      ReturnToSlabs(p);
    }
  });
  return got;
}

void ThreadCache::FreeUnusual(Slab* slab, void* p) {
  if ((reinterpret_cast<uintptr_t>(p) >> RangeMap::kAddressBits) != 0) {
    ReportInvalidFree(p, BadFree::kForeign);  // aliased by the fast lookup
  } else if (slab->IsCarvedBlockStart(p)) {
    if (HoldsHostKey(p)) {  // an aligned pointer was handed out inside it, not this
      ReportInvalidFree(p, BadFree::kNeverAllocated);
    } else if (!HoldsFreeKey(p)) {  // in use: only its key byte matched
      const UnitEntry& unit = RangeMap::UnitAliased(p);
      FreeInUse(unit, unit.slab.class_offset.load(std::memory_order_relaxed), p);
    } else {
      ReportInvalidFree(p, BadFree::kDouble);  // its free key is set: it is free already
    }
  } else {
    const uintptr_t off = reinterpret_cast<uintptr_t>(p) - reinterpret_cast<uintptr_t>(slab->start);
    ReportInvalidFree(p, off < slab->Carved() ? BadFree::kInterior : BadFree::kNeverAllocated);
  }
}

ABSL_ATTRIBUTE_ALWAYS_INLINE inline void ThreadCache::QueueRemote(Slab* slab, uint32_t block_size,
                                                               void* p) {
  counters_.remote_frees.Add(1);
  // Blocks for one foreign slab are chained here and pushed with a single
  // CAS. A thread holds at most kPendingMaxBytes of others' blocks this way;
  // it pushes them all when it reaches that, and when it exits or trims.
  PendingChain& chain = pending_[SlabIndex32(slab)];
  static_assert(kPendingSlots == 32, "SlabIndex32 picks the slot");
  // The common case, one more block for a chain that is not due, with no
  // call: the pushes below made this a function that saved six registers
  // on every free sent home.
  const uint32_t count = chain.count + 1;
  const uint32_t pending = pending_bytes_ + block_size;
  if (ABSL_PREDICT_TRUE(chain.slab == slab && count < kRemoteBatch &&
                        count * block_size < kRemoteBatchBytes && pending < kPendingMaxBytes)) {
    *static_cast<void**>(p) = chain.head;
    chain.head = p;
    chain.count = count;
    pending_bytes_ = pending;
    return;
  }
  QueueRemoteAndPush(chain, slab, block_size, p);
}

void ThreadCache::QueueRemoteAndPush(PendingChain& chain, Slab* slab, uint32_t block_size,
                                     void* p) {
  if (chain.slab == slab) {
    *static_cast<void**>(p) = chain.head;
    chain.head = p;
    ++chain.count;
  } else {
    if (chain.slab != nullptr) {
      // An evicted chain of a block or three: the frees are scattered
      // (ScatteredChain). Judged over windows of evictions.
      const bool short_chain = chain.count < kShortChain;
      short_evictions_ += short_chain;
      if (++evictions_ == kScatterWindow) {
        scattering_ = short_evictions_ * kScatterDivisor >= kScatterWindow * (kScatterDivisor - 1);
        evictions_ = 0;
        short_evictions_ = 0;
      }
      SendPending(chain);
    }
    *static_cast<void**>(p) = nullptr;
    chain = PendingChain{slab, p, p, 1, block_size};
  }
  pending_bytes_ += block_size;
  if (chain.count >= kRemoteBatch || chain.count * block_size >= kRemoteBatchBytes) {
    // A block of L2.5 above 128 KiB is its span's only one: pushed onto its
    // slab, every such free revived a parked span and cost the owner a
    // refill of one block (xthread, 32 - 128 KiB blocks, at half mimalloc's
    // rate, when those had a span each); through the owner's inbox its
    // refills take them a batch at a time (TakeInboxShare).
    if (HasOneBlockSpansOfSize(block_size)) {
      Scatter(chain);
    } else {
      PushPending(chain);
    }
  }
  if (pending_bytes_ >= kPendingMaxBytes) FlushRemote();
}

void ThreadCache::PushPending(PendingChain& chain) {
  // Read the slab before publishing: once pushed, its owner may drain the
  // blocks, release the span and see it reformatted for another class.
  pending_bytes_ -= chain.count * chain.block_size;
  PushRemote(chain.slab, chain.head, chain.tail, chain.count);
  chain = PendingChain{};
}

void ThreadCache::SendPending(PendingChain& chain) {
  if (scattering_ && chain.count < kShortChain) {
    Scatter(chain);
  } else {
    PushPending(chain);
  }
}

void ThreadCache::Scatter(PendingChain& chain) {
  // The slab's owner and class, read here rather than carried in every
  // pending chain (a slot of 32 bytes, half a line, is what QueueRemote's
  // fast path touches; 48 cost rptest_2t 1 %). The chain's blocks keep the
  // slab from being given back meanwhile.
  Slab* slab = chain.slab;
  ThreadCache* owner = slab->owner.load(std::memory_order_relaxed);
  const uint32_t c = __atomic_load_n(&slab->size_class, __ATOMIC_RELAXED);
  if (ABSL_PREDICT_FALSE(owner == nullptr)) return PushPending(chain);
  ScatteredChain& sc = scattered_[ScatteredIndex(owner, c)];
  if (sc.owner != owner || sc.size_class != c) {
    if (sc.owner != nullptr) PushScattered(sc);
    sc = ScatteredChain{owner, nullptr, chain.tail, 0, c};
  }
  *static_cast<void**>(chain.tail) = sc.head;
  sc.head = chain.head;
  sc.count += chain.count;
  chain = PendingChain{};  // its bytes stay pending, now in sc
  if (sc.count >= kRemoteBatch || sc.count * ClassSize(static_cast<int>(c)) >= kRemoteBatchBytes) {
    PushScattered(sc);
  }
}

void ThreadCache::PushScattered(ScatteredChain& sc) {
  pending_bytes_ -= sc.count * static_cast<uint32_t>(ClassSize(static_cast<int>(sc.size_class)));
  sc.owner->inbox_.Push(static_cast<int>(sc.size_class), sc.head, sc.tail, sc.count);
  sc = ScatteredChain{};
}

void ThreadCache::ReturnInbox(int c) {
  if (HasOneBlockSpans(c)) ReturnStash(c);  // the inbox's rest (TakeInboxShare)
  uint32_t n;
  if (void* chain = inbox_.Take(c, &n)) ReturnToSlabs(chain);
  ReturnRing();
}

void ThreadCache::ReturnRing() {
  if (!remote_ring_.HasBlocks()) return;
  remote_ring_.TakeAll([this](void* p, int) {
    FreeBlockLink::SetNext(p, nullptr);
    ReturnToSlabs(p);
  });
}

void ThreadCache::CloseRing() {
  remote_ring_.Close();
  sync::SpinLockHolder hold(&slab_lock_);
  ReturnRing();  // a push that saw the ring open may still land: ReturnInbox takes it
}

void ThreadCache::FlushRemote() {
  // PushPending keeps pending_bytes_ exact, and a cache with nothing pending
  // (the shared placeholder, when a thread that never allocated calls
  // malloc_trim) is not written at all.
  // While scattering, the short chains go by their owners' inboxes here too:
  // the pending bytes' bound flushes often when blocks are big (16 B - 4 KiB:
  // a third of the frees went onto slabs so).
  FlushRingOutbox();
  for (PendingChain& chain : pending_) {
    if (chain.slab != nullptr) SendPending(chain);
  }
  for (ScatteredChain& sc : scattered_) {
    if (sc.owner != nullptr) PushScattered(sc);
  }
}

}  // namespace hakmem::tiny
