// espresso: the allocation pattern of a logic minimiser such as espresso (a
// classic allocator benchmark): long-lived sets of "cubes" (fixed-size bit
// vectors) that grow and shrink, arrays of them resized with realloc, and many
// short-lived temporaries of a few hot sizes.
//
// Every thread keeps 48 covers. A cover is a realloc'ed array of cube
// pointers (16-byte header, 8 B per entry, 8-byte trailer; doubled when full,
// halved when under a quarter full) and its cubes, all of one size picked from
// the hot sizes 16, 32, 48, 80 and 144 B; it starts with 16 - 64 cubes of
// random bits. One step picks a random cover and
//   35%  computes a new cube from two of its cubes (AND / OR of their bits):
//        kept in the cover half the time (at most 512 cubes), else freed at
//        once (a temporary);
//   25%  removes a random cube (freed; the array may shrink);
//   30%  uses 1 - 3 scratch buffers of 16 B - 1 KiB (mostly the hot sizes 16,
//        24, 32, 64, 128 B) and frees them in reverse order;
//   10%  frees the whole cover and builds a new one (new cube size), as a new
//        pass over another function would.
// Blocks carry the usual tag in their first 8 bytes and last byte; the bits
// and pointers live between them and are rewritten by the workload itself, so
// --touch is not used (nor --min_size, --max_size, --slots).
//
// One op is one allocator call: a malloc, a realloc or a free. --ops: calls per
// thread (rounded up to the end of the step that reaches it).
#include <cstring>

#include "bench/workload/common.h"

namespace hakmem_bench {
namespace {

constexpr int kCovers = 48;
constexpr size_t kMaxCubes = 512;
constexpr size_t kCubeSizes[] = {16, 32, 48, 80, 144};
constexpr size_t kScratchSizes[] = {16, 16, 24, 24, 32, 32, 64, 128, 256, 1024};

struct Cover {
  char* arr = nullptr;  // [tag 8][unused 8][cap x char*][trailer 8]
  size_t cap = 0;
  size_t count = 0;
  size_t cube = 0;  // bytes per cube
  char** items() const { return reinterpret_cast<char**>(arr + 16); }
};

class Espresso {
 public:
  Espresso(uint64_t seed, int index, uint64_t* errors) : rng_(seed, index), errors_(errors) {}
  uint64_t calls = 0;

  void Build(Cover& c) {
    c.cube = kCubeSizes[rng_.Below(5)];
    c.cap = 64;
    c.arr = Alloc(ArrayBytes(c.cap));
    c.count = 16 + rng_.Below(49);
    for (size_t i = 0; i < c.count; ++i) {
      char* q = Alloc(c.cube);
      for (size_t k = 8; k + 1 < c.cube; ++k) q[k] = static_cast<char>(rng_.Next());
      c.items()[i] = q;
    }
  }
  void Destroy(Cover& c) {
    for (size_t i = 0; i < c.count; ++i) Free(c.items()[i], c.cube);
    Free(c.arr, ArrayBytes(c.cap));
    c = Cover();
  }
  void Step(Cover* covers) {
    Cover& c = covers[rng_.Below(kCovers)];
    const uint64_t r = rng_.Below(100);
    if (r < 35 && c.count >= 2) {
      const char* a = c.items()[rng_.Below(c.count)];
      const char* b = c.items()[rng_.Below(c.count)];
      char* q = Alloc(c.cube);
      const bool use_and = rng_.Below(2) == 0;
      for (size_t k = 8; k + 1 < c.cube; ++k) q[k] = use_and ? (a[k] & b[k]) : (a[k] | b[k]);
      if (rng_.Below(2) == 0 && c.count < kMaxCubes) {
        if (c.count == c.cap) Resize(c, 2 * c.cap);
        c.items()[c.count++] = q;
      } else {
        Free(q, c.cube);
      }
    } else if (r < 60 && c.count > 0) {
      const size_t i = rng_.Below(c.count);
      Free(c.items()[i], c.cube);
      c.items()[i] = c.items()[--c.count];
      if (c.cap > 8 && c.count < c.cap / 4) Resize(c, c.cap / 2);
    } else if (r < 90) {
      char* tmp[3];
      size_t size[3];
      const int n = 1 + static_cast<int>(rng_.Below(3));
      for (int i = 0; i < n; ++i) {
        size[i] = kScratchSizes[rng_.Below(10)];
        tmp[i] = Alloc(size[i]);
        memset(tmp[i] + 8, i, size[i] - 9);  // the scratch work
      }
      for (int i = n; i-- > 0;) Free(tmp[i], size[i]);
    } else {
      Destroy(c);
      Build(c);
    }
  }

 private:
  static size_t ArrayBytes(size_t cap) { return 24 + 8 * cap; }
  char* Alloc(size_t size) {
    ++calls;
    char* p = RawAlloc(size);
    if (!TouchBlock(p, size, Touch::kEnds)) ++*errors_;
    return p;
  }
  void Free(char* p, size_t size) {
    ++calls;
    FreeBlock(Block{p, size}, errors_);
  }
  void Resize(Cover& c, size_t cap) {
    ++calls;
    if (!CheckBlock(c.arr, ArrayBytes(c.cap))) ++*errors_;
    void* p = realloc(c.arr, ArrayBytes(cap));
    if (p == nullptr) {
      fprintf(stderr, "workload: realloc(%zu) returned NULL\n", ArrayBytes(cap));
      abort();
    }
    c.arr = static_cast<char*>(p);
    c.cap = cap;
    if (!TouchBlock(c.arr, ArrayBytes(cap), Touch::kEnds)) ++*errors_;  // the new size's tag
  }

  Rng rng_;
  uint64_t* errors_;
};

void EspressoThread(const Config& cfg, int index, RunControl* ctl, ThreadResult* result) {
  uint64_t errors = 0;
  Espresso e(cfg.seed, index, &errors);
  Cover covers[kCovers];
  for (auto& c : covers) e.Build(c);
  ctl->WaitForGo();
  e.calls = 0;
  while (!RunOver(cfg, ctl, e.calls)) e.Step(covers);
  result->end = Clock::now();
  result->ops = e.calls;
  for (auto& c : covers) e.Destroy(c);
  result->errors = errors;
}

}  // namespace

Outcome RunEspresso(const Config& cfg) { return RunIndependentThreads(cfg, EspressoThread); }

}  // namespace hakmem_bench
