// larson: the server-style workload of Larson and Krishnan ("Memory Allocation
// for Long-Running Server Applications", ISMM 1998), written from its
// description.
//
// There are `threads` chains. Each chain owns an array of `slots` blocks, all of
// them allocated up front by the main thread, so the first frees in every chain
// are frees of another thread's memory. A chain's current thread runs
// `larson_round_ops` replacements (free a random slot's block, malloc a new one of
// random size, touch it), then starts a new thread, hands it the array and the
// generator, and exits. The new thread first joins its predecessor (so the old
// thread's exit, and the allocator's teardown of its caches, has happened) and
// then goes on freeing the blocks the previous threads allocated. This measures
// cross-thread frees, thread start-up and thread exit together, as a server with
// short-lived worker threads sees them. Thread creation time counts in the run.
//
// larson_sized is the same workload with every block allocated by
// `::operator new(size)` and freed by the C++14 sized `::operator delete(p,
// size)` (cfg.api; this file is built with -fsized-deallocation and
// -fno-allocation-dce, so gcc neither drops the size nor elides a new/delete
// pair), as a C++ server's objects are.
#include <pthread.h>

#include <cerrno>
#include <cstring>
#include <latch>
#include <vector>

#include "bench/workload/common.h"

namespace hakmem_bench {
namespace {

struct Chain {
  const Config* cfg;
  RunControl* ctl;
  std::latch* done;      // counted down by the chain's last thread
  ThreadResult* result;  // written by the chain's last thread
  Block* blocks;
  Rng rng;
  uint64_t ops = 0;       // done so far by earlier threads of the chain
  uint64_t errors = 0;
  uint64_t handoffs = 0;
  pthread_t previous{};   // the thread to join before starting
  bool has_previous = false;
};

void* ChainThread(void* arg) {
  auto* chain = static_cast<Chain*>(arg);
  const Config& cfg = *chain->cfg;
  if (chain->has_previous) {
    pthread_join(chain->previous, nullptr);
  } else {
    chain->ctl->WaitForGo();
  }
  const uint64_t budget = cfg.ops > 0 ? cfg.ops : UINT64_MAX;
  for (;;) {
    uint64_t round = cfg.larson_round_ops;
    bool stopped = false;
    for (uint64_t i = 0; i < round; ++i) {
      if (chain->ops >= budget || chain->ctl->stop.load(std::memory_order_relaxed)) {
        stopped = true;
        break;
      }
      Replace(chain->blocks[chain->rng.Below(cfg.slots)], chain->rng, cfg, &chain->errors);
      ++chain->ops;
    }
    if (stopped || chain->ops >= budget) break;
    // Hand the array to a new thread; this thread ends.
    chain->previous = pthread_self();
    chain->has_previous = true;
    ++chain->handoffs;
    pthread_t next;
    if (pthread_create(&next, nullptr, ChainThread, chain) == 0) return nullptr;
    // Could not start a thread: keep going in this one.
    --chain->handoffs;
    chain->has_previous = false;
  }
  ThreadResult* r = chain->result;
  r->end = Clock::now();
  r->ops = chain->ops;
  r->handoffs = chain->handoffs;
  // The chain's last thread is joined by the main thread; publish who that is.
  chain->previous = pthread_self();
  chain->done->count_down();
  return nullptr;
}

}  // namespace

Outcome RunLarson(const Config& cfg) {
  RunControl ctl;
  std::latch done(cfg.threads);
  std::vector<ThreadResult> results(cfg.threads);
  std::vector<Chain> chains;
  chains.reserve(cfg.threads);
  uint64_t setup_errors = 0;
  for (int i = 0; i < cfg.threads; ++i) {
    Chain c{&cfg, &ctl, &done, &results[i], nullptr, Rng(cfg.seed, static_cast<uint64_t>(i))};
    // The main thread allocates every chain's blocks (as the original does).
    c.blocks = static_cast<Block*>(calloc(cfg.slots, sizeof(Block)));
    for (size_t s = 0; s < cfg.slots; ++s) c.blocks[s] = NewBlock(c.rng, cfg, &setup_errors);
    chains.push_back(c);
  }
  std::vector<pthread_t> first(cfg.threads);
  for (int i = 0; i < cfg.threads; ++i) {
    if (pthread_create(&first[i], nullptr, ChainThread, &chains[i]) != 0) {
      fprintf(stderr, "workload: pthread_create failed: %s\n", strerror(errno));
      abort();
    }
  }
  ctl.StartAndTime(cfg.threads, cfg);
  done.wait();
  for (auto& c : chains) pthread_join(c.previous, nullptr);

  Outcome out = Collect(ctl, results.data(), cfg.threads);
  for (auto& c : chains) {
    for (size_t s = 0; s < cfg.slots; ++s) FreeBlock(c.blocks[s], &c.errors, cfg.api);
    free(c.blocks);
    out.errors += c.errors;
  }
  out.errors += setup_errors;
  return out;
}

}  // namespace hakmem_bench
