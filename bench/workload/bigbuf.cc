// bigbuf: large buffers that a program fills completely each time it takes
// one (after the idea of mimalloc-bench's malloc-large, written from its
// description).
//
// Every thread owns `slots` buffers (20 by default) of uniform random size in
// [min_size, max_size] (5 - 25 MiB; about 300 MiB live per thread). One op
// replaces a random buffer: the old one is verified and freed, a new one is
// allocated and *all* of it written (memset to zero, as a program that reuses
// big I/O or image buffers clears or fills them), then tagged. So the cost is
// the allocator's large path plus, for an allocator that gives the memory back
// to the kernel on free and maps it again on malloc, a page fault for every
// 4 KiB of every buffer; one that keeps (and reuses) freed big blocks only
// pays the memset. --touch is not used (every byte is written).
//
// One op is one replacement. Timed runs go until the clock stops (a 2 s run is
// a few hundred to a few thousand replacements); the fixed-work size is
// --ops=2000 (replacements per thread).
#include <cstring>

#include "bench/workload/common.h"

namespace hakmem_bench {
namespace {

void BigbufThread(const Config& cfg, int index, RunControl* ctl, ThreadResult* result) {
  Rng rng(cfg.seed, static_cast<uint64_t>(index));
  uint64_t errors = 0;
  auto fresh = [&] {
    const size_t size = rng.Size(cfg.min_size, cfg.max_size);
    Block b{RawAlloc(size), size};
    memset(b.p, 0, size);
    if (!TouchBlock(b.p, size, Touch::kEnds)) ++errors;
    return b;
  };
  auto* bufs = static_cast<Block*>(calloc(cfg.slots, sizeof(Block)));
  for (size_t i = 0; i < cfg.slots; ++i) bufs[i] = fresh();
  ctl->WaitForGo();
  const uint64_t ops = RunOps(cfg, ctl, [&] {
    Block& b = bufs[rng.Below(cfg.slots)];
    FreeBlock(b, &errors);
    b = fresh();
  });
  FinishSlots(bufs, cfg.slots, ops, errors, result);
}

}  // namespace

Outcome RunBigbuf(const Config& cfg) { return RunIndependentThreads(cfg, BigbufThread); }

}  // namespace hakmem_bench
