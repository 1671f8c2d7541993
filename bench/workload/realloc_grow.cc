// realloc_grow: buffers grown by small appends through realloc, as programs
// build strings, byte vectors and read buffers.
//
// Every thread keeps `slots` buffers (64 by default), each growing towards a
// length drawn from [min_size, max_size] (64 B - 64 KiB by default, uniform).
// One op appends 8 - 64 bytes (uniform) to a random buffer: realloc to the
// new length, then the appended bytes written (byte i holds i's low byte
// plus the buffer's seed). A buffer that reaches its length is checked
// (every 64th byte and the last) and freed, and an empty one takes its
// place. Most reallocs grow a block within its size class; some move it,
// and the contents must survive every move.
//
// One op is one realloc. --ops: reallocs per thread. --touch is not used.
#include <cstdlib>
#include <vector>

#include "bench/workload/common.h"

namespace hakmem_bench {
namespace {

constexpr size_t kMinAppend = 8;
constexpr size_t kMaxAppend = 64;

struct Buffer {
  char* p = nullptr;
  size_t len = 0;
  size_t target = 0;
  uint8_t seed = 0;
};

char Expected(const Buffer& b, size_t i) {
  return static_cast<char>(static_cast<uint8_t>(i) + b.seed);
}

bool Intact(const Buffer& b) {
  for (size_t i = 0; i < b.len; i += 64) {
    if (b.p[i] != Expected(b, i)) return false;
  }
  return b.len == 0 || b.p[b.len - 1] == Expected(b, b.len - 1);
}

void Restart(Buffer& b, Rng& rng, const Config& cfg, uint64_t* errors) {
  if (b.p != nullptr && !Intact(b)) ++*errors;
  free(b.p);
  b = Buffer{nullptr, 0, rng.Size(cfg.min_size, cfg.max_size), static_cast<uint8_t>(rng.Next())};
}

void Append(Buffer& b, size_t n, uint64_t* errors) {
  void* q = realloc(b.p, b.len + n);
  if (q == nullptr) {
    fprintf(stderr, "workload: realloc(%zu) returned NULL\n", b.len + n);
    abort();
  }
  b.p = static_cast<char*>(q);
  if ((b.len + n >= 16 && (reinterpret_cast<uintptr_t>(q) & 15) != 0) ||
      (b.len > 0 && b.p[b.len - 1] != Expected(b, b.len - 1))) {
    ++*errors;
  }
  for (size_t i = b.len; i < b.len + n; ++i) b.p[i] = Expected(b, i);
  b.len += n;
}

void ReallocGrowThread(const Config& cfg, int index, RunControl* ctl, ThreadResult* result) {
  Rng rng(cfg.seed, static_cast<uint64_t>(index));
  uint64_t errors = 0;
  std::vector<Buffer> buffers(cfg.slots);
  for (Buffer& b : buffers) Restart(b, rng, cfg, &errors);
  ctl->WaitForGo();
  const uint64_t ops = RunOps(cfg, ctl, [&] {
    Buffer& b = buffers[rng.Below(buffers.size())];
    Append(b, rng.Size(kMinAppend, kMaxAppend), &errors);
    if (b.len >= b.target) Restart(b, rng, cfg, &errors);
  });
  result->end = Clock::now();
  result->ops = ops;
  for (Buffer& b : buffers) {
    if (!Intact(b)) ++errors;
    free(b.p);
  }
  result->errors = errors;
}

}  // namespace

Outcome RunReallocGrow(const Config& cfg) {
  return RunIndependentThreads(cfg, ReallocGrowThread);
}

}  // namespace hakmem_bench
