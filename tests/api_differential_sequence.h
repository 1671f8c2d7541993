// One random sequence of the differential API test: a seeded series of calls
// to hakmem's exported allocation API, each result checked against the shadow
// model (api_shadow_model.h). The calls that must fail (impossible sizes,
// invalid alignments) are in api_differential_error_paths.h; threads, rounds
// and the report are in api_differential.h.
//
// Checks made on every call:
//  - a new block is non-null, hakmem's (hak_owns at both ends), aligned to what
//    was asked (at least 16 bytes, 8 for requests under 16), usable size >=
//    requested, overlaps no live block; calloc memory is zero;
//  - before a block is freed, resized or its usable size read, its whole
//    written range still holds its pattern; realloc keeps the first
//    min(old, new) bytes; the new block gets a fresh pattern;
//  - errno is left alone by every successful call and by every free/delete
//    (the test sets a sentinel before each call): hakmem's contract
//    (core/hakmem.h), stricter than glibc's for allocations;
//  - every block is freed with a function that matches its allocation, and
//    hakmem accepts every such free: its count of rejected ("invalid") frees
//    (core/base/invalid_free.h) does not move.
#ifndef HAKMEM_TESTS_API_DIFFERENTIAL_SEQUENCE_H_
#define HAKMEM_TESTS_API_DIFFERENTIAL_SEQUENCE_H_

#include <errno.h>
#include <malloc.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <atomic>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <new>
#include <vector>

#include "core/base/invalid_free.h"
#include "core/hakmem.h"
#include "tests/api_shadow_model.h"
#include "tests/libc_names.h"


namespace hakmem::test {

constexpr size_t kKiB = 1024;
constexpr size_t kMiB = 1024 * kKiB;
constexpr int kErrnoSentinel = 0x7EAD;   // set before each call, expected after
constexpr size_t kMaxLocalBlocks = 256;  // per sequence: above it, free first
const size_t kPageSize = static_cast<size_t>(sysconf(_SC_PAGESIZE));

struct DiffConfig {
  uint64_t seed = 0x5EEDD1FF;
  uint64_t first = 0;  // number of the first sequence
  uint64_t sequences = 6000;
  int threads = 4;
  int ops = 300;                  // mean operations per sequence
  int sequences_per_round = 500;  // threads are started afresh each round
  int max_failures = 5;           // stop the run after this many
};

enum OpCounter {
  kSequences,
  kAllocs,
  kFrees,
  kReallocs,
  kUsables,
  kHandoffs,
  kErrorPaths,
  kIntrospections,
  kNumCounters
};

// The sequence number of the run's last sweep of the exchange (main thread).
constexpr uint64_t kSweepSeq = UINT64_MAX;

// What the threads of one run share.
struct DiffShared {
  explicit DiffShared(const DiffConfig& c) : config(c), exchange(256) {}
  const DiffConfig config;
  LiveRanges ranges;
  Exchange exchange;
  std::atomic<int> failures{0};
  std::atomic<uint64_t> counters[kNumCounters] = {};
};

// Largest fundamental alignment a request of `size` bytes may rely on.
inline size_t MinAlign(size_t size) { return size >= 16 ? 16 : 8; }

class Sequence {
 public:
  Sequence(DiffShared& shared, uint64_t seq, uint32_t thread)
      : shared_(shared),
        seq_(seq),
        thread_(thread),
        rng_(shared.config.seed ^ (seq * 0xD1B54A32D192ED03ull)) {}
  ~Sequence() {
    for (int i = 0; i < kNumCounters; ++i) {
      shared_.counters[i].fetch_add(counters_[i], std::memory_order_relaxed);
    }
  }
  Sequence(const Sequence&) = delete;
  Sequence& operator=(const Sequence&) = delete;

  // Runs the sequence's operations, then hands some of its live blocks to
  // the exchange and frees the rest. False if a check failed.
  bool Run();
  // Frees every block left in the exchange (the run's last sweep).
  bool DrainExchange() {
    Block b;
    while (!failed_ && shared_.exchange.Take(rng_.Next(), &b)) Release(b);
    return !failed_;
  }

