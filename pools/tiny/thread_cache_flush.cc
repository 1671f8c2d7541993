// The thread cache's bins: their limits, flushes of a full bin, trims of
// a quiet one, the stash, and the bytes they hold (ShrinkBins).
#include "pools/tiny/thread_cache.h"

#include <algorithm>

#include "core/base/config.h"

namespace hakmem::tiny {

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
  // An estimated count can fall below 0 (a chain taken whole counted as less
  // than it holds: TakeFreed).
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

void ThreadCache::SetLimit(int c, int32_t limit) {
  const int32_t n = Count(c);
  limit_[c] = limit;
  bins_[c].SetRoom(limit - n);  // the count is unchanged: nothing moved (SetCount)
  SetRoomFloor(c);
}

}  // namespace hakmem::tiny
