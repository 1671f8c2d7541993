// xmalloc: producers allocate, consumers free (after the xmalloc-test
// benchmark's idea, written from its description).
//
// --threads = 2N: threads 0..N-1 are producers, N..2N-1 consumers. Between
// every producer p and every consumer c runs a bounded single-producer
// single-consumer queue (common.h's SpscRing, at most `slots` blocks), N x N
// queues in all. A producer allocates blocks of [min_size, max_size] bytes
// (64 B by default), touched, and pushes them in batches (<= 32) to the
// consumers in turn, skipping a full queue; a consumer visits its N queues in
// turn and verifies and frees what it finds. So every block is allocated on one
// thread and freed on another, and each thread only ever allocates or only ever
// frees: the allocator's remote-free path and the return of memory to the
// allocating thread are what is measured. A thread that finds nothing to do
// spins briefly, then yields (2 cores).
//
// One op is one block freed by a consumer. With --ops every producer allocates
// exactly --ops blocks (N x ops in all) and the consumers run until all of them
// are freed; timed runs stop producers and consumers together and free the
// blocks still queued after the clock stops.
#include <algorithm>
#include <memory>
#include <thread>
#include <vector>

#include "bench/workload/common.h"

namespace hakmem_bench {
namespace {

struct Shared {
  const Config* cfg;
  int n;                                         // producers (= consumers)
  std::vector<std::unique_ptr<SpscRing>> rings;  // rings[p * n + c]
  RunControl ctl;
  alignas(64) std::atomic<int> producers_done{0};
  SpscRing* Ring(int p, int c) { return rings[static_cast<size_t>(p) * n + c].get(); }
};

void Producer(Shared* sh, int p, ThreadResult* result) {
  const Config& cfg = *sh->cfg;
  Rng rng(cfg.seed, static_cast<uint64_t>(p));
  uint64_t errors = 0;
  const uint64_t batch = std::clamp<uint64_t>(cfg.slots / 4, 1, 32);
  const uint64_t budget = cfg.ops > 0 ? cfg.ops : UINT64_MAX;
  uint64_t produced = 0;
  Backoff backoff;
  sh->ctl.WaitForGo();
  while (produced < budget && !sh->ctl.stop.load(std::memory_order_relaxed)) {
    uint64_t pass = 0;
    for (int c = 0; c < sh->n && produced < budget; ++c) {
      const uint64_t pushed = sh->Ring(p, c)->PushUpTo(std::min(batch, budget - produced),
                                                       [&] { return NewBlock(rng, cfg, &errors); });
      produced += pushed;
      pass += pushed;
    }
    if (pass > 0) {
      backoff.Worked();
    } else {
      backoff.Idle();  // every queue was full
    }
  }
  sh->producers_done.fetch_add(1, std::memory_order_release);
  result->end = Clock::now();
  result->errors = errors;
}

void Consumer(Shared* sh, int c, ThreadResult* result) {
  const Config& cfg = *sh->cfg;
  uint64_t errors = 0;
  uint64_t freed = 0;
  const uint64_t batch = std::clamp<uint64_t>(cfg.slots / 4, 1, 32);
  Backoff backoff;
  sh->ctl.WaitForGo();
  for (;;) {
    if (sh->ctl.stop.load(std::memory_order_relaxed)) break;
    // Read before the pass: if every producer had finished and the pass finds
    // every queue empty, nothing more will come.
    const bool all_produced = sh->producers_done.load(std::memory_order_acquire) == sh->n;
    uint64_t got = 0;
    for (int p = 0; p < sh->n; ++p) {
      got += sh->Ring(p, c)->PopUpTo(batch, [&](const Block& b) { FreeBlock(b, &errors); });
    }
    freed += got;
    if (got > 0) {
      backoff.Worked();
    } else if (all_produced) {
      break;
    } else {
      backoff.Idle();
    }
  }
  result->end = Clock::now();
  result->ops = freed;
  result->errors = errors;
}

}  // namespace

Outcome RunXmalloc(const Config& cfg) {
  Shared sh;
  sh.cfg = &cfg;
  sh.n = cfg.threads / 2;  // even, checked by main
  for (int i = 0; i < sh.n * sh.n; ++i) sh.rings.push_back(std::make_unique<SpscRing>(cfg.slots));
  std::vector<ThreadResult> results(cfg.threads);
  std::vector<std::thread> threads;
  threads.reserve(cfg.threads);
  for (int i = 0; i < sh.n; ++i) threads.emplace_back(Producer, &sh, i, &results[i]);
  for (int i = 0; i < sh.n; ++i) threads.emplace_back(Consumer, &sh, i, &results[sh.n + i]);
  sh.ctl.StartAndTime(cfg.threads, cfg);
  for (auto& t : threads) t.join();
  Outcome out = Collect(sh.ctl, results.data(), cfg.threads);
  for (auto& r : sh.rings) r->Drain(&out.errors);  // still queued when the run stopped
  return out;
}

}  // namespace hakmem_bench
