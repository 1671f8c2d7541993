// mstress: rounds of mixed-size allocation, random-order frees and exchange of
// objects between threads through a shared array (after the idea of
// mimalloc's test-stress, written from its description).
//
// Every thread has an array of `slots` object pointers (4096 by default) and
// works in rounds of `slots` steps. A step picks a random array entry and
//   60%  allocates a new object there (freeing the object it replaces),
//   25%  frees the entry's object,
//   15%  swaps it with a random entry of a shared transfer array of 1024
//        slots (one atomic exchange): the thread gives its object away and
//        takes whatever another thread left there, to free or give on later.
// At the end of a round the thread frees every object left in its array (in
// array order, so in an order unrelated to allocation) and allocates a new
// generation of slots / 8 long-lived objects, freeing the generation made 4
// rounds earlier. Sizes: uniform in [min_size, max_size] (24 - 320 B by
// default), 1 in 100 of them times 8, 1 in 10,000 times 100 (up to 32 KB).
//
// An object carries its size in its second word (bytes 8-15), written after
// the usual tag, since it may be freed by a thread that did not allocate it;
// the minimum size is 24 so that word never overlaps the tag's last byte.
//
// One op is one step. --ops: steps per thread (a partial last round is fine).
// Objects still in the transfer array at the end are freed after the clock
// stops.
#include <cstring>
#include <thread>
#include <vector>

#include "bench/workload/common.h"

namespace hakmem_bench {
namespace {

constexpr int kTransfer = 1024;
constexpr int kGenerations = 4;  // rounds a long-lived object survives

struct Shared {
  const Config* cfg;
  std::atomic<char*> transfer[kTransfer] = {};
  RunControl ctl;
};

class Objects {
 public:
  Objects(const Config& cfg, uint64_t* errors) : cfg_(cfg), errors_(errors) {}

  char* New(Rng& rng) {
    size_t size = rng.Size(cfg_.min_size, cfg_.max_size);
    if (rng.Below(100) == 0) size *= rng.Below(100) == 0 ? 100 : 8;
    char* p = NewBlockOfSize(size, cfg_.touch, errors_).p;
    memcpy(p + 8, &size, sizeof size);
    return p;
  }
  void Free(char* p) {
    if (p == nullptr) return;
    size_t size;
    memcpy(&size, p + 8, sizeof size);
    if (size < cfg_.min_size || size > 100 * cfg_.max_size) {
      ++*errors_;  // the size word is gone: cannot even check the tag safely
      return;
    }
    FreeBlock(Block{p, size}, errors_);
  }

 private:
  const Config& cfg_;
  uint64_t* errors_;
};

void StressThread(Shared* sh, int index, ThreadResult* result) {
  const Config& cfg = *sh->cfg;
  Rng rng(cfg.seed, static_cast<uint64_t>(index));
  uint64_t errors = 0;
  Objects obj(cfg, &errors);
  const size_t slots = cfg.slots;
  const size_t retained = slots / 8 > 0 ? slots / 8 : 1;
  auto* data = static_cast<char**>(calloc(slots, sizeof(char*)));
  auto* keep = static_cast<char**>(calloc(retained * kGenerations, sizeof(char*)));

  sh->ctl.WaitForGo();
  uint64_t ops = 0;
  for (uint64_t round = 0;; ++round) {
    for (size_t step = 0; step < slots; ++step, ++ops) {
      if (RunOver(cfg, &sh->ctl, ops)) goto done;
      char*& slot = data[rng.Below(slots)];
      const uint64_t r = rng.Below(100);
      if (r < 60) {
        obj.Free(slot);
        slot = obj.New(rng);
      } else if (r < 85) {
        obj.Free(slot);
        slot = nullptr;
      } else {
        slot = sh->transfer[rng.Below(kTransfer)].exchange(slot, std::memory_order_acq_rel);
      }
    }
    for (size_t i = 0; i < slots; ++i) {
      obj.Free(data[i]);
      data[i] = nullptr;
    }
    char** gen = keep + (round % kGenerations) * retained;
    for (size_t i = 0; i < retained; ++i) {
      obj.Free(gen[i]);
      gen[i] = obj.New(rng);
    }
  }
done:
  result->end = Clock::now();
  result->ops = ops;
  for (size_t i = 0; i < slots; ++i) obj.Free(data[i]);
  for (size_t i = 0; i < retained * kGenerations; ++i) obj.Free(keep[i]);
  free(data);
  free(keep);
  result->errors = errors;
}

}  // namespace

Outcome RunMstress(const Config& cfg) {
  Shared sh;
  sh.cfg = &cfg;
  std::vector<ThreadResult> results(cfg.threads);
  std::vector<std::thread> threads;
  threads.reserve(cfg.threads);
  for (int i = 0; i < cfg.threads; ++i) threads.emplace_back(StressThread, &sh, i, &results[i]);
  sh.ctl.StartAndTime(cfg.threads, cfg);
  for (auto& t : threads) t.join();
  Outcome out = Collect(sh.ctl, results.data(), cfg.threads);
  uint64_t errors = 0;
  Objects obj(cfg, &errors);
  for (auto& t : sh.transfer) obj.Free(t.load(std::memory_order_acquire));
  out.errors += errors;
  return out;
}

}  // namespace hakmem_bench
