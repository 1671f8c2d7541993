// deferred_free: a thread keeps a big table of small blocks, replacing random
// entries, and another thread frees the blocks it replaced (a cache with an
// eviction thread, RCU-style reclamation, a logger that frees what it wrote).
//
// Threads come in pairs (i, i + 1 for even i). The keeper allocates `slots`
// blocks (1 M by default: 64 MiB of 64 B blocks) of [min_size, max_size]
// before the clock starts; each op replaces a random entry with a new block
// (touched) and hands the old one to its partner through a SpscRing (common.h)
// of 4,096 places; the partner checks and frees what arrives. So every free is
// of another thread's block, scattered over all of the keeper's heap: most go
// into spans that had no free block. A full ring makes the keeper spin briefly
// and yield (2 cores). One op is one replacement; --ops: per keeper.
#include <memory>
#include <thread>
#include <vector>

#include "bench/workload/common.h"

namespace hakmem_bench {
namespace {

constexpr uint64_t kRingPlaces = 4096;

struct Pair {
  Pair() : ring(kRingPlaces) {}
  SpscRing ring;
  std::atomic<bool> keeper_done{false};
};

void Keep(const Config& cfg, int index, RunControl* ctl, Pair* pair, ThreadResult* result) {
  Rng rng(cfg.seed, static_cast<uint64_t>(index));
  uint64_t errors = 0;
  std::vector<Block> table(cfg.slots);
  for (Block& b : table) b = NewBlock(rng, cfg, &errors);
  ctl->WaitForGo();
  Backoff backoff;
  const uint64_t ops = RunOps(cfg, ctl, [&] {
    Block& entry = table[rng.Below(cfg.slots)];
    while (pair->ring.PushUpTo(1, [&] { return entry; }) == 0) backoff.Idle();
    backoff.Worked();
    entry = NewBlock(rng, cfg, &errors);
  });
  result->end = Clock::now();
  result->ops = ops;
  pair->keeper_done.store(true, std::memory_order_release);
  for (const Block& b : table) FreeBlock(b, &errors);
  result->errors = errors;
}

void FreeArrivals(Pair* pair, ThreadResult* result) {
  uint64_t errors = 0;
  Backoff backoff;
  for (;;) {
    // Read before the ring: a keeper done before the pop left nothing behind.
    const bool done = pair->keeper_done.load(std::memory_order_acquire);
    if (pair->ring.PopUpTo(UINT64_MAX, [&](const Block& b) { FreeBlock(b, &errors); }) != 0) {
      backoff.Worked();
    } else if (done) {
      break;
    } else {
      backoff.Idle();
    }
  }
  result->errors = errors;
}

}  // namespace

Outcome RunDeferredFree(const Config& cfg) {
  RunControl ctl;
  std::vector<std::unique_ptr<Pair>> pairs;
  for (int i = 0; i < cfg.threads / 2; ++i) pairs.push_back(std::make_unique<Pair>());
  std::vector<ThreadResult> results(cfg.threads);
  std::vector<std::thread> threads;
  for (int i = 0; i < cfg.threads; i += 2) {
    Pair* pair = pairs[i / 2].get();
    threads.emplace_back(Keep, std::cref(cfg), i, &ctl, pair, &results[i]);
    threads.emplace_back(FreeArrivals, pair, &results[i + 1]);
  }
  ctl.StartAndTime(cfg.threads / 2, cfg);  // the keepers' tables are built
  for (auto& t : threads) t.join();
  return Collect(ctl, results.data(), cfg.threads);
}

}  // namespace hakmem_bench
