// The slot workloads: mid, tiny, large.
//
// Every thread owns `slots` live blocks. It fills them (untimed), waits at the
// start barrier, then repeats one operation until the run ends: pick a random
// slot, verify and free its block, malloc a new block of a uniformly random size
// in [min_size, max_size], touch it, put it in the slot. All frees are by the
// allocating thread. The workloads differ only in their size range and slot count
// (defaults in main.cc).
#include <thread>
#include <vector>

#include "bench/workload/common.h"

namespace hakmem_bench {
namespace {

void SlotThread(const Config& cfg, int index, RunControl* ctl, ThreadResult* result) {
  Rng rng(cfg.seed, static_cast<uint64_t>(index));
  uint64_t errors = 0;
  // The slot array itself comes from the allocator under test too, like any
  // program's bookkeeping; it is allocated once, before the clock starts.
  auto* blocks = static_cast<Block*>(calloc(cfg.slots, sizeof(Block)));
  for (size_t i = 0; i < cfg.slots; ++i) blocks[i] = NewBlock(rng, cfg, &errors);

  ctl->WaitForGo();
  const uint64_t ops =
      RunOps(cfg, ctl, [&] { Replace(blocks[rng.Below(cfg.slots)], rng, cfg, &errors); });
  FinishSlots(blocks, cfg.slots, ops, errors, result);
}

}  // namespace

Outcome RunSlots(const Config& cfg) { return RunIndependentThreads(cfg, SlotThread); }

}  // namespace hakmem_bench
