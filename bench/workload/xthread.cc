// xthread: producer/consumer pairs; every block is freed by a thread that did
// not allocate it.
//
// Threads come in pairs (i, i^1). Between the two partners run two bounded
// single-producer single-consumer queues, one per direction, each holding at
// most `slots` blocks. Every thread does both jobs in turns: it allocates up to
// a batch of blocks (random size in [min_size, max_size], touched) and pushes
// them to its partner, then pops and frees (after verifying) up to a batch of
// the partner's blocks. A full or empty queue makes a thread spin briefly and
// then yield. The op count is the number of blocks freed (each one malloc by one
// thread plus free by the other). The queues are common.h's SpscRing.
#include <algorithm>
#include <memory>
#include <thread>
#include <vector>

#include "bench/workload/common.h"

namespace hakmem_bench {
namespace {

void PairThread(const Config& cfg, int index, SpscRing* out, SpscRing* in, RunControl* ctl,
                ThreadResult* result) {
  Rng rng(cfg.seed, static_cast<uint64_t>(index));
  uint64_t errors = 0;
  const uint64_t batch = std::clamp<uint64_t>(cfg.slots / 4, 1, 32);
  const uint64_t budget = cfg.ops > 0 ? cfg.ops : UINT64_MAX;
  uint64_t produced = 0;
  uint64_t freed = 0;
  Backoff backoff;

  ctl->WaitForGo();
  for (;;) {
    if (ctl->stop.load(std::memory_order_relaxed)) break;
    if (produced >= budget && freed >= budget) break;
    const uint64_t n_out = out->PushUpTo(std::min(batch, budget - produced),
                                         [&] { return NewBlock(rng, cfg, &errors); });
    produced += n_out;
    const uint64_t n_in = in->PopUpTo(batch, [&](const Block& b) { FreeBlock(b, &errors); });
    freed += n_in;
    if (n_out + n_in > 0) {
      backoff.Worked();
    } else {
      backoff.Idle();  // 2 cores: let the partner run
    }
  }
  result->end = Clock::now();
  result->ops = freed;
  result->errors = errors;
}

}  // namespace

Outcome RunXthread(const Config& cfg) {
  RunControl ctl;
  const int n = cfg.threads;  // even, checked by main
  std::vector<std::unique_ptr<SpscRing>> rings;
  for (int i = 0; i < n; ++i) rings.push_back(std::make_unique<SpscRing>(cfg.slots));
  std::vector<ThreadResult> results(n);
  std::vector<std::thread> threads;
  threads.reserve(n);
  for (int i = 0; i < n; ++i) {
    threads.emplace_back(PairThread, std::cref(cfg), i, rings[i].get(), rings[i ^ 1].get(), &ctl,
                         &results[i]);
  }
  ctl.StartAndTime(n, cfg);
  for (auto& t : threads) t.join();
  Outcome out = Collect(ctl, results.data(), n);
  for (auto& r : rings) r->Drain(&out.errors);  // blocks still queued (untimed)
  return out;
}

}  // namespace hakmem_bench
