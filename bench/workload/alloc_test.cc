// alloc_test: a realistic size skew and a live set that wanders (after the
// idea of the "alloc-test" allocator benchmark, written from its
// description).
//
// Every thread keeps its live blocks in a dense array of up to `slots` entries
// (8192 by default). A step either allocates a block (appended to the array)
// or frees a random live one (verified; the last entry moves into its place).
// Which one depends on a target live count that changes every 65,536 steps to
// a random value between slots / 8 and slots: below the target a step
// allocates with probability 3/4, above it with 1/4, so the live set drifts up
// and down through the run rather than sitting at one size, and frees come in
// random order. Sizes: 999 in 1000 from min_size to max_size (8 B - 64 KiB)
// with a power-law skew (common.h's SkewedSizes, shape 0.7: median about 22 B,
// one in 30 over 1 KiB, mean about 260 B); 1 in 1000 uniform between
// max_size and 16 x max_size (64 KiB - 1 MiB), the occasional large buffer.
// Each thread starts (untimed) with slots / 2 live blocks. The threads share
// nothing.
//
// One op is one step: one malloc or one free (about as many of each). --ops:
// steps per thread.
#include "bench/workload/common.h"

namespace hakmem_bench {
namespace {

constexpr double kShape = 0.7;
constexpr uint64_t kLargeOneIn = 1000;
constexpr uint64_t kEpoch = 65536;

void AllocTestThread(const Config& cfg, const SkewedSizes* sizes, int index, RunControl* ctl,
                     ThreadResult* result) {
  Rng rng(cfg.seed, static_cast<uint64_t>(index));
  uint64_t errors = 0;
  const size_t cap = cfg.slots;
  auto* live = static_cast<Block*>(calloc(cap, sizeof(Block)));
  size_t n = 0;
  auto allocate = [&] {
    const size_t size =
        rng.Below(kLargeOneIn) == 0 ? rng.Size(cfg.max_size, 16 * cfg.max_size) : sizes->Draw(rng);
    live[n++] = NewBlockOfSize(size, cfg.touch, &errors);
  };
  while (n < cap / 2) allocate();
  size_t target = cap / 2;

  ctl->WaitForGo();
  uint64_t ops = 0;
  for (; !RunOver(cfg, ctl, ops); ++ops) {
    if (ops % kEpoch == kEpoch - 1) target = cap / 8 + rng.Below(cap - cap / 8 + 1);
    const bool grow = n == 0 || (n < cap && rng.Below(4) < (n < target ? 3u : 1u));
    if (grow) {
      allocate();
    } else {
      const size_t i = rng.Below(n);
      FreeBlock(live[i], &errors);
      live[i] = live[--n];
    }
  }
  FinishSlots(live, n, ops, errors, result);
}

}  // namespace

Outcome RunAllocTest(const Config& cfg) {
  const SkewedSizes sizes(cfg.min_size, cfg.max_size, kShape);
  return RunIndependentThreads(cfg, [&](const Config& c, int i, RunControl* ctl, ThreadResult* r) {
    AllocTestThread(c, &sizes, i, ctl, r);
  });
}

}  // namespace hakmem_bench
