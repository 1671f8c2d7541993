// idle_holder: one thread holds a big heap of small blocks and waits while the
// others work.
//
// A loader or cache thread often builds a large structure of small objects,
// frees part of it and then blocks (in a join, on a queue) while worker
// threads allocate. An allocator that tends the waiting thread's memory for it
// (hakmem gives back for an idle thread the spans others' frees emptied,
// core/heap_upkeep.cc) must not spend the workers' time walking that heap.
//
// The holder, started besides the --threads workers and not counted, allocates
// `slots` blocks of 64 B (32 M by default: 2 GiB) before the clock starts,
// frees every other one of the first half (so half its spans are partly free
// and half are full) and waits, asleep, until the workers are done. Each worker
// repeats a round: kRoundBlocks blocks of [min_size, max_size] (16 B - 2 KiB)
// allocated and touched, then all checked and freed: a structure built and
// torn down, whose spans are given back and taken again every round. One op is
// one block allocated and freed. --ops: blocks per worker (whole rounds).
#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "bench/workload/common.h"

namespace hakmem_bench {
namespace {

constexpr size_t kHeldSize = 64;
constexpr size_t kRoundBlocks = 65536;

// Builds the holder's heap, says so through `built`, then sleeps until `done`.
void Hold(const Config& cfg, std::atomic<bool>* built, const std::atomic<bool>* done,
          uint64_t* errors) {
  auto* held = static_cast<char**>(malloc(cfg.slots * sizeof(char*)));
  for (size_t i = 0; i < cfg.slots; ++i) {
    held[i] = NewBlockOfSize(kHeldSize, Touch::kEnds, errors).p;
  }
  auto release = [&](size_t i) {
    FreeBlock(Block{held[i], kHeldSize}, errors);
    held[i] = nullptr;
  };
  for (size_t i = 0; i < cfg.slots / 2; i += 2) release(i);
  built->store(true, std::memory_order_release);
  while (!done->load(std::memory_order_acquire)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  for (size_t i = 0; i < cfg.slots; ++i) release(i);  // FreeBlock skips nullptr
  free(held);
}

void Work(const Config& cfg, int index, RunControl* ctl, ThreadResult* result) {
  Rng rng(cfg.seed, static_cast<uint64_t>(index));
  uint64_t errors = 0;
  std::vector<Block> round(kRoundBlocks);
  ctl->WaitForGo();
  uint64_t ops = 0;
  while (!RunOver(cfg, ctl, ops)) {
    for (Block& b : round) b = NewBlock(rng, cfg, &errors);
    for (const Block& b : round) FreeBlock(b, &errors);
    ops += kRoundBlocks;
  }
  result->end = Clock::now();
  result->ops = ops;
  result->errors = errors;
}

}  // namespace

Outcome RunIdleHolder(const Config& cfg) {
  std::atomic<bool> built{false};
  std::atomic<bool> done{false};
  uint64_t holder_errors = 0;
  std::thread holder(Hold, std::cref(cfg), &built, &done, &holder_errors);
  Outcome out = RunIndependentThreads(
      cfg, Work,
      [&](const RunControl&) {  // the clock starts once the holder's heap is built
        while (!built.load(std::memory_order_acquire)) {
          std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
      },
      [&] {
        done.store(true, std::memory_order_release);
        holder.join();
      });
  out.errors += holder_errors;
  return out;
}

}  // namespace hakmem_bench
