// aligned: allocations with an alignment beyond malloc's, as posix_memalign,
// aligned_alloc and C++'s aligned operator new make them (SIMD buffers,
// cache-line-aligned structures, page-aligned I/O buffers).
//
// Every thread keeps `slots` blocks (1024 by default). One op replaces a
// random one: the old block is checked and freed, and a new one of a size from
// [min_size, max_size] (16 B - 4 KiB by default, uniform) is allocated with
// posix_memalign at an alignment drawn from 16, 32, 64, 128, 256 and 4096
// bytes (each as often), its alignment checked (a misaligned block counts as
// an error) and touched as --touch says.
//
// One op is one replacement. --ops: replacements per thread.
#include <cstdlib>
#include <iterator>

#include "bench/workload/common.h"

namespace hakmem_bench {
namespace {

constexpr size_t kAlignments[] = {16, 32, 64, 128, 256, 4096};

Block NewAligned(Rng& rng, const Config& cfg, uint64_t* errors) {
  const size_t size = rng.Size(cfg.min_size, cfg.max_size);
  const size_t alignment = kAlignments[rng.Below(std::size(kAlignments))];
  void* p = nullptr;
  if (posix_memalign(&p, alignment, size) != 0) {
    fprintf(stderr, "workload: posix_memalign(%zu, %zu) failed\n", alignment, size);
    abort();
  }
  if ((reinterpret_cast<uintptr_t>(p) & (alignment - 1)) != 0) ++*errors;
  Block b{static_cast<char*>(p), size};
  if (!TouchBlock(b.p, b.size, cfg.touch)) ++*errors;
  return b;
}

}  // namespace

Outcome RunAligned(const Config& cfg) {
  return RunIndependentThreads(cfg, [](const Config& c, int i, RunControl* ctl, ThreadResult* r) {
    RunSlotThread(c, i, ctl, r, NewAligned);
  });
}

}  // namespace hakmem_bench