 private:
  // ---- reporting ----
  void SetOp(const char* name, size_t a = 0, size_t b = 0, int nargs = 0) {
    op_name_ = name;
    op_args_[0] = a;
    op_args_[1] = b;
    op_nargs_ = nargs;
  }
  // Reports a failed check (once per sequence: later ones would cascade) with
  // everything needed to replay it, and ends the sequence. b: the block
  // concerned, if any; live: the live block it ran into, if any.
  void Fail(const Block* b, const char* fmt, ...) __attribute__((format(printf, 3, 4)));
  void FailOverlap(const Block& b, const Block& live, const char* fmt, ...)
      __attribute__((format(printf, 4, 5)));
  void Report(const Block* b, const Block* live, const char* fmt, va_list ap);

  // ---- model ----
  Block TakeLocal(size_t i) {
    Block b = local_[i];
    local_[i] = local_.back();
    local_.pop_back();
    return b;
  }
  int PickCFamily() {
    for (int tries = 0; tries < 4 && !local_.empty(); ++tries) {
      const size_t i = rng_.Below(local_.size());
      if (IsCFamily(local_[i].kind)) return static_cast<int>(i);
    }
    return -1;
  }
  bool Verify(const Block& b);
  bool Adopt(void* p, size_t size, size_t align, Kind kind, bool zeroed,
             const Block* old = nullptr);
  bool Release(const Block& b);
  void Deallocate(const Block& b);  // api_differential_ops.h
  // After a call that freed b (free, delete, a moving or zero-size realloc):
  // hakmem must not have rejected it. `before`: InvalidFreeCount() before it.
  // (The count is global: a rejection on another thread at the same moment
  // would be reported here too; hakmem's own stderr line names the address.)
  void ExpectAccepted(uint64_t before, const Block& b) {
    const uint64_t now = InvalidFreeCount();
    if (now != before) {
      Fail(&b, "hakmem rejected a valid free (invalid-free count %llu -> %llu)",
           static_cast<unsigned long long>(before), static_cast<unsigned long long>(now));
    }
  }

  // ---- distributions ----
  size_t LogUniform(size_t lo, size_t hi) {
    const double u = static_cast<double>(rng_.Below(1u << 20)) / (1u << 20);
    const size_t n = static_cast<size_t>(lo * std::exp2(u * std::log2(double(hi) / lo)));
    return n < lo ? lo : n > hi ? hi : n;
  }
  // Mostly small; Mid, L2.5, class and tier edges; a few Large up to 4 MiB.
  size_t DrawSize() {
    const uint64_t r = rng_.Below(10000);
    if (r < 7000) return rng_.Below(257);
    if (r < 8500) return rng_.Between(257, 4 * kKiB);
    if (r < 9400) return LogUniform(4 * kKiB, 64 * kKiB);
    if (r < 9800) {  // 2^k - 1, 2^k, 2^k + 1: class and tier boundaries up to 1 MiB
      const int k = static_cast<int>(rng_.OneIn(16) ? rng_.Between(17, 20) : rng_.Between(3, 16));
      return (size_t{1} << k) + rng_.Below(3) - 1;
    }
    if (r < 9985) return LogUniform(64 * kKiB, kMiB + kMiB / 8);
    return LogUniform(kMiB, 4 * kMiB);
  }
  // Powers of two, 8 B .. 64 KiB, a few up to 2 MiB.
  size_t DrawAlign() {
    const uint64_t r = rng_.Below(1000);
    const uint64_t k = r < 600   ? rng_.Between(3, 6)
                       : r < 900 ? rng_.Between(7, 12)
                       : r < 990 ? rng_.Between(13, 16)
                                 : rng_.Between(17, 21);
    return size_t{1} << k;
  }
  size_t DrawElementSize() {
    static constexpr size_t kElems[] = {1, 2, 3, 4, 8, 12, 16, 24, 40, 100};
    return kElems[rng_.Below(sizeof(kElems) / sizeof(kElems[0]))];
  }

