// thread_churn: many short-lived threads that each allocate a little (after
// the idea of the thread-churn / mleak style benchmarks, written from their
// description): it measures what a thread's first malloc, its short life and
// its exit cost the allocator, and whether memory freed by threads that are
// gone is found again.
//
// There are --threads lanes, and at most one thread alive per lane, so at most
// --threads at once. The main thread is the driver: it starts one thread per
// lane, then visits the lanes in turn, joins the lane's thread and starts the
// next one, until the run ends. A thread
//   1. verifies and frees the blocks its lane's previous thread left behind
//      (memory of a thread that has exited),
//   2. allocates `slots` blocks (48 by default) of [min_size, max_size]
//      (16 - 256 B), touched,
//   3. replaces `slots` random ones of them (free + malloc),
//   4. frees each block with probability 1/2 and leaves the rest for the
//      lane's next thread, then exits.
// Each thread's generator is seeded by (seed, lane, lifetime number), so the
// run is deterministic for the seed up to the scheduling.
//
// One op is one thread lifetime (start to join; about 2.5 x slots mallocs).
// --ops: lifetimes per lane. Thread creation and join are part of the op, so
// the figure is dominated by the kernel and libc's thread set-up; the
// allocator's share is its per-thread set-up and teardown.
#include <thread>
#include <vector>

#include "bench/workload/common.h"

namespace hakmem_bench {
namespace {

struct Lane {
  std::vector<Block> left;  // blocks the lane's last thread left behind
  size_t n_left = 0;
  uint64_t lifetimes = 0;
  uint64_t errors = 0;
  std::thread thread;
};

void Lifetime(const Config* cfg, Lane* lane, uint64_t stream) {
  Rng rng(cfg->seed, stream);
  for (size_t i = 0; i < lane->n_left; ++i) FreeBlock(lane->left[i], &lane->errors);
  lane->n_left = 0;
  auto* mine = static_cast<Block*>(malloc(cfg->slots * sizeof(Block)));
  for (size_t i = 0; i < cfg->slots; ++i) mine[i] = NewBlock(rng, *cfg, &lane->errors);
  for (size_t i = 0; i < cfg->slots; ++i) {
    Replace(mine[rng.Below(cfg->slots)], rng, *cfg, &lane->errors);
  }
  for (size_t i = 0; i < cfg->slots; ++i) {
    if (rng.Below(2) == 0) {
      FreeBlock(mine[i], &lane->errors);
    } else {
      lane->left[lane->n_left++] = mine[i];
    }
  }
  free(mine);
}

}  // namespace

Outcome RunThreadChurn(const Config& cfg) {
  std::vector<Lane> lanes(cfg.threads);
  for (auto& l : lanes) l.left.resize(cfg.slots);
  auto start_next = [&](int i) {
    Lane& l = lanes[i];
    const uint64_t stream = (static_cast<uint64_t>(i) << 40) | l.lifetimes;
    l.thread = std::thread(Lifetime, &cfg, &l, stream);
  };
  const Clock::time_point start = Clock::now();
  const auto deadline = start + std::chrono::duration_cast<Clock::duration>(
                                    std::chrono::duration<double>(cfg.seconds));
  for (int i = 0; i < cfg.threads; ++i) start_next(i);
  // Visit the lanes in turn until none has a thread left to join.
  for (bool any = true; any;) {
    any = false;
    for (int i = 0; i < cfg.threads; ++i) {
      Lane& l = lanes[i];
      if (!l.thread.joinable()) continue;
      l.thread.join();
      ++l.lifetimes;
      any = true;
      const bool done = cfg.ops > 0 ? l.lifetimes >= cfg.ops : Clock::now() >= deadline;
      if (!done) start_next(i);
    }
  }
  Outcome out;
  out.elapsed_s = SecondsBetween(start, Clock::now());
  for (auto& l : lanes) {
    out.ops += l.lifetimes;
    for (size_t i = 0; i < l.n_left; ++i) FreeBlock(l.left[i], &l.errors);
    out.errors += l.errors;
  }
  return out;
}

}  // namespace hakmem_bench
