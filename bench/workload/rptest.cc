// rptest: random power-law sizes, a fixed live set per thread, and a share of
// the frees done by another thread (after the idea of rpmalloc's rptest
// benchmark, written from its description).
//
// Every thread owns `slots` live blocks (4096 by default). Sizes run from
// min_size to max_size (16 B - 16 KiB) with a power-law skew (common.h's
// SkewedSizes, shape 0.5: the median request is about 60 B, one in ten is
// over 1 KiB, the mean about 510 B), so the live memory per thread stays near
// slots x 510 B (about 2 MiB by default). One op replaces a random slot's
// block: the old block is verified and freed, and a new one allocated and
// touched. One in four old blocks (--pass_one_in) is not freed by its thread
// but offered to the next one: it goes into a local batch that, when full (32
// blocks), is pushed into the inbox of the next thread (i + 1 mod threads; a
// SpscRing holding up to slots / 4 blocks, at least 32). After each batch a
// thread frees what its own inbox holds. A batch that does not fit in a full
// inbox is freed locally. Which blocks are offered is deterministic for the
// seed; how many fit, and when the receiver frees them, is up to the
// scheduler. `handoffs` counts the blocks pushed (with one thread, into its
// own inbox).
//
// --ops: replacements per thread. --pass_one_in: 1 in this many old blocks is
// offered (4 by default); 0 offers none, so each thread frees only its own
// blocks: the same slots and sizes drawn, no block crossing threads
// (docs/BENCHMARKS.md).
#include <memory>
#include <thread>
#include <vector>

#include "bench/workload/common.h"

namespace hakmem_bench {
namespace {

constexpr double kShape = 0.5;
constexpr int kBatch = 32;

struct Shared {
  const Config* cfg;
  SkewedSizes sizes;
  std::vector<std::unique_ptr<SpscRing>> inbox;  // inbox[i]: thread i frees
  RunControl ctl;
};

void RpThread(Shared* sh, int index, ThreadResult* result) {
  const Config& cfg = *sh->cfg;
  Rng rng(cfg.seed, static_cast<uint64_t>(index));
  uint64_t errors = 0;
  uint64_t handoffs = 0;  // blocks pushed into the next thread's inbox
  auto fresh = [&] { return NewBlockOfSize(sh->sizes.Draw(rng), cfg.touch, &errors); };
  auto* blocks = static_cast<Block*>(calloc(cfg.slots, sizeof(Block)));
  for (size_t i = 0; i < cfg.slots; ++i) blocks[i] = fresh();
  SpscRing* out = sh->inbox[(index + 1) % cfg.threads].get();
  SpscRing* in = sh->inbox[index].get();
  Block pending[kBatch];
  int n_pending = 0;
  auto free_inbox = [&] {
    in->PopUpTo(UINT64_MAX, [&](const Block& b) { FreeBlock(b, &errors); });
  };

  sh->ctl.WaitForGo();
  const uint64_t ops = RunOps(cfg, &sh->ctl, [&] {
    Block& slot = blocks[rng.Below(cfg.slots)];
    // Drawn even when none is passed, so that the slots and sizes drawn stay
    // those of the default run.
    const bool pass = rng.Below(cfg.pass_one_in != 0 ? cfg.pass_one_in : 1) == 0;
    if (cfg.pass_one_in != 0 && pass) {
      pending[n_pending++] = slot;
      if (n_pending == kBatch) {
        int k = 0;
        const uint64_t sent = out->PushUpTo(kBatch, [&] { return pending[k++]; });
        handoffs += sent;
        for (int j = static_cast<int>(sent); j < kBatch; ++j) FreeBlock(pending[j], &errors);
        n_pending = 0;
        free_inbox();
      }
    } else {
      FreeBlock(slot, &errors);
    }
    slot = fresh();
  });
  result->end = Clock::now();
  result->ops = ops;
  result->handoffs = handoffs;
  for (int j = 0; j < n_pending; ++j) FreeBlock(pending[j], &errors);
  free_inbox();
  for (size_t i = 0; i < cfg.slots; ++i) FreeBlock(blocks[i], &errors);
  free(blocks);
  result->errors = errors;
}

}  // namespace

Outcome RunRptest(const Config& cfg) {
  Shared sh{&cfg, SkewedSizes(cfg.min_size, cfg.max_size, kShape), {}, {}};
  for (int i = 0; i < cfg.threads; ++i) {
    sh.inbox.push_back(std::make_unique<SpscRing>(std::max<uint64_t>(cfg.slots / 4, kBatch)));
  }
  std::vector<ThreadResult> results(cfg.threads);
  std::vector<std::thread> threads;
  threads.reserve(cfg.threads);
  for (int i = 0; i < cfg.threads; ++i) threads.emplace_back(RpThread, &sh, i, &results[i]);
  sh.ctl.StartAndTime(cfg.threads, cfg);
  for (auto& t : threads) t.join();
  Outcome out = Collect(sh.ctl, results.data(), cfg.threads);
  // A thread may have pushed into an inbox after its owner's last look.
  for (auto& r : sh.inbox) r->Drain(&out.errors);
  return out;
}

}  // namespace hakmem_bench