  // ---- operations (api_differential_ops.h) ----
  Kind DrawKind();
  void AllocOp();
  void AllocNew(Kind kind, size_t size);
  void FreeOp();
  void ReallocOp();
  void ReallocToZeroOp();
  void UsableSizeOp();
  void HandOffOp(bool give);
  void IntrospectOp();
  // ---- calls that must fail (api_differential_error_paths.h) ----
  size_t DrawHugeSize();
  void DrawOverflowPair(size_t* n, size_t* m);
  void ErrorPathOp();
  void FailingResize(bool array);
  void FailingPosixMemalign(bool bad_alignment);
  void FailingNew();
  void NullFrees();
  void ExpectFailure(const void* p, int want_errno);

  DiffShared& shared_;
  const uint64_t seq_;
  const uint32_t thread_;
  Rng rng_;
  std::vector<Block> local_;
  uint32_t op_index_ = 0;
  bool failed_ = false;
  uint64_t counters_[kNumCounters] = {};
  const char* op_name_ = "start";
  size_t op_args_[2] = {};
  int op_nargs_ = 0;
};

// ---- reporting -------------------------------------------------------------------

inline void PrintBlock(const char* label, const Block& b) {
  char pattern[96] = "not written yet";
  if (b.seed != 0) {
    snprintf(pattern, sizeof pattern, "pattern over %zu bytes (seed %#llx)", b.written,
             static_cast<unsigned long long>(b.seed));
  }
  fprintf(stderr,
          "  %s %p: %s, size %zu, align %zu, %s; "
          "allocated by seq %llu op #%u on thread %u, handed off %u times\n",
          label, b.p, KindName(b.kind), b.size, b.align, pattern,
          static_cast<unsigned long long>(b.origin.seq), b.origin.op, b.origin.thread, b.handoffs);
}

inline void Sequence::Fail(const Block* b, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  Report(b, nullptr, fmt, ap);
  va_end(ap);
}

inline void Sequence::FailOverlap(const Block& b, const Block& live, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  Report(&b, &live, fmt, ap);
  va_end(ap);
}

inline void Sequence::Report(const Block* b, const Block* live, const char* fmt, va_list ap) {
  if (failed_) return;
  failed_ = true;
  char msg[512];
  vsnprintf(msg, sizeof msg, fmt, ap);
  const auto& c = shared_.config;
  flockfile(stderr);
  fprintf(stderr, "\napi_differential FAILURE: seed %#llx, sequence %llu, op #%u on thread %u\n",
          static_cast<unsigned long long>(c.seed), static_cast<unsigned long long>(seq_), op_index_,
          thread_);
  fprintf(stderr, "  operation: %s", op_name_);
  for (int i = 0; i < op_nargs_; ++i) fprintf(stderr, "%s%zu", i ? ", " : " (", op_args_[i]);
  fprintf(stderr, "%s\n  %s\n", op_nargs_ ? ")" : "", msg);
  if (b != nullptr) PrintBlock("block", *b);
  if (live != nullptr) PrintBlock("live", *live);
  if (seq_ == kSweepSeq) {
    fprintf(stderr,
            "  (in the run's final sweep of the exchange: rerun the whole run "
            "--seed=%#llx --first=%llu --sequences=%llu --threads=%d)\n",
            static_cast<unsigned long long>(c.seed), static_cast<unsigned long long>(c.first),
            static_cast<unsigned long long>(c.sequences), c.threads);
  } else {
    fprintf(stderr,
            "  replay alone: bazel run //tests:api_differential_main -- --seed=%#llx "
            "--first=%llu --sequences=1 --threads=1\n"
            "  (blocks handed over by other sequences differ in a replay; the whole run: "
            "--seed=%#llx --first=%llu --sequences=%llu --threads=%d)\n",
            static_cast<unsigned long long>(c.seed), static_cast<unsigned long long>(seq_),
            static_cast<unsigned long long>(c.seed), static_cast<unsigned long long>(c.first),
            static_cast<unsigned long long>(c.sequences), c.threads);
  }
  funlockfile(stderr);
  shared_.failures.fetch_add(1);
}

// ---- the model's checks --------------------------------------------------------

inline bool Sequence::Verify(const Block& b) {
  const size_t at = FindPatternMismatch(b.p, 0, b.written, b.seed);
  if (at == kIntact) return true;
  Fail(&b, "block content changed at offset %zu: found 0x%02x, wrote 0x%02x", at,
       static_cast<const unsigned char*>(b.p)[at], PatternByte(b.seed, at));
  return false;
}

// Checks a block hakmem just returned (errno must still be the sentinel),
// enters it in the model and writes a fresh pattern over it. `old`: the block
// a realloc moved, whose first min(old, new) bytes must have come along.
inline bool Sequence::Adopt(void* p, size_t size, size_t align, Kind kind, bool zeroed,
                            const Block* old) {
  const int err = errno;
  Block b;
  b.p = p;
  b.size = size;
  b.align = align;
  b.written = size;
  b.kind = kind;
  b.origin = {seq_, op_index_, thread_};
  if (p == nullptr) {
    Fail(old, "returned NULL (errno %d) for a request that must succeed", err);
    return false;
  }
  if (err != kErrnoSentinel) {
    Fail(&b, "changed errno to %d on success", err);
    return false;
  }
  const size_t want_align = align > MinAlign(size) ? align : MinAlign(size);
  auto* bytes = static_cast<unsigned char*>(p);
  if (reinterpret_cast<uintptr_t>(p) % want_align != 0) {
    Fail(&b, "%p is not aligned to %zu", p, want_align);
    return false;
  }
  if (!hak_owns(p) || (size > 0 && !hak_owns(bytes + size - 1))) {
    Fail(&b, "%p..+%zu is not hakmem's memory (another allocator answered)", p, size);
    return false;
  }
  if (const size_t usable = malloc_usable_size(p); usable < size) {
    Fail(&b, "malloc_usable_size %zu < requested %zu", usable, size);
    return false;
  }
  if (const size_t at = zeroed ? FindNonZero(p, size) : kIntact; at != kIntact) {
    Fail(&b, "calloc memory not zero at offset %zu (0x%02x)", at, bytes[at]);
    return false;
  }
  if (old != nullptr) {
    const size_t keep = old->size < size ? old->size : size;
    if (const size_t at = FindPatternMismatch(p, 0, keep, old->seed); at != kIntact) {
      Fail(old, "realloc to %zu (at %p) lost the old content: offset %zu of the %zu kept", size, p,
           at, keep);
      return false;
    }
  }
  Block other;
  if (!shared_.ranges.Insert(b, &other)) {
    FailOverlap(b, other, "new block [%p, +%zu) overlaps a live block", p, size);
    return false;
  }
  b.seed = rng_.Next();
  FillPattern(p, 0, size, b.seed);
  local_.push_back(b);
  return true;
}

// Verifies b, takes it out of the model and frees it with a matching function.
inline bool Sequence::Release(const Block& b) {
  if (!Verify(b)) return false;
  if (!shared_.ranges.Erase(b.p)) {
    Fail(&b, "test bug: block missing from the live map");
    return false;
  }
  const uint64_t rejected = InvalidFreeCount();
  errno = kErrnoSentinel;
  Deallocate(b);
  const int err = errno;
  if (err != kErrnoSentinel) Fail(&b, "%s changed errno to %d", op_name_, err);
  ExpectAccepted(rejected, b);
  ++counters_[kFrees];
  return !failed_;
}

}  // namespace hakmem::test

#endif  // HAKMEM_TESTS_API_DIFFERENTIAL_SEQUENCE_H_
