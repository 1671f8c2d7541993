#include "pools/tiny/thread_cache.h"

#include <algorithm>
#include <array>
#include <cstdlib>

#include "core/base/config.h"
#include "core/base/invalid_free.h"
#include "core/base/log.h"
#include "core/base/range_map.h"
#include "pools/tiny/span_source.h"
#include "pools/tiny/superslab_manager.h"
#include "sync/block_link.h"

namespace hakmem::tiny {
namespace {

using sync::FreeBlockLink;

std::atomic<uint64_t> g_orphan_remote_frees{0};

// An index in [0, 32) from a slab's address, for the per-cache tables of 32
// entries (pending chains, revived slabs). Slabs lie 64-byte aligned: hashed
// from the address above that, without a division.
inline size_t SlabIndex32(const Slab* s) {
  return ((reinterpret_cast<uintptr_t>(s) >> 6) * 0x9E3779B97F4A7C15ull) >> 59;
}

void PushFront(SlabList& l, Slab* s) {
  s->prev = nullptr;
  s->next = l.head;
  if (l.head) l.head->prev = s;
  else l.tail = s;
  l.head = s;
}

void PushBack(SlabList& l, Slab* s) {
  s->next = nullptr;
  s->prev = l.tail;
  if (l.tail) l.tail->next = s;
  else l.head = s;
  l.tail = s;
}

void Remove(SlabList& l, Slab* s) {
  if (s->prev) s->prev->next = s->next;
  else l.head = s->next;
  if (s->next) s->next->prev = s->prev;
  else l.tail = s->prev;
  s->prev = s->next = nullptr;
}

// A remote list longer than its slab: two threads freed one block at the same
// instant (a race the free key cannot see) and the heap is corrupt. Say so and
// stop, as glibc does on corruption it detects.
[[noreturn]] ABSL_ATTRIBUTE_NOINLINE void ReportCorruptList(const Slab* s) {
  LogLine().Str("hakmem: heap corruption: the remote free list of the slab at ")
      .Ptr(s->start).Str(" holds more blocks than the slab (a block freed twice at once?)");
  abort();
}

// The slab of a block this cache holds (so its unit is a carved span's).
Slab* SlabOf(void* p) { return RangeMap::MetaOf<Slab>(RangeMap::Lookup(p)); }

}  // namespace

namespace {
std::atomic<uint64_t> g_flush_epoch{0};
std::atomic<uint64_t> g_flush_mask{0};
std::atomic<PlaceholderRoute> g_placeholder_route{nullptr};
}  // namespace

void InstallPlaceholderRoute(PlaceholderRoute route) {
  g_placeholder_route.store(route, std::memory_order_relaxed);
}

void RequestBinFlush(uint64_t class_mask) {
  g_flush_mask.store(class_mask, std::memory_order_relaxed);
  g_flush_epoch.fetch_add(1, std::memory_order_release);
}

void ThreadCache::FlushRequestedBins(int refilling) {
  flush_epoch_seen_ = g_flush_epoch.load(std::memory_order_acquire);
  const uint64_t mask = g_flush_mask.load(std::memory_order_relaxed);
  for (int c = 0; c < kNumClasses; ++c) {
    // The class being refilled is in use right now, whatever was asked.
    if (c != refilling && (mask & (uint64_t{1} << c)) != 0) DrainQuietClass(c);
  }
}

void ThreadCache::DrainQuietClass(int c) {
  UndoTurns(c);  // quiet: its turns are over
  // Nothing will carve these spans again soon: their pages go back now,
  // not after a stay in the idle stacks and the resident free units.
  releasing_quiet_ = true;
  TrimBin(c, 0);
  ReleaseEmptySlabs(c);  // the current slab too: the class is quiet
  releasing_quiet_ = false;
}

void ThreadCache::Upkeep(uint64_t now_ms, uint64_t decay_ms, uint64_t budget_bytes) {
  sync::SpinLockHolder hold(&slab_lock_);
  clock_ms_ = static_cast<uint32_t>(now_ms);
  next_idle_look_ms_ = 0;  // working: the next idle spell is looked at at once
  idle_look_delay_ms_ = 0;
  if (g_flush_epoch.load(std::memory_order_relaxed) != flush_epoch_seen_) FlushRequestedBins(-1);
  TrimQuietBins(now_ms, decay_ms);
  JudgeBigBlocks();
  if (spare_count_ != 0 && (!wants_spare_spans_ || clock_ms_ - spare_span_ms_ >= decay_ms)) {
    ReleaseSpareSpans();
  }
  ShrinkBins(budget_bytes);
}

void ThreadCache::TrimQuietBins(uint64_t now_ms, uint64_t decay_ms) {
  if (now_ms < next_bin_trim_ms_) return;
  // Looks four times per delay, so a class goes back between 1 and 1.25
  // delays after its last allocation.
  next_bin_trim_ms_ = now_ms + decay_ms / 4;
  bool drained = false;
  for (int c = 0; c < kNumClasses; ++c) {
    PublishAllocs(c);
    const uint64_t allocs = allocs_[c].Read();
    if (allocs != allocs_at_trim_[c]) {
      allocs_at_trim_[c] = allocs;
      active_ms_[c] = now_ms;
      continue;
    }
    if (now_ms - active_ms_[c] < decay_ms) continue;
    // Quiet: it may borrow again, also when it holds nothing now (its spans
    // went back as its blocks were freed).
    ForgetBorrowing(c);
    // Quiet even with an empty bin: its slabs may have emptied by frees
    // that went straight to them (over the limit, or from other threads).
    if (bins_[c].head != nullptr || stash_[c].head != nullptr || partial_[c].head != nullptr ||
        full_[c].head != nullptr) {
      DrainQuietClass(c);
      drained = true;
    }
  }
  if (drained) FlushRemote();  // other owners' blocks among them go home now
}

void CountOrphanRemoteFree() { g_orphan_remote_frees.fetch_add(1, std::memory_order_relaxed); }
uint64_t OrphanRemoteFrees() { return g_orphan_remote_frees.load(std::memory_order_relaxed); }

namespace {
std::atomic<uint32_t> g_next_shard{0};
}  // namespace

void ThreadCache::Init() {
  InitFreeKey();
  shard_ = g_next_shard.fetch_add(1, std::memory_order_relaxed);
  const uint32_t refill_max = GetConfig().tiny_refill_max;
  for (int c = 0; c < kNumClasses; ++c) {
    // A refill moves at most RefillBytes(c) worth of blocks (at least one, at
    // most HAKMEM_TINY_REFILL_MAX; StartOver's slow start gets there); the bin
    // flushes half when it holds more than two refills.
    uint32_t batch = static_cast<uint32_t>(RefillBytes(c) / ClassSize(c));
    if (batch > refill_max) batch = refill_max;
    if (batch == 0) batch = 1;
    batch_[c] = batch;
    limit_[c] = FullLimit(c);
    bins_[c].SetRoom(limit_[c]);  // empty (no count to take from before this)
  }
  initialized_ = true;
  StartOver();
}

void ThreadCache::StartOver() {
  // Refills of a class start at FirstBatch and double up to its batch: a
  // thread that allocates a few blocks of a class carves a few, and one that
  // allocates many gets full batches after at most four refills.
  clock_ms_ = 0;  // the last thread's: no refill looks rare before the first upkeep
  remote_ring_.Open();
  {
    // Nor are the last thread's big blocks this one's (an idle look may hold
    // the lock of a cache in the pool of exited threads' heaps).
    sync::SpinLockHolder hold(&slab_lock_);
    KeepBigBlocksInBins(false);
  }
  for (int c = 0; c < kNumClasses; ++c) {
    last_refill_ms_[c] = 0;
    next_batch_[c] = FirstBatch(c);
    carve_run_[c] = 0;
    foreign_[c] = ForeignShare{0, bins_[c].Pops(), kNoRoomFloor, false, 0};
    window_start_[c] = WindowStart{Count(c), moved_[c]};
    ForgetBorrowing(c);
    UndoTurns(c);  // the last thread's turns are not this one's
  }
}

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
  // A refill of another class since the caller found bin c empty may have
  // put blocks from the ring in it (a miss that tried to borrow first).
  if (ABSL_PREDICT_FALSE(bins_[c].head != nullptr)) return true;
  // Both callers found bin c empty: its count starts from 0, not from what
  // an estimate left (a chain taken whole is counted by its pushers, who
  // may lag).
  SetCount(c, 0);
  if (ABSL_PREDICT_FALSE(g_flush_epoch.load(std::memory_order_relaxed) != flush_epoch_seen_)) {
    FlushRequestedBins(c);
  }
  uint32_t revived = 0;
  if (ABSL_PREDICT_FALSE(revived_mask_.load(std::memory_order_relaxed) & (uint64_t{1} << c))) {
    revived = ReviveParked(c);
  }
  // Blocks others freed into the ring come first, every one of them (of
  // any Mid class): they are free already, and each left there is one the
  // program cannot have.
  uint32_t got = remote_ring_.HasBlocks() ? TakeRing(c) : 0;
  uint32_t want = next_batch_[c];
  // A class refilled long after its last refill is allocated rarely: the
  // refill moves half as much and the next ones no more (kRareRefillMs).
  const bool rare = last_refill_ms_[c] != 0 && clock_ms_ - last_refill_ms_[c] >= kRareRefillMs;
  if (rare && want > 1) want /= 2;
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
  // Refill after refill carving: the program is building up the class.
  if (!carved) {
    carve_run_[c] = 0;
  } else if (carve_run_[c] < kMaxCarveRun) {
    ++carve_run_[c];
  }
  last_refill_ms_[c] = clock_ms_;  // not at a Fresh::kNo miss: it was no refill
  if (rare) {
    next_batch_[c] = want;
    GrowLimit(c);
  } else {
    GrowAfterRefill(c, want);
  }
  counters_.refills[c].Add(1);
  return true;
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
    void* chain = s->remote.TakeAll();
    if (chain != nullptr) {
      b.head = chain;
      const uint32_t n = s->remote_count.exchange(0, std::memory_order_relaxed);
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
  void* chain = s->remote.TakeAll();
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
  s->remote_count.store(0, std::memory_order_relaxed);  // counted exactly here
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

namespace {

// Lays out a span fresh from the SuperSlab manager for class c, its blocks
// starting at this span's colour (size_classes.h: kColorAbove).
void Format(Slab* s, int c) {
  const ClassInfo& info = kClassInfo[c];
  char* span = s->superslab->base + size_t{s->first_unit} * kUnitSize;
  const uint64_t hash = (reinterpret_cast<uintptr_t>(span) >> kUnitShift) * 0x9E3779B97F4A7C15ull;
  s->start = span + ((hash >> 32) % info.colors) * 64;
  s->block_size = info.size;
  s->capacity = info.capacity;
  s->carved.store(0, std::memory_order_relaxed);
  s->local_free = nullptr;
  s->local_count = 0;
  s->used = 0;
  __atomic_store_n(&s->size_class, static_cast<uint8_t>(c), __ATOMIC_RELAXED);  // PushRemote
  s->PublishDigest();
}

}  // namespace

Slab* ThreadCache::NewSlab(int c, Idle idle) {
  // The tier's span source (span_source.h) may keep idle spans and take
  // several per refill; idle ones come first.
  const SpanSource* source = SpanSourceFor(c);
  Slab* spans[kMaxSpansPerRefill];
  uint32_t want = 1;
  uint32_t n = 0;
  if (source != nullptr) {
    // Idle only: the one span the refill needs in place of the current slab's room.
    want = idle == Idle::kOnly ? 1 : source->spans_per_refill(c);
    n = source->take_idle(c, shard_, spans, want);
  }
  if (n != 0) {
    counters_.spans_reused[c].Add(n);
  } else if (Slab* spare = TakeSpareSpan(kClassInfo[c].span_units,
                                         HasOneBlockSpans(c) ? kSpareSlackUnits : 0)) {
    Format(spare, c);
    spans[0] = spare;
    n = 1;
    counters_.spans_reused[c].Add(1);
  } else if (idle == Idle::kOnly) {
    return nullptr;
  } else {
    // Free units already mapped, then other classes' idle spans, and only
    // then new memory.
    const uint32_t units = kClassInfo[c].span_units;
    ReclaimIdleOwnersSpans();
    n = AcquireSpans(units, spans, want, MayMap::kNo);
    // Given-back spans may not lie next to each other: keep reclaiming until
    // a run of free units is long enough, nothing idle is left, or four times
    // the units wanted came back without a run (then mapping is cheaper than
    // emptying every cache of idle spans).
    uint32_t reclaimed = 0;
    while (n == 0 && reclaimed < 4 * units * want) {
      const uint32_t got = ReclaimIdleSpans(c, units * want);
      if (got == 0) break;
      reclaimed += got;
      n = AcquireSpans(units, spans, want, MayMap::kNo);
    }
    if (n == 0) n = AcquireSpans(units, spans, want, MayMap::kYes);
    if (n == 0) return nullptr;
    for (uint32_t i = 0; i < n; ++i) Format(spans[i], c);
    counters_.spans_new[c].Add(n);
  }
  // The first span ends up at the head of the partial queue: the current one.
  for (uint32_t i = n; i-- > 0;) {
    Slab* s = spans[i];
    s->parked_full.store(false, std::memory_order_relaxed);
    s->queue = SlabQueue::kPartial;
    PushFront(partial_[c], s);
    s->owner.store(this, std::memory_order_release);
    s->PublishDigest();
  }
  return spans[0];
}

void ThreadCache::Release(Slab* s) {
  Remove(s->queue == SlabQueue::kFull ? full_[s->size_class] : partial_[s->size_class], s);
  s->queue = SlabQueue::kNone;
  s->owner.store(nullptr, std::memory_order_relaxed);
  s->PublishDigest();
  // An idle span keeps its class layout and free list for the next refill.
  if (releasing_quiet_) return ReleaseSpan(s, Residency::kDecommit);
  const SpanSource* source = SpanSourceFor(s->size_class);
  // A thread living on big blocks (fast, and a good share of its
  // allocations) hands its emptied L2.5 spans to the class's idle stack
  // (pools/mid: IdleCap) rather than to the SuperSlab manager's lock.
  const SpanDemand demand =
      big_bins_ && wants_spare_spans_ ? SpanDemand::kBigBlocks : SpanDemand::kUsual;
  // A span longer than its class's (a spare that served a shorter class)
  // stays out of the idle stacks, whose bounds count the class's length.
  const bool class_length = s->units == kClassInfo[s->size_class].span_units;
  if (source != nullptr && class_length && source->keep_idle(s, shard_, demand)) return;
  if (wants_spare_spans_ && s->capacity == 1 && s->units <= kSpareUnits) return KeepSpareSpan(s);
  ReleaseSpan(s);
}

void ThreadCache::JudgeBigBlocks() {
  uint32_t pops = 0;
  uint32_t l25_pops = 0;
  for (int c = 0; c < kNumClasses; ++c) {
    pops += bins_[c].Pops();
    if (TierOfClass(c) == Tier::kL25) l25_pops += bins_[c].Pops();
  }
  const uint32_t all = pops - pops_at_judge_;
  const uint32_t l25 = l25_pops - l25_pops_at_judge_;
  if (all != 0) wants_spare_spans_ = uint64_t{l25} * kSpareShareDivisor >= all;
  pops_at_judge_ = pops;
  l25_pops_at_judge_ = l25_pops;
  // The rate over at least kBigRateWindowMs (upkeeps can come closer).
  const uint32_t elapsed = clock_ms_ - big_rate_ms_;
  if (elapsed < kBigRateWindowMs) return;
  // Half the rate to stop: a thread near it does not flip every window.
  const uint32_t rate = big_bins_ ? kBigBinPopsPerMs / 2 : kBigBinPopsPerMs;
  KeepBigBlocksInBins(l25_pops - l25_pops_at_rate_ >= uint64_t{rate} * elapsed);
  big_rate_ms_ = clock_ms_;
  l25_pops_at_rate_ = l25_pops;
}

void ThreadCache::KeepBigBlocksInBins(bool keep) {
  if (keep == big_bins_) return;
  big_bins_ = keep;
  if (keep) return;  // the limits grow from 0 as the classes refill (FillBin)
  for (int c = 0; c < kNumClasses; ++c) {
    if (TierOfClass(c) != Tier::kL25) continue;
    SetLimit(c, 0);
    TrimBin(c, 0);
  }
}

void ThreadCache::KeepSpareSpan(Slab* s) {
  // The oldest go back until the new one fits.
  while (spare_count_ == kSpareSpans || spare_units_ + s->units > kSpareUnits) {
    Slab* oldest = spare_[0];
    spare_units_ -= oldest->units;
    --spare_count_;
    std::copy(spare_ + 1, spare_ + 1 + spare_count_, spare_);
    ReleaseSpan(oldest);
  }
  spare_[spare_count_++] = s;
  spare_units_ += s->units;
  spare_span_ms_ = clock_ms_;
}

Slab* ThreadCache::TakeSpareSpan(uint32_t units, uint32_t slack) {
  // The shortest that fits, the newest among those (its pages are the warmest).
  int best = -1;
  for (uint32_t i = spare_count_; i-- > 0;) {
    const uint32_t len = spare_[i]->units;
    if (len < units || len > units + slack) continue;
    if (best < 0 || len < spare_[best]->units) best = static_cast<int>(i);
  }
  if (best < 0) return nullptr;
  Slab* s = spare_[best];
  --spare_count_;
  std::copy(spare_ + best + 1, spare_ + 1 + spare_count_, spare_ + best);
  spare_units_ -= s->units;
  return s;
}

void ThreadCache::ReleaseSpareSpans() {
  for (uint32_t i = 0; i < spare_count_; ++i) ReleaseSpan(spare_[i]);
  spare_count_ = 0;
  spare_units_ = 0;
}

void ThreadCache::MaybeRelease(Slab* s) {
  // The current slab stays even when empty: it would be needed again at once.
  // Not an L2.5 span: one of a block has nothing left to carve, and one of a
  // few big blocks kept empty in each class and thread held megabytes
  // (alloc_test_2t's peak 37.8 -> 40.0 MiB).
  if (s->used == 0 &&
      (s != partial_[s->size_class].head || TierOfClass(s->size_class) == Tier::kL25)) {
    Release(s);
  }
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

int32_t ThreadCache::FullLimit(int c) const {
  // A bin of a class above 32 KiB (L2.5) keeps no block but at a high rate
  // of such blocks (KeepBigBlocksInBins): they are mostly rare and big, and
  // one cached in each of the 20 such bins of every thread added up to
  // megabytes (alloc_test: 3.7 MiB per thread) while a request of the same
  // class rarely came next; a free and a malloc then cost a slow path, next
  // to the memory the program touches in such a block, nothing. The block
  // goes back to its span, and the span, once empty, to the SuperSlab
  // manager (MaybeRelease, even when current), whose resident free units
  // serve any class.
  if (TierOfClass(c) == Tier::kL25) return big_bins_ ? static_cast<int32_t>(kBigBinBlocks) : 0;
  return static_cast<int32_t>(2 * batch_[c]);
}

void ThreadCache::Flush(int c) {
  sync::SpinLockHolder hold(&slab_lock_);
  const uint32_t pops = bins_[c].Pops();
  if (pops == pops_at_flush_[c]) {
    // Nothing of the class handed out since its last flush: the program is
    // giving the class back (a structure freed, a phase over). Each block
    // left in the bin would pin a span whose other blocks are all free (a
    // phase change left 30 MiB per thread so), so the bin gives back all it
    // holds and keeps less from now on; refills (the class in demand again)
    // let it grow back.
    // Counted for GrowForTurns, in case the program takes them again.
    drained_[c] += static_cast<uint32_t>(std::max(Count(c), 0));
    // Half, but not below DrainingLimit (nor above a smaller limit).
    SetLimit(c, std::max(limit_[c] / 2, std::min(limit_[c], DrainingLimit(c))));
    TrimBin(c, 0);
  } else {
    // The newest half stays; the older half is put aside whole for the next
    // refill, unless one is aside already or it is too big.
    int32_t rest_count = 0;
    void* rest = SplitBin(c, limit_[c] / 2 > 0 ? limit_[c] / 2 : limit_[c], &rest_count);
    // Not for one-block spans: their stash holds what the inbox brought
    // (TakeInboxShare).
    if (stash_[c].head == nullptr && rest != nullptr && limit_[c] > 1 &&
        !HasOneBlockSpans(c) && uint64_t(rest_count) * ClassSize(c) <= kStashMaxBytes) {
      stash_[c] = Stash{rest, rest_count};
    } else {
      ReturnToSlabs(rest);
    }
  }
  pops_at_flush_[c] = pops;
  counters_.flushes.Add(1);
  // Big bins fill without refills, which is where upkeeps (and ShrinkBins)
  // run: at their overflow the bins go back within the thread's budget once
  // they hold twice it (each time they pass it, larson and xthread with big
  // blocks lost 4 - 7 % to the trims). Not while they keep nothing: every
  // L2.5 free is a flush then, and the sum over all bins was 0.7 % of
  // alloc_test_1t's time.
  if (TierOfClass(c) == Tier::kL25 && big_bins_) {
    const uint64_t budget = GetConfig().thread_cache_bytes;
    if (CachedBytes() > 2 * budget) ShrinkBins(budget);
  }
}

void ThreadCache::TrimBin(int c, int32_t keep) {
  ReturnStash(c);
  ReturnInbox(c);
  int32_t rest_count = 0;
  ReturnToSlabs(SplitBin(c, keep, &rest_count));
}

namespace {

// Cuts the chain that starts at `head` after its first `keep` blocks (at
// least one; all of them if it ends first): returns the rest (nullptr if
// none) and how many stayed in *kept.
void* CutChain(void* head, uint32_t keep, uint32_t* kept) {
  void* last = head;
  uint32_t n = 1;
  for (void* next; n < keep && (next = *static_cast<void**>(last)) != nullptr; ++n) last = next;
  void* rest = *static_cast<void**>(last);
  *static_cast<void**>(last) = nullptr;
  *kept = n;
  return rest;
}

}  // namespace

void* ThreadCache::SplitBin(int c, int32_t keep, int32_t* rest_count) {
  Bin& b = bins_[c];
  PublishAllocs(c);
  const int32_t count = Count(c);
  // The count may be an estimate: walk the list, and stop at its end.
  void* rest = b.head;
  if (rest == nullptr) {  // an empty bin whose stash holds blocks (ShrinkBins)
    SetCount(c, 0);
    *rest_count = 0;
    return nullptr;
  }
  if (keep > 0) {
    uint32_t kept;
    rest = CutChain(b.head, static_cast<uint32_t>(keep), &kept);
    SetCount(c, kept);
    *rest_count = std::max(count - static_cast<int32_t>(kept), 1);
  } else {
    b.head = nullptr;
    SetCount(c, 0);
    *rest_count = std::max(count, 1);
  }
  return rest;
}

void ThreadCache::ReturnStash(int c) {
  void* chain = stash_[c].head;
  if (chain == nullptr) return;
  stash_[c] = Stash{};
  ReturnToSlabs(chain);
}

uint32_t ThreadCache::TakeStash(int c) {
  // Bin c is empty (FillBin): the stash becomes the bin as it is.
  const Stash stash = stash_[c];
  if (stash.head == nullptr) return 0;
  stash_[c] = Stash{};
  bins_[c].head = stash.head;
  SetCount(c, stash.count);
  return static_cast<uint32_t>(stash.count);
}

uint32_t ThreadCache::TakeInboxShare(int c, uint32_t want) {
  // Bin c is empty (FillBin). The inbox comes whole into the stash, and a
  // refill's worth goes on to the bin.
  Stash& s = stash_[c];
  if (s.head == nullptr) {
    uint32_t n = 0;
    s.head = inbox_.Take(c, &n);
    if (s.head == nullptr) return 0;
    s.count = static_cast<int32_t>(n);
  }
  void* first = s.head;
  uint32_t got;
  s.head = CutChain(first, want, &got);
  s.count = s.head != nullptr ? std::max<int32_t>(s.count - static_cast<int32_t>(got), 1) : 0;
  bins_[c].head = first;
  SetCount(c, got);
  return got;
}

uint64_t ThreadCache::BinBytes(int c) const {
  // An estimated count can fall below 0 (a chain's count lagging its pushes).
  const uint64_t in_bin = bins_[c].head != nullptr ? uint64_t(std::max(Count(c), 0)) : 0;
  // Not a one-block class's stash (the inbox's rest, TakeInboxShare): those blocks lay on
  // their spans' remote lists before, uncounted, and counted here ShrinkBins
  // gave their spans back one by one for the next refills to take anew
  // (xmalloc, 16 - 256 KiB blocks: 0.61x).
  const uint64_t stashed = HasOneBlockSpans(c) ? 0 : uint64_t(stash_[c].count);
  return (in_bin + stashed) * ClassSize(c);
}

uint64_t ThreadCache::CachedBytes() const {
  uint64_t total = 0;
  for (int c = 0; c < kNumClasses; ++c) total += BinBytes(c);
  return total;
}

void ThreadCache::ShrinkBins(uint64_t budget_bytes) {
  uint64_t bytes[kNumClasses];
  uint64_t total = 0;
  for (int c = 0; c < kNumClasses; ++c) total += bytes[c] = BinBytes(c);
  if (total <= budget_bytes) return;
  // Halve the bins that hold the most bytes until a quarter is left over.
  while (total > budget_bytes * 3 / 4) {
    const int biggest = static_cast<int>(std::max_element(bytes, bytes + kNumClasses) - bytes);
    if (bytes[biggest] == 0) break;
    TrimBin(biggest, Count(biggest) / 2);
    UndoTurns(biggest);  // over the budget: no bin holds turns
    const uint64_t left = BinBytes(biggest);
    total -= bytes[biggest] - left;
    bytes[biggest] = left;
  }
  FlushRemote();  // other owners' blocks among them go home now
}

namespace {

// Hands a chain of blocks of `slab` to its owner (slab.h: parking protocol).
void PushRemote(Slab* slab, void* first, void* last, uint32_t n) {
  const bool was_empty = slab->remote.PushChain(first, last);
  slab->remote_count.fetch_add(n, std::memory_order_relaxed);
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
    named = entry.load(std::memory_order_relaxed) == nullptr &&
            entry.compare_exchange_strong(empty, slab, std::memory_order_relaxed);
  }
  // Published by the release below: the owner clears the bit before it looks.
  if (!named) revived_overflow_mask_.fetch_or(bit, std::memory_order_relaxed);
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

void ThreadCache::JudgeExchange(int c) {
  ForeignShare& f = foreign_[c];
  const uint32_t pops = bins_[c].Pops() - f.pops_at_start;
  if (f.keep) {
    f.keep = uint64_t{f.frees} * kLeaveDivisor >= pops;
  } else {
    const bool exchange = uint64_t{f.frees} * 8 >= uint64_t{pops} * kEnterEighths &&
                          OwnFreesThisWindow(c) * 8 <= int64_t{pops} * kEnterOwnEighths;
    f.streak = exchange ? f.streak + 1 : 0;
    f.keep = f.streak >= kEnterStreak;
  }
  f.frees = 0;
  f.pops_at_start = bins_[c].Pops();
  window_start_[c] = WindowStart{Count(c), moved_[c]};
  SetRoomFloor(c);
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
  foreign_[c].room_floor =
      foreign_[c].keep ? static_cast<uint32_t>(Bin::kRoomBias + limit_[c] - keep) : kNoRoomFloor;
}

void ThreadCache::SetLimit(int c, int32_t limit) {
  const int32_t n = Count(c);
  limit_[c] = limit;
  bins_[c].SetRoom(limit - n);  // the count is unchanged: nothing moved (SetCount)
  SetRoomFloor(c);
}

void ThreadCache::FreeOthersBlock(void* p, const UnitEntry& unit) {
  const int c = static_cast<int>(unit.slab.class_offset.load(std::memory_order_relaxed) /
                                 kDigestClassScale);
  // The fast path read only the digest: a double free racing its span's
  // release can pass it and find the unit given back by now (its key gone
  // with the decommitted page). Nothing of a SuperSlab is taken for a Slab.
  const uintptr_t word = unit.word.load(std::memory_order_acquire);
  if (ABSL_PREDICT_FALSE(!RangeMap::IsSlab(word))) return ReportInvalidFree(p, BadFree::kFreeMemory);
  Slab* slab = RangeMap::SlabMetaOf<Slab>(word);
  if (ABSL_PREDICT_FALSE(!initialized_)) return FreeFromPlaceholder(slab, p);
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
  JudgeExchange(c);
  KeepOrSendHome(c, slab, p);
}

ABSL_ATTRIBUTE_ALWAYS_INLINE inline void ThreadCache::KeepOrSendHome(int c, Slab* slab, void* p) {
  // Kept only in an exchange, and while this bin runs low (the thread
  // allocates the class as fast as it frees others' blocks and would refill
  // at once), else home to its owner, chained with others for its slab.
  // Below a quarter of the limit: at an eighth, threads trading batches of
  // 32 blocks found the bin at the threshold after each refill took a chain
  // that came home, and sent all home again; at a half, xthread peaked at
  // 9.0-9.6 MiB (7.9-8.1 at a quarter, 7.4 keeping less).
  // The fast path's test (KeepsForeignFast), after the verdict.
  if (foreign_[c].keep && bins_[c].RoomAbove(foreign_[c].room_floor)) {
    Push(bins_[c], p, FreeKey());  // never past the limit: room above the floor
    return;
  }
  KeyWord(p) = FreeKey();
  if (TierOfClass(c) == Tier::kMid && SendToRing(slab, c, p)) return;
  QueueRemote(slab, static_cast<uint32_t>(ClassSize(c)), p);
}

bool ThreadCache::SendToRing(Slab* slab, int c, void* p) {
  // A block of the slab the class's last one went to continues a run (a
  // structure freed in the order it was built, a consumer freeing its
  // producer's batch): runs are chained on their slab, which takes them
  // back whole.
  const bool run = last_sent_slab_[c] == slab;
  last_sent_slab_[c] = slab;
  if (run) return false;
  // The block keeps its slab (and so the slab its owner) until the owner
  // takes it: the owner read here is the one whose ring it reaches. Read
  // from the span's digest, on the line free has just read, not from the
  // Slab's first line, which its owner writes.
  auto* owner = static_cast<ThreadCache*>(const_cast<void*>(
      RangeMap::UnitAliased(p).slab.owner.load(std::memory_order_relaxed)));
  if (owner == nullptr || !owner->remote_ring_.TryPush(RemoteRing::Word(p, c))) return false;
  counters_.remote_frees.Add(1);
  return true;
}

uint32_t ThreadCache::TakeRing(int c) {
  uint32_t got = 0;
  remote_ring_.TakeAll([&](void* p, int k) {
    // Its free key is set (the freeing thread's KeepOrSendHome); it counts
    // as used by its slab in the ring as in the bin, so only the count moves.
    if (Count(k) < limit_[k]) {
      FreeBlockLink::SetNext(p, bins_[k].head);
      bins_[k].head = p;
      SetCount(k, Count(k) + 1);
      got += k == c;
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
    if (!HoldsFreeKey(p)) {  // in use: only its key byte matched
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
  for (PendingChain& chain : pending_) {
    if (chain.slab != nullptr) SendPending(chain);
  }
  for (ScatteredChain& sc : scattered_) {
    if (sc.owner != nullptr) PushScattered(sc);
  }
}

void ThreadCache::Drain() {
  sync::SpinLockHolder hold(&slab_lock_);
  for (int c = 0; c < kNumClasses; ++c) TrimBin(c, 0);
  FlushRemote();  // other owners' blocks from the bins, and any chained before
  for (int c = 0; c < kNumClasses; ++c) ReleaseEmptySlabs(c);
  ReleaseSpareSpans();
}

void ThreadCache::ReleaseEmptiedSpansForIdleOwner(uint64_t now_ms) {
  if (!slab_lock_.TryLock()) return;
  if (now_ms >= next_idle_look_ms_) {
    uint32_t released = 0;
    for (int c = 0; c < kNumClasses; ++c) {
      released += ReleaseEmptySlabs(c, RemoteDrain::kEmptiedOnly);
    }
    released += spare_count_;
    ReleaseSpareSpans();
    idle_look_delay_ms_ =
        released != 0 ? kIdleLookDelayMs
                      : std::clamp(2 * idle_look_delay_ms_, kIdleLookDelayMs, kIdleLookMaxDelayMs);
    next_idle_look_ms_ = now_ms + idle_look_delay_ms_;
  }
  slab_lock_.Unlock();
}

uint32_t ThreadCache::ReleaseEmptySlabs(int c, RemoteDrain drain) {
  // Only partial slabs can have emptied. A parked (full) slab holds no free
  // block, and the first remote free into one revives it (slab.h), which
  // ReviveParked moves to the partial list; so the full slabs, most of a big
  // live heap, are not walked. Walking them read each one's record and
  // remote list on every look: a thread holding 2 GiB of 64 B blocks and
  // waiting had its 32 k slabs walked every 5 ms by the others' refills
  // (ReclaimIdleOwnersSpans), 12 % of a working thread's time.
  ReturnInbox(c);
  if (revived_mask_.load(std::memory_order_relaxed) & (uint64_t{1} << c)) ReviveParked(c);
  uint32_t released = 0;
  for (Slab* s = partial_[c].head; s != nullptr;) {
    Slab* next = s->next;
    // kEmptiedOnly: a span all of whose blocks out have come back; the
    // other chains stay for the owner to take whole. Walking them for an
    // idle-looking owner missed on every block (rptest_4t, whose threads
    // wait their turn on 2 cores, ran at 0.80x).
    if (drain == RemoteDrain::kAll ||
        (s->used != 0 && s->remote_count.load(std::memory_order_relaxed) >= s->used)) {
      DrainRemote(s);
    }
    if (s->used == 0) {
      Release(s);
      ++released;
    }
    s = next;
  }
  return released;
}

}  // namespace hakmem::tiny
