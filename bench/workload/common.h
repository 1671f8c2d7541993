// Shared pieces of the workload programs: configuration, a seeded generator, the
// "touch and verify" discipline every block goes through, and the timed-run
// scaffolding (start barrier, stop flag, per-thread results).
//
// Everything here calls plain malloc/free so that LD_PRELOAD decides which
// allocator is measured. Nothing on the measured path takes a lock.
#ifndef HAKMEM_BENCH_WORKLOAD_COMMON_H_
#define HAKMEM_BENCH_WORKLOAD_COMMON_H_

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <new>
#include <string>
#include <thread>
#include <vector>

namespace hakmem_bench {

// How much of each new block the workload writes.
enum class Touch {
  kEnds,   // first 8 bytes and the last byte only
  kPages,  // kEnds plus one byte in every 4 KiB page (every page gets faulted in)
  kLines,  // kEnds plus one byte in every 64-byte cache line
};

// Which interface a workload allocates through.
enum class Api {
  kMalloc,    // malloc / free
  kSizedNew,  // ::operator new(size) / ::operator delete(p, size) (C++14 sized delete)
};

struct Config {
  std::string workload;
  int threads = 1;
  double seconds = 2.0;
  uint64_t ops = 0;  // > 0: every thread (or larson chain) runs exactly this many ops
  size_t min_size = 0;
  size_t max_size = 0;
  size_t slots = 0;  // live blocks per thread (xthread: queue capacity per direction)
  uint64_t seed = 1;
  Touch touch = Touch::kPages;
  uint64_t larson_round_ops = 0;  // larson: ops a thread runs before handing over
  uint64_t phase_ms = 3000;       // phase: the unit of the phase lengths (phase.cc)
  std::string rss_trace;          // phase: write the RSS samples (rss_sampler.h) here
  uint64_t pass_one_in = 4;       // rptest: 1 in this many old blocks offered on (0: none)
  Api api = Api::kMalloc;         // larson_sized: kSizedNew
};

// What a workload run produced; the caller prints it.
struct Outcome {
  uint64_t ops = 0;          // the workload's ops (bench/README.md); mostly replacements
  double elapsed_s = 0;      // from the start barrier to the last thread's end
  uint64_t handoffs = 0;     // larson: slot arrays handed to a new thread; rptest: blocks passed on
  uint64_t errors = 0;       // corrupted tags or misaligned blocks seen
  uint64_t quiet_rss_kib = 0;  // phase: mean RSS late in the quiet phases (0: not measured)
};

// splitmix64 seeding + xorshift64*; cheap and good enough for picking sizes and
// slots. Deterministic for a given seed and stream.
class Rng {
 public:
  Rng(uint64_t seed, uint64_t stream) {
    uint64_t z = seed * 0x9E3779B97F4A7C15ull + stream * 0xBF58476D1CE4E5B9ull + 1;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    state_ = (z ^ (z >> 31)) | 1;
  }
  uint64_t Next() {
    state_ ^= state_ >> 12;
    state_ ^= state_ << 25;
    state_ ^= state_ >> 27;
    return state_ * 0x2545F4914F6CDD1Dull;
  }
  // Uniform in [0, n) without a division (Lemire's multiply-shift).
  uint64_t Below(uint64_t n) {
    return static_cast<uint64_t>((static_cast<unsigned __int128>(Next()) * n) >> 64);
  }
  size_t Size(size_t lo, size_t hi) { return lo + Below(hi - lo + 1); }

