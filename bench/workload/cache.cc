// cache_thrash and cache_scratch: false sharing caused by the allocator
// (after Hoard's cache-thrash and cache-scratch benchmarks, written from
// their description in Berger et al., "Hoard: A Scalable Memory Allocator for
// Multithreaded Applications", ASPLOS 2000).
//
// cache_thrash: every thread repeatedly allocates a small object ([min_size,
// max_size], 8 B by default), writes every byte of it `slots` times (100 by
// default; volatile byte increments, so each one is a real store), and frees
// it. The threads share nothing, so their run time should not depend on each
// other; if the allocator hands different threads' objects out of one cache
// line (e.g. from one shared heap), every write of one thread invalidates the
// line in the other core's cache and the ops/s collapse.
//
// cache_scratch: the same, except that each thread's first object was
// allocated by the main thread (all of them one after the other, before the
// workers start, so they are neighbours in memory) and is written and then
// freed by the worker. An allocator that puts the freed object in the
// worker's own cache and hands it out again makes the worker keep writing to a
// line it shares with the other workers' first objects.
//
// Before an object is freed its bytes are put back (each was incremented
// `slots` times) and its tag checked as usual. One op is one object's
// lifetime: malloc, size x slots writes, free. --ops: objects per thread.
#include <thread>
#include <vector>

#include "bench/workload/common.h"

namespace hakmem_bench {
namespace {

// The writes of one op, then the bytes put back as TouchBlock left them.
void Scribble(const Block& b, uint64_t times) {
  volatile char* v = b.p;
  for (uint64_t r = 0; r < times; ++r) {
    for (size_t k = 0; k < b.size; ++k) v[k] = static_cast<char>(v[k] + 1);
  }
  const char back = static_cast<char>(times);
  for (size_t k = 0; k < b.size; ++k) v[k] = static_cast<char>(v[k] - back);
}

void CacheThread(const Config& cfg, int index, RunControl* ctl, const Block* handed,
                 ThreadResult* result) {
  Rng rng(cfg.seed, static_cast<uint64_t>(index));
  uint64_t errors = 0;
  ctl->WaitForGo();
  uint64_t ops = 0;
  if (handed != nullptr) {  // cache_scratch: the main thread's object first
    Scribble(*handed, cfg.slots);
    FreeBlock(*handed, &errors);
    ++ops;
  }
  while (!RunOver(cfg, ctl, ops)) {
    const Block b = NewBlock(rng, cfg, &errors);
    Scribble(b, cfg.slots);
    FreeBlock(b, &errors);
    ++ops;
  }
  result->end = Clock::now();
  result->ops = ops;
  result->errors = errors;
}

}  // namespace

Outcome RunCache(const Config& cfg) {
  const bool scratch = cfg.workload == "cache_scratch";
  uint64_t setup_errors = 0;
  std::vector<Block> handed;
  if (scratch) {
    Rng rng(cfg.seed, UINT64_MAX);
    handed.reserve(cfg.threads);  // so the objects are allocated back to back
    for (int i = 0; i < cfg.threads; ++i) handed.push_back(NewBlock(rng, cfg, &setup_errors));
  }
  RunControl ctl;
  std::vector<ThreadResult> results(cfg.threads);
  std::vector<std::thread> threads;
  threads.reserve(cfg.threads);
  for (int i = 0; i < cfg.threads; ++i) {
    threads.emplace_back(CacheThread, std::cref(cfg), i, &ctl, scratch ? &handed[i] : nullptr,
                         &results[i]);
  }
  ctl.StartAndTime(cfg.threads, cfg);
  for (auto& t : threads) t.join();
  Outcome out = Collect(ctl, results.data(), cfg.threads);
  out.errors += setup_errors;
  return out;
}

}  // namespace hakmem_bench
