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
// thread plus free by the other). The queues publish a batch with one release
// store, so the queue's own cost stays small next to the allocator's.
#include <sched.h>

#include <algorithm>
#include <thread>
#include <vector>

#include "bench/workload/common.h"

namespace hakmem_bench {
namespace {

struct Ring {
  alignas(64) std::atomic<uint64_t> head{0};  // advanced by the consumer
  alignas(64) std::atomic<uint64_t> tail{0};  // advanced by the producer
  alignas(64) Block* items = nullptr;
  uint64_t capacity = 0;  // array size, a power of two
  uint64_t limit = 0;     // most blocks queued at once (= slots)
};

void PairThread(const Config& cfg, int index, Ring* out, Ring* in, RunControl* ctl,
                ThreadResult* result) {
  Rng rng(cfg.seed, static_cast<uint64_t>(index));
  uint64_t errors = 0;
  const uint64_t batch = std::clamp<uint64_t>(out->limit / 4, 1, 32);
  const uint64_t budget = cfg.ops > 0 ? cfg.ops : UINT64_MAX;
  const uint64_t out_mask = out->capacity - 1;
  const uint64_t in_mask = in->capacity - 1;
  uint64_t produced = 0;
  uint64_t freed = 0;
  int idle = 0;

  ctl->WaitForGo();
  for (;;) {
    if (ctl->stop.load(std::memory_order_relaxed)) break;
    if (produced >= budget && freed >= budget) break;
    uint64_t work = 0;

    const uint64_t tail = out->tail.load(std::memory_order_relaxed);
    const uint64_t space = out->limit - (tail - out->head.load(std::memory_order_acquire));
    const uint64_t n_out = std::min({space, batch, budget - produced});
    for (uint64_t k = 0; k < n_out; ++k) out->items[(tail + k) & out_mask] = NewBlock(rng, cfg, &errors);
    if (n_out > 0) out->tail.store(tail + n_out, std::memory_order_release);
    produced += n_out;
    work += n_out;

    const uint64_t head = in->head.load(std::memory_order_relaxed);
    const uint64_t avail = in->tail.load(std::memory_order_acquire) - head;
    const uint64_t n_in = std::min(avail, batch);
    for (uint64_t k = 0; k < n_in; ++k) FreeBlock(in->items[(head + k) & in_mask], &errors);
    if (n_in > 0) in->head.store(head + n_in, std::memory_order_release);
    freed += n_in;
    work += n_in;

    if (work > 0) {
      idle = 0;
    } else if (++idle > 64) {
      sched_yield();  // 2 cores: let the partner run
    } else {
      __builtin_ia32_pause();
    }
  }
  result->end = Clock::now();
  result->ops = freed;
  result->errors = errors;
}

uint64_t RoundUpPow2(uint64_t v) {
  uint64_t p = 1;
  while (p < v) p <<= 1;
  return p;
}

}  // namespace

Outcome RunXthread(const Config& cfg) {
  RunControl ctl;
  const int n = cfg.threads;  // even, checked by main
  std::vector<Ring> rings(n);
  for (auto& r : rings) {
    r.capacity = RoundUpPow2(cfg.slots);
    r.limit = cfg.slots;
    r.items = static_cast<Block*>(calloc(r.capacity, sizeof(Block)));
  }
  std::vector<ThreadResult> results(n);
  std::vector<std::thread> threads;
  threads.reserve(n);
  for (int i = 0; i < n; ++i) {
    threads.emplace_back(PairThread, std::cref(cfg), i, &rings[i], &rings[i ^ 1], &ctl,
                         &results[i]);
  }
  ctl.StartAndTime(n, cfg);
  for (auto& t : threads) t.join();
  Outcome out = Collect(ctl, results.data(), n);

  // Blocks still queued when the run stopped (untimed).
  for (auto& r : rings) {
    const uint64_t tail = r.tail.load(std::memory_order_acquire);
    for (uint64_t h = r.head.load(std::memory_order_acquire); h != tail; ++h) {
      FreeBlock(r.items[h & (r.capacity - 1)], &out.errors);
    }
    free(r.items);
  }
  return out;
}

}  // namespace hakmem_bench