 private:
  uint64_t state_;
};

// One live block: where it is and how big it was asked to be.
struct Block {
  char* p = nullptr;
  size_t size = 0;
};

inline uint64_t TagFor(size_t size) { return 0x6B61686D656D0000ull ^ (size * 0x9E3779B1ull); }

// Writes the tag (first min(8, size) bytes; the last byte too when size > 8)
// and, per the touch mode, one byte per page or cache line. Returns false if
// the block is misaligned.
inline bool TouchBlock(char* p, size_t size, Touch touch) {
  const uint64_t tag = TagFor(size);
  __builtin_memcpy(p, &tag, size < 8 ? size : 8);
  if (size > 8) p[size - 1] = static_cast<char>(tag);
  if (touch != Touch::kEnds) {
    const size_t step = touch == Touch::kPages ? 4096 : 64;
    for (size_t off = step; off < size - 1; off += step) p[off] = static_cast<char>(off);
  }
  // malloc's blocks of 16 bytes or more must be aligned for max_align_t.
  return size < 16 || (reinterpret_cast<uintptr_t>(p) & 15) == 0;
}

// True if the tag written by TouchBlock is still intact.
inline bool CheckBlock(const char* p, size_t size) {
  const uint64_t tag = TagFor(size);
  uint64_t got = 0;
  __builtin_memcpy(&got, p, size < 8 ? size : 8);
  const uint64_t mask = size >= 8 ? ~0ull : ((1ull << (8 * size)) - 1);
  return (got & mask) == (tag & mask) && (size <= 8 || p[size - 1] == static_cast<char>(tag));
}

// The allocation call every workload goes through: malloc, or sized new/delete
// when the workload asks for it. Aborts on out-of-memory (a benchmark cannot go
// on without it); operator new would throw instead of returning NULL.
inline char* RawAlloc(size_t size, Api api = Api::kMalloc) {
  void* p = api == Api::kSizedNew ? ::operator new(size) : malloc(size);
  if (p == nullptr) {
    fprintf(stderr, "workload: malloc(%zu) returned NULL\n", size);
    abort();
  }
  return static_cast<char*>(p);
}

inline void RawFree(void* p, size_t size, Api api = Api::kMalloc) {
  if (api == Api::kSizedNew) {
    ::operator delete(p, size);
  } else {
    free(p);
  }
}

// Allocates and touches a block of exactly `size` bytes.
inline Block NewBlockOfSize(size_t size, Touch touch, uint64_t* errors, Api api = Api::kMalloc) {
  Block b{RawAlloc(size, api), size};
  if (!TouchBlock(b.p, b.size, touch)) ++*errors;
  return b;
}

// Allocates and touches a block of uniform size in [min_size, max_size].
inline Block NewBlock(Rng& rng, const Config& cfg, uint64_t* errors) {
  return NewBlockOfSize(rng.Size(cfg.min_size, cfg.max_size), cfg.touch, errors, cfg.api);
}

// verify + free.
inline void FreeBlock(const Block& b, uint64_t* errors, Api api = Api::kMalloc) {
  if (b.p == nullptr) return;
  if (!CheckBlock(b.p, b.size)) ++*errors;
  RawFree(b.p, b.size, api);
}

// Replaces one live block: the operation most workloads count.
inline void Replace(Block& b, Rng& rng, const Config& cfg, uint64_t* errors) {
  FreeBlock(b, errors, cfg.api);
  b = NewBlock(rng, cfg, errors);
}

// Request sizes with a power-law skew: the density falls as size^-(1 + shape)
// between lo and hi (shape 0: every doubling of the size is as likely as the
// next; a larger shape favours small sizes more). The table is built once; a
// draw is a table look-up plus a uniform pick between two neighbouring
// quantiles, with no floating point on the measured path.
class SkewedSizes {
 public:
  SkewedSizes(size_t lo, size_t hi, double shape);
  size_t Draw(Rng& rng) const {
    const uint64_t i = rng.Below(kQuantiles);
    return q_[i] + rng.Below(q_[i + 1] - q_[i] + 1);
  }

