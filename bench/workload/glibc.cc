// The two workloads after glibc's malloc benchtests (benchtests/bench-malloc-simple.c and
// bench-malloc-thread.c), written from their description.
//
// glibc_simple: tight single-thread malloc/free loops of fixed sizes.
//
// 15 combinations, run one after the other in one run: sizes 16, 64, 256,
// 1024 and 4096 B, each with 1, 100 and 10,000 live blocks. A combination
// repeats: allocate n blocks of the size (each touched), then verify and free
// them in the order they were allocated. With n = 1 that is the allocator's
// hottest path (the same block again and again); with 10,000 the free lists
// and the memory behind them are walked.
//
// One op is one malloc + free pair. Timed runs give every combination an equal
// slice (--seconds / 15); --ops is pairs per combination (rounded up to a
// multiple of n). ops_per_sec is the aggregate (all pairs over the whole run);
// each run also prints the per-combination figures to stderr, one line per
// size. --min_size, --max_size and --slots are not used. With --threads > 1
// every thread runs the same schedule on its own, and the per-combination
// figures are the sum of the threads' rates.
//
// glibc_thread: every thread frees and reallocates random blocks of a small
// working set.
//
// Every thread owns `slots` blocks (1024 by default) and repeats: pick a random
// one, verify and free it, allocate a new one of a random size and touch it.
// Sizes run from min_size to max_size (4 B - 4 KiB) with density falling as
// 1/size (common.h's SkewedSizes, shape 0: each doubling of the size equally
// likely; mean about 600 B), so the working set is about 600 KiB per thread and
// stays in the cache: the allocator's own path is what is measured, with the
// size classes of every tier below 4 KiB in play. The threads share nothing.
//
// One op is one replacement (a free plus a malloc). --ops: replacements per
// thread. It differs from `tiny` in its size mix and working set, not in kind;
// the glibc_thread_{1,2,4}t presets scale it over threads.
#include <array>
#include <vector>

#include "bench/workload/common.h"

namespace hakmem_bench {
namespace {

constexpr size_t kSizes[] = {16, 64, 256, 1024, 4096};
constexpr size_t kLive[] = {1, 100, 10000};
constexpr int kCombos = 15;

struct ComboResult {
  uint64_t ops = 0;
  double seconds = 0;
};
using ComboResults = std::array<ComboResult, kCombos>;

void SimpleThread(const Config& cfg, RunControl* ctl, ComboResults* combos, ThreadResult* result) {
  uint64_t errors = 0;
  auto* blocks = static_cast<Block*>(calloc(kLive[2], sizeof(Block)));
  ctl->WaitForGo();
  const auto slice = std::chrono::duration_cast<Clock::duration>(
      std::chrono::duration<double>(cfg.seconds / kCombos));
  uint64_t total = 0;
  int k = 0;
  for (size_t size : kSizes) {
    for (size_t n : kLive) {
      const Clock::time_point begin = Clock::now();
      const Clock::time_point deadline = ctl->start + (k + 1) * slice;
      const uint64_t check_every = n >= 4096 ? 1 : 4096 / n;  // clock reads per ~4096 pairs
      uint64_t ops = 0;
      for (uint64_t iter = 1;; ++iter) {
        for (size_t i = 0; i < n; ++i) blocks[i] = NewBlockOfSize(size, cfg.touch, &errors);
        for (size_t i = 0; i < n; ++i) FreeBlock(blocks[i], &errors);
        ops += n;
        if (cfg.ops > 0 ? ops >= cfg.ops : iter % check_every == 0 && Clock::now() >= deadline) {
          break;
        }
      }
      (*combos)[k].ops = ops;
      (*combos)[k].seconds = SecondsBetween(begin, Clock::now());
      total += ops;
      ++k;
    }
  }
  result->end = Clock::now();
  result->ops = total;
  free(blocks);
  result->errors = errors;
}

}  // namespace

Outcome RunGlibcSimple(const Config& cfg) {
  std::vector<ComboResults> combos(cfg.threads);
  const Outcome out =
      RunIndependentThreads(cfg, [&](const Config& c, int i, RunControl* ctl, ThreadResult* r) {
        SimpleThread(c, ctl, &combos[i], r);
      });
  int k = 0;
  for (size_t size : kSizes) {
    fprintf(stderr, "glibc_simple %4zu B:", size);
    for (size_t n : kLive) {
      double rate = 0;
      for (const auto& t : combos) rate += t[k].seconds > 0 ? t[k].ops / t[k].seconds : 0;
      fprintf(stderr, "  n=%-5zu %8.2f Mops/s", n, rate / 1e6);
      ++k;
    }
    fprintf(stderr, "\n");
  }
  return out;
}

namespace {

constexpr double kShape = 0.0;

void ThreadBody(const Config& cfg, const SkewedSizes* sizes, int index, RunControl* ctl,
                ThreadResult* result) {
  Rng rng(cfg.seed, static_cast<uint64_t>(index));
  uint64_t errors = 0;
  auto* blocks = static_cast<Block*>(calloc(cfg.slots, sizeof(Block)));
  for (size_t i = 0; i < cfg.slots; ++i) {
    blocks[i] = NewBlockOfSize(sizes->Draw(rng), cfg.touch, &errors);
  }
  ctl->WaitForGo();
  const uint64_t ops = RunOps(cfg, ctl, [&] {
    Block& b = blocks[rng.Below(cfg.slots)];
    FreeBlock(b, &errors);
    b = NewBlockOfSize(sizes->Draw(rng), cfg.touch, &errors);
  });
  FinishSlots(blocks, cfg.slots, ops, errors, result);
}

}  // namespace

Outcome RunGlibcThread(const Config& cfg) {
  const SkewedSizes sizes(cfg.min_size, cfg.max_size, kShape);
  return RunIndependentThreads(cfg, [&](const Config& c, int i, RunControl* ctl, ThreadResult* r) {
    ThreadBody(c, &sizes, i, ctl, r);
  });
}

}  // namespace hakmem_bench
