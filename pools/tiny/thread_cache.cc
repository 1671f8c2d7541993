// The thread cache engine (thread_cache.h): set-up, upkeep and teardown.
// Refills: thread_cache_refill.cc; spans: thread_cache_spans.cc; limits and
// flushes: thread_cache_flush.cc; others' blocks: thread_cache_remote.cc.
#include "pools/tiny/thread_cache.h"

#include <algorithm>

#include "core/base/config.h"
#include "pools/tiny/thread_cache_internal.h"

namespace hakmem::tiny {

namespace {

std::atomic<uint64_t> g_orphan_remote_frees{0};
std::atomic<uint64_t> g_flush_mask{0};

}  // namespace

namespace thread_cache_internal {
std::atomic<uint64_t> g_flush_epoch{0};
}  // namespace thread_cache_internal

using thread_cache_internal::g_flush_epoch;

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
    // went back as its blocks were freed), and its frees no longer mix.
    ForgetBorrowing(c);
    NoteMixing(c, false);
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
  own_match_ = OwnMatch(mixing_classes_);  // SetMixingClasses(0) below writes none
  StartOver();
}

void ThreadCache::StartOver() {
  // Refills of a class start at FirstBatch and double up to its batch: a
  // thread that allocates a few blocks of a class carves a few, and one that
  // allocates many gets full batches after at most four refills.
  clock_ms_ = 0;  // the last thread's: no refill looks rare before the first upkeep
  remote_ring_.Open();
  ring_refused_by_ = nullptr;  // the last thread's pause (RingOwnerOf)
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
    foreign_[c] = ForeignShare{0, bins_[c].Pops(), kNoRoomFloor, Keep::kNo, 0, 0};
    foreign_from_[c].store(nullptr, std::memory_order_relaxed);
    foreign_sent_[c] = 0;
    window_start_[c] = WindowStart{Count(c), moved_[c]};
    ForgetBorrowing(c);
    UndoTurns(c);  // the last thread's turns are not this one's
  }
  SetMixingClasses(0);
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
        (s->used != 0 && s->remote.Count() >= s->used)) {
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
