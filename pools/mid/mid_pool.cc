#include "pools/mid/mid_pool.h"

#include <algorithm>

#include "core/base/config.h"
#include "pools/mid/idle_spans.h"
#include "pools/mid/pool_policy.h"
#include "pools/tiny/span_source.h"

namespace hakmem::mid {
namespace {

uint32_t SpansPerRefill(int c) {
  uint32_t want = GetConfig().pool_refill_batch;
  const uint32_t cap = PoolPolicy::Cap(c);
  if (want > cap) want = cap;
  if (want > tiny::kMaxSpansPerRefill) want = tiny::kMaxSpansPerRefill;
  return want > 0 ? want : 1;
}

// Whether blocks of class d lent ahead into bin c keep what an aligned request
// popping bin c relies on. A class of one colour is popped for an aligned
// request with no test of the address (kAlignedClassPlan: its blocks start at
// multiples of its size from a 64 KiB-aligned span); a lent block must start
// as aligned: at its span's start (a one-block span), or at a multiple of a
// size that is a multiple of c's alignment (another class of one colour).
// Classes of several colours are popped for alignment only when the head is
// aligned (TryPopAligned). (W_MAX Large 1.40 lent 112 KiB blocks to bin 96
// KiB, 1.43 80 KiB blocks to bin 64 KiB: posix_memalign(4096, 60000) could
// get an address 64 bytes past a page.)
bool LentBlocksKeepAlignment(int d, int c) {
  if (kClassInfo[c].colors > 1) return true;
  if (kClassInfo[d].capacity == 1) return true;
  const uint64_t size_c = ClassSize(c);
  const uint64_t kept = std::min<uint64_t>(size_c & (0 - size_c), kUnitSize);
  return kClassInfo[d].colors == 1 && ClassSize(d) % kept == 0;
}

constexpr tiny::SpanSource kIdleSpanSource = {
    .spans_per_refill = SpansPerRefill,
    .take_idle = TakeIdleSpans,
    .keep_idle = PutIdleSpan,
};

}  // namespace

void Init() {
  PoolPolicy::Init();
  tiny::InstallSpanSource(Tier::kMid, &kIdleSpanSource);
  tiny::InstallSpanSource(Tier::kL25, &kIdleSpanSource);
  tiny::InstallIdleReclaimer(ReclaimIdleSpansForOtherClass);
}

void* TryBorrow(tiny::ThreadCache& cache, int c, size_t size) {
  // L2.5 borrows walk nothing (its bins hold nothing to lend ahead), and
  // carving instead would map a span per block above 128 KiB, and carve
  // ahead in shared spans below.
  if (TierOfClass(c) == Tier::kMid && !cache.MayBorrowFor(c)) return nullptr;
  const uint64_t wmax = PoolPolicy::WmaxX100(TierOfClass(c));
  const uint64_t limit = wmax * (size == 0 ? 1 : size);
  // Blocks lent ahead serve c's later requests, the smallest of which is one
  // byte above the class below: they go only where W_MAX holds for it too.
  const uint64_t smallest = c > 0 ? ClassSize(c - 1) + 1 : 1;
  for (int d = c + 1; d < kNumClasses && uint64_t{ClassSize(d)} * 100 <= limit; ++d) {
    const bool lend_ahead =
        uint64_t{ClassSize(d)} * 100 <= wmax * smallest && LentBlocksKeepAlignment(d, c);
    if (void* p = cache.Borrow(d, c, size, lend_ahead)) return p;
  }
  // Every such bin empty: the next class's blocks freed back to its slabs
  // come before new memory for this one. Each class's footprint is its own
  // peak, and those add up (mid_4t 43.7 -> 41.9 MiB, rptest_4t 34.2 -> 32.2).
  // No lending ahead from there: it cost mid_1t 0.4 % more instructions for
  // the same memory.
  const int d = c + 1;
  if (d < kNumClasses && TierOfClass(d) == Tier::kMid && uint64_t{ClassSize(d)} * 100 <= limit &&
      cache.FillBin(d, tiny::ThreadCache::Fresh::kNo)) {
    return cache.Borrow(d, c, size, /*lend_ahead=*/false);
  }
  return nullptr;
}

}  // namespace hakmem::mid
