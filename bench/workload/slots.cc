// The slot workloads: mid, tiny, large.
//
// Every thread owns `slots` live blocks. It fills them (untimed), waits at the
// start barrier, then repeats one operation until the run ends: pick a random
// slot, verify and free its block, malloc a new block of a uniformly random size
// in [min_size, max_size], touch it, put it in the slot. All frees are by the
// allocating thread. The workloads differ only in their size range and slot count
// (defaults in main.cc).
#include "bench/workload/common.h"

namespace hakmem_bench {

Outcome RunSlots(const Config& cfg) {
  return RunIndependentThreads(cfg, [](const Config& c, int i, RunControl* ctl, ThreadResult* r) {
    RunSlotThread(c, i, ctl, r, NewBlock);
  });
}

}  // namespace hakmem_bench
