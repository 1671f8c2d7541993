// The thread cache's spans: new ones from the tier's span source, formatted
// for their class; emptied ones given back (or kept as spare spans), and
// the big-block bins' verdict (JudgeBigBlocks).
#include "pools/tiny/thread_cache.h"

#include <algorithm>

#include "pools/tiny/span_source.h"
#include "pools/tiny/superslab_manager.h"
#include "pools/tiny/thread_cache_internal.h"

namespace hakmem::tiny {

using thread_cache_internal::PushFront;
using thread_cache_internal::Remove;

namespace {

// Lays out a span fresh from the SuperSlab manager for class c, its blocks
// starting at this span's colour (size_classes.h: kColorAbove), or at its
// first byte (colour 0: aligned requests, kColourZero).
enum class Colour : bool { kHashed, kZero };
void Format(Slab* s, int c, Colour colour = Colour::kHashed) {
  const ClassInfo& info = kClassInfo[c];
  char* span = s->superslab->base + size_t{s->first_unit} * kUnitSize;
  const uint64_t hash = (reinterpret_cast<uintptr_t>(span) >> kUnitShift) * 0x9E3779B97F4A7C15ull;
  s->start = span + (colour == Colour::kZero ? 0 : ((hash >> 32) % info.colors) * 64);
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
    n = AcquireNewSpans(c, spans, want);
    if (n == 0) return nullptr;
    for (uint32_t i = 0; i < n; ++i) Format(spans[i], c);
    counters_.spans_new[c].Add(n);
  }
  TakeInSpans(c, spans, n);
  return spans[0];
}

uint32_t ThreadCache::AcquireNewSpans(int c, Slab** spans, uint32_t want) {
  // Free units already mapped, then other classes' idle spans, and only
  // then new memory.
  const uint32_t units = kClassInfo[c].span_units;
  ReclaimIdleOwnersSpans();
  uint32_t n = AcquireSpans(units, spans, want, MayMap::kNo);
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
  return n;
}

Slab* ThreadCache::NewColourZeroSlab(int c) {
  // A span NewSlab reuses (idle or spare, resident, no live block) is laid
  // out again at colour 0 unless it is already; else a new one.
  if (Slab* reused = NewSlab(c, Idle::kOnly)) {
    if (!reused->StartsAtColourZero()) Format(reused, c, Colour::kZero);
    return reused;
  }
  Slab* span;
  if (AcquireNewSpans(c, &span, 1) == 0) return nullptr;
  Format(span, c, Colour::kZero);
  counters_.spans_new[c].Add(1);
  TakeInSpans(c, &span, 1);
  return span;
}

void ThreadCache::TakeInSpans(int c, Slab** spans, uint32_t n) {
  // The first span ends up at the head of the partial queue: the current one.
  for (uint32_t i = n; i-- > 0;) {
    Slab* s = spans[i];
    s->parked_full.store(false, std::memory_order_relaxed);
    s->queue = SlabQueue::kPartial;
    PushFront(partial_[c], s);
    s->owner.store(this, std::memory_order_release);
    s->PublishDigest();
  }
}

void ThreadCache::Release(Slab* s) {
  if (colour_zero_[s->size_class] == s) colour_zero_[s->size_class] = nullptr;
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
  // The rate over at least kBigRateWindowMs (upkeeps can come closer), or
  // sooner to start when a whole window's worth came in less: a burst of big
  // blocks gets its bins after 2,000 of them, not after 10 ms (malloc and free
  // of one 56 KiB block in a loop paid 0.3 us a pair for its first 30,000
  // pairs). Not the rate over a shorter span: a program near the rate (alloc_
  // test, large) then started on a burst and stayed above half of it, its
  // peak 10 - 20 % higher.
  const uint32_t elapsed = clock_ms_ - big_rate_ms_;
  const uint32_t recent = l25_pops - l25_pops_at_rate_;
  const bool early = elapsed < kBigRateWindowMs && !big_bins_ &&
                     recent >= kBigBinPopsPerMs * kBigRateWindowMs;
  if (elapsed < kBigRateWindowMs && !early) return;
  // Half the rate to stop: a thread near it does not flip every window.
  const uint32_t rate = big_bins_ ? kBigBinPopsPerMs / 2 : kBigBinPopsPerMs;
  KeepBigBlocksInBins(early || recent >= uint64_t{rate} * elapsed);
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

}  // namespace hakmem::tiny
