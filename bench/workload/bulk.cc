// bulk: a heap that many blocks are live in at once, freed all together and
// built again (a batch job's records, a parser's nodes, a cache flushed whole,
// a set of big I/O buffers).
//
// Every thread allocates `slots` blocks (4096 by default) of uniform random
// size in [min_size, max_size] (64 KiB - 512 KiB by default: about 1.1 GiB of
// address space live per thread), touched as --touch says, keeps them all,
// then verifies and frees every one, in the order they were allocated in one
// round and in the reverse order in the next, and starts over. With the default
// sizes, use --touch=ends (2 pages a block resident, not 72): the cost then is
// what the allocator's placement and bookkeeping pay per block when thousands
// of big blocks are live, not the page faults. A placement search that walks
// every mapped region per allocation shows here as a rate that falls with
// `slots` (before 81ba8b2, hakmem's SuperSlab manager: 27 us a malloc with
// 16,000 blocks of 300 KB live).
//
// One op is one malloc or one free. --ops: ops per thread (rounded up to whole
// rounds of 2 x slots).
#include "bench/workload/common.h"

namespace hakmem_bench {
namespace {

void BulkThread(const Config& cfg, int index, RunControl* ctl, ThreadResult* result) {
  Rng rng(cfg.seed, static_cast<uint64_t>(index));
  uint64_t errors = 0;
  auto* blocks = static_cast<Block*>(calloc(cfg.slots, sizeof(Block)));
  ctl->WaitForGo();
  uint64_t ops = 0;
  for (bool reverse = false; !RunOver(cfg, ctl, ops); reverse = !reverse) {
    for (size_t i = 0; i < cfg.slots; ++i) blocks[i] = NewBlock(rng, cfg, &errors);
    for (size_t i = 0; i < cfg.slots; ++i) {
      FreeBlock(blocks[reverse ? cfg.slots - 1 - i : i], &errors);
    }
    ops += 2 * cfg.slots;
  }
  result->end = Clock::now();
  result->ops = ops;
  free(blocks);
  result->errors = errors;
}

}  // namespace

Outcome RunBulk(const Config& cfg) { return RunIndependentThreads(cfg, BulkThread); }

}  // namespace hakmem_bench