 private:
  static constexpr int kQuantiles = 1024;
  size_t q_[kQuantiles + 1];
};

using Clock = std::chrono::steady_clock;

inline double SecondsBetween(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

// Start/stop signals shared by the threads of a run. Threads wait on `go`, then
// run until `stop` (timed mode) or until their op budget is spent (--ops).
struct RunControl {
  alignas(64) std::atomic<int> ready{0};
  alignas(64) std::atomic<bool> go{false};
  alignas(64) std::atomic<bool> stop{false};
  Clock::time_point start;

  void WaitForGo() {
    ready.fetch_add(1, std::memory_order_acq_rel);
    while (!go.load(std::memory_order_acquire)) __builtin_ia32_pause();
  }
  // Called by the main thread: waits until `n` threads are ready, starts the
  // clock, and in timed mode sleeps for the run time and raises `stop`.
  void StartAndTime(int n, const Config& cfg);
};

// Per-thread counters, padded so threads never share a line.
struct alignas(64) ThreadResult {
  uint64_t ops = 0;
  uint64_t errors = 0;
  uint64_t handoffs = 0;
  Clock::time_point end;
};

// Folds the per-thread results into an Outcome (elapsed = last end - start).
Outcome Collect(const RunControl& ctl, const ThreadResult* results, int n);

// Repeats `op()` until the run ends: exactly cfg.ops times with --ops, else
// until `stop`. Returns how many times it ran.
template <class Op>
uint64_t RunOps(const Config& cfg, const RunControl* ctl, Op op) {
  uint64_t n = 0;
  if (cfg.ops > 0) {
    for (; n < cfg.ops; ++n) op();
  } else {
    while (!ctl->stop.load(std::memory_order_relaxed)) {
      op();
      ++n;
    }
  }
  return n;
}

// Whether a thread that has done `done` ops is finished (--ops, or timed out).
inline bool RunOver(const Config& cfg, const RunControl* ctl, uint64_t done) {
  return cfg.ops > 0 ? done >= cfg.ops : ctl->stop.load(std::memory_order_relaxed);
}

// Ends a thread's timed run over its slot array: records the end time and the
// op count, then frees every live block (checking it) and the array itself.
inline void FinishSlots(Block* blocks, size_t slots, uint64_t ops, uint64_t errors,
                        ThreadResult* result) {
  result->end = Clock::now();
  result->ops = ops;
  for (size_t i = 0; i < slots; ++i) FreeBlock(blocks[i], &errors);
  free(blocks);
  result->errors = errors;
}

// One thread of a slot workload (slots.cc, aligned.cc): `slots` live blocks
// made by make(rng, cfg, &errors) before the clock starts (the slot array itself
// comes from the allocator under test too, like any program's bookkeeping);
// one op verifies and frees a random slot's block and makes its replacement.
template <class Make>
void RunSlotThread(const Config& cfg, int index, RunControl* ctl, ThreadResult* result,
                   Make make) {
  Rng rng(cfg.seed, static_cast<uint64_t>(index));
  uint64_t errors = 0;
  auto* blocks = static_cast<Block*>(calloc(cfg.slots, sizeof(Block)));
  for (size_t i = 0; i < cfg.slots; ++i) blocks[i] = make(rng, cfg, &errors);
  ctl->WaitForGo();
  const uint64_t ops = RunOps(cfg, ctl, [&] {
    Block& slot = blocks[rng.Below(cfg.slots)];
    FreeBlock(slot, &errors, cfg.api);
    slot = make(rng, cfg, &errors);
  });
  FinishSlots(blocks, cfg.slots, ops, errors, result);
}

// Waiting on another thread with 2 cores: spin briefly, then yield.
class Backoff {
 public:
  void Worked() { idle_ = 0; }
  void Idle() {
    if (++idle_ > 64) {
      std::this_thread::yield();
    } else {
      __builtin_ia32_pause();
    }
  }

 private:
  int idle_ = 0;
};

// A bounded single-producer single-consumer queue of blocks. The producer
// fills up to a batch of places in place and publishes them with one release
// store; the consumer takes a batch the same way, so the queue's own cost stays
// small next to the allocator's.
class SpscRing {
 public:
  explicit SpscRing(uint64_t limit);  // at most `limit` blocks queued at once
  ~SpscRing();
  SpscRing(const SpscRing&) = delete;
  SpscRing& operator=(const SpscRing&) = delete;

  // Producer: calls make() (which returns a Block) for up to n free places;
  // returns how many it queued.
  template <class Make>
  uint64_t PushUpTo(uint64_t n, Make make) {
    const uint64_t tail = tail_.load(std::memory_order_relaxed);
    const uint64_t space = limit_ - (tail - head_.load(std::memory_order_acquire));
    if (n > space) n = space;
    for (uint64_t k = 0; k < n; ++k) items_[(tail + k) & mask_] = make();
    if (n > 0) tail_.store(tail + n, std::memory_order_release);
    return n;
  }
  // Consumer: calls use(block) for up to n queued blocks; returns how many.
  template <class Use>
  uint64_t PopUpTo(uint64_t n, Use use) {
    const uint64_t head = head_.load(std::memory_order_relaxed);
    const uint64_t avail = tail_.load(std::memory_order_acquire) - head;
    if (n > avail) n = avail;
    for (uint64_t k = 0; k < n; ++k) use(items_[(head + k) & mask_]);
    if (n > 0) head_.store(head + n, std::memory_order_release);
    return n;
  }
  // After the threads are gone: verifies and frees what is still queued.
  void Drain(uint64_t* errors) {
    PopUpTo(UINT64_MAX, [&](const Block& b) { FreeBlock(b, errors); });
  }

 private:
  alignas(64) std::atomic<uint64_t> head_{0};  // advanced by the consumer
  alignas(64) std::atomic<uint64_t> tail_{0};  // advanced by the producer
  alignas(64) Block* items_ = nullptr;
  uint64_t mask_ = 0;  // array size - 1, a power of two
  uint64_t limit_ = 0;
};

// Runs cfg.threads threads of `body(cfg, index, &ctl, &result)`, times them
// and collects their results: the frame of every workload whose threads are
// independent of each other.
// `on_start(ctl)`, if given, runs before the clock starts (a sampler that
// waits for the go), `on_end()` after the threads are done.
template <class Body>
Outcome RunIndependentThreads(const Config& cfg, Body body,
                              const std::function<void(const RunControl&)>& on_start = nullptr,
                              const std::function<void()>& on_end = nullptr) {
  RunControl ctl;
  std::vector<ThreadResult> results(cfg.threads);
  std::vector<std::thread> threads;
  threads.reserve(cfg.threads);
  for (int i = 0; i < cfg.threads; ++i) {
    threads.emplace_back(body, std::cref(cfg), i, &ctl, &results[i]);
  }
  if (on_start) on_start(ctl);
  ctl.StartAndTime(cfg.threads, cfg);
  for (auto& t : threads) t.join();
  if (on_end) on_end();
  return Collect(ctl, results.data(), cfg.threads);
}

// The workloads (one file each; bench/README.md describes them).
Outcome RunSlots(const Config& cfg);        // mid, tiny, large
Outcome RunLarson(const Config& cfg);       // larson, larson_sized
Outcome RunXthread(const Config& cfg);      // xthread
Outcome RunPhases(const Config& cfg);       // phase
Outcome RunXmalloc(const Config& cfg);      // xmalloc
Outcome RunRptest(const Config& cfg);       // rptest
Outcome RunMstress(const Config& cfg);      // mstress
Outcome RunCache(const Config& cfg);        // cache_thrash, cache_scratch
Outcome RunGlibcSimple(const Config& cfg);  // glibc_simple
Outcome RunGlibcThread(const Config& cfg);  // glibc_thread
Outcome RunAllocTest(const Config& cfg);    // alloc_test
Outcome RunBigbuf(const Config& cfg);       // bigbuf
Outcome RunThreadChurn(const Config& cfg);  // thread_churn
Outcome RunBignum(const Config& cfg);       // bignum
Outcome RunEspresso(const Config& cfg);     // espresso
Outcome RunReallocGrow(const Config& cfg);  // realloc_grow
Outcome RunAligned(const Config& cfg);      // aligned
Outcome RunIdleHolder(const Config& cfg);   // idle_holder
Outcome RunDeferredFree(const Config& cfg); // deferred_free
Outcome RunBulk(const Config& cfg);         // bulk

}  // namespace hakmem_bench

#endif  // HAKMEM_BENCH_WORKLOAD_COMMON_H_
