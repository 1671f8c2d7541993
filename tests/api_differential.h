// The differential API test: thousands of seeded random sequences of calls to
// hakmem's exported allocation API (the malloc family, glibc's __libc_* names,
// cfree, every operator new/delete form), run on several threads that hand
// live blocks to each other, each answer checked against a shadow model.
//
//   api_shadow_model.h             the model: blocks, patterns, live ranges, exchange
//   api_differential_sequence.h    one sequence: its checks and failure reports
//   api_differential_ops.h         its operations
//   api_differential_error_paths.h the calls that must fail
//   this file                      threads, rounds, flags, the summary
//
// Sequence s draws everything from a generator seeded by (seed, s), so a
// failure report names the seed, the sequence and the operation, and
// `--seed=S --first=s --sequences=1 --threads=1` replays that sequence alone
// (blocks other sequences would have handed it are then its own).
//
// Threads are started afresh every `sequences_per_round` sequences; the
// exchange outlives them, so blocks are also freed after the thread that
// allocated them has exited. The main thread frees what is left at the end.
#ifndef HAKMEM_TESTS_API_DIFFERENTIAL_H_
#define HAKMEM_TESTS_API_DIFFERENTIAL_H_

#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <new>
#include <thread>
#include <vector>

#include "core/base/invalid_free.h"
#include "core/hakmem.h"
#include "tests/api_differential_error_paths.h"
#include "tests/api_differential_ops.h"
#include "tests/api_differential_sequence.h"
#include "tests/api_shadow_model.h"

namespace hakmem::test {

struct DiffResult {
  int failures = 0;
  uint64_t counters[kNumCounters] = {};
  size_t blocks_left = 0;       // live in the model after the run (must be 0)
  uint64_t rejected_frees = 0;  // frees hakmem counted as invalid during the run (must be 0)
  double seconds = 0;
};

// True if every allocating entry point the test calls answers with hakmem's
// memory, so the run cannot silently test another allocator.
inline bool ResolvesToHakmem() {
  struct Probe {
    const char* name;
    void* p;
  };
  void* pm = nullptr;
  const bool pm_ok = posix_memalign(&pm, 64, 100) == 0;
  Probe probes[] = {
      {"malloc", malloc(16)},
      {"calloc", calloc(4, 4)},
      {"realloc", realloc(nullptr, 16)},
      {"reallocarray", reallocarray(nullptr, 4, 4)},
      {"memalign", memalign(64, 100)},
      {"posix_memalign", pm_ok ? pm : nullptr},
      {"aligned_alloc", aligned_alloc(64, 100)},
      {"valloc", valloc(100)},
      {"pvalloc", pvalloc(100)},
      {"__libc_malloc", __libc_malloc(16)},
      {"operator new", ::operator new(16)},
      {"operator new[]", ::operator new[](16)},
      {"operator new(align)", ::operator new (16, std::align_val_t{64})},
      {"operator new[](align, nothrow)", ::operator new[](16, std::align_val_t{64}, std::nothrow)},
  };
  bool ok = true;
  for (const Probe& probe : probes) {
    if (probe.p == nullptr || !hak_owns(probe.p)) {
      fprintf(stderr, "api_differential: %s did not return hakmem's memory (%p)\n", probe.name,
              probe.p);
      ok = false;
    }
  }
  if (!ok) return false;  // leak the probes: they may belong to another allocator
  for (int i = 0; i < 10; ++i) free(probes[i].p);
  ::operator delete(probes[10].p);
  ::operator delete[](probes[11].p);
  ::operator delete (probes[12].p, std::align_val_t{64});
  ::operator delete[](probes[13].p, std::align_val_t{64});
  return true;
}

inline DiffResult RunDifferential(const DiffConfig& config) {
  DiffResult result;
  const auto start = std::chrono::steady_clock::now();
  if (!ResolvesToHakmem()) {
    result.failures = 1;
    return result;
  }
  const uint64_t rejected_before = InvalidFreeCount();
  DiffShared shared(config);
  const uint64_t end = config.first + config.sequences;
  const uint64_t per_round =
      config.sequences_per_round > 0 ? static_cast<uint64_t>(config.sequences_per_round) : 1;
  uint32_t round = 0;
  for (uint64_t lo = config.first; lo < end; lo += per_round, ++round) {
    if (shared.failures.load() >= config.max_failures) break;
    const uint64_t hi = end - lo < per_round ? end : lo + per_round;
    std::atomic<uint64_t> next{lo};
    std::vector<std::thread> threads;
    for (int t = 0; t < config.threads; ++t) {
      const uint32_t id = round * static_cast<uint32_t>(config.threads) + t;
      threads.emplace_back([&shared, &next, &config, hi, id] {
        for (uint64_t s = next.fetch_add(1); s < hi; s = next.fetch_add(1)) {
          if (shared.failures.load(std::memory_order_relaxed) >= config.max_failures) break;
          Sequence(shared, s, id).Run();
        }
      });
    }
    for (std::thread& t : threads) t.join();
  }
  if (shared.failures.load() == 0) {
    Sequence(shared, kSweepSeq, round * static_cast<uint32_t>(config.threads)).DrainExchange();
  }
  result.failures = shared.failures.load();
  for (int i = 0; i < kNumCounters; ++i) result.counters[i] = shared.counters[i].load();
  result.blocks_left = shared.ranges.Count();
  result.rejected_frees = InvalidFreeCount() - rejected_before;
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return result;
}

inline void PrintSummary(FILE* out, const DiffConfig& c, const DiffResult& r) {
  fprintf(out,
          "api_differential: seed %#llx, sequences %llu..%llu, %d threads: %llu done, "
          "%llu allocations, %llu frees, %llu reallocs, %llu usable-size checks, "
          "%llu hand-offs, %llu failing calls, %llu trim/mallinfo2; %d failures, "
          "%llu frees rejected by hakmem, %zu blocks left; %.1f s\n",
          static_cast<unsigned long long>(c.seed), static_cast<unsigned long long>(c.first),
          static_cast<unsigned long long>(c.first + c.sequences - 1), c.threads,
          static_cast<unsigned long long>(r.counters[kSequences]),
          static_cast<unsigned long long>(r.counters[kAllocs]),
          static_cast<unsigned long long>(r.counters[kFrees]),
          static_cast<unsigned long long>(r.counters[kReallocs]),
          static_cast<unsigned long long>(r.counters[kUsables]),
          static_cast<unsigned long long>(r.counters[kHandoffs]),
          static_cast<unsigned long long>(r.counters[kErrorPaths]),
          static_cast<unsigned long long>(r.counters[kIntrospections]), r.failures,
          static_cast<unsigned long long>(r.rejected_frees), r.blocks_left, r.seconds);
}

// Parses one of --seed=, --first=, --sequences=, --threads=, --ops=,
// --per_round=, --max_failures= (numbers in C syntax: 0x.. for hex).
// False for anything else.
inline bool ParseDiffFlag(const char* arg, DiffConfig* c) {
  struct Flag {
    const char* prefix;
    uint64_t* u64;
    int* i32;
  };
  const Flag flags[] = {
      {"--seed=", &c->seed, nullptr},
      {"--first=", &c->first, nullptr},
      {"--sequences=", &c->sequences, nullptr},
      {"--threads=", nullptr, &c->threads},
      {"--ops=", nullptr, &c->ops},
      {"--per_round=", nullptr, &c->sequences_per_round},
      {"--max_failures=", nullptr, &c->max_failures},
  };
  for (const Flag& f : flags) {
    const size_t len = strlen(f.prefix);
    if (strncmp(arg, f.prefix, len) != 0) continue;
    char* rest = nullptr;
    const unsigned long long v = strtoull(arg + len, &rest, 0);
    if (rest == arg + len || *rest != '\0') return false;
    if (f.u64 != nullptr) {
      *f.u64 = v;
    } else {
      if (v == 0 || v > 1'000'000) return false;
      *f.i32 = static_cast<int>(v);
    }
    return true;
  }
  return false;
}

constexpr const char* kDiffFlagsHelp =
    "  --seed=S          run seed (default 0x5eedd1ff)\n"
    "  --first=N         number of the first sequence (default 0)\n"
    "  --sequences=N     sequences to run (default 6000)\n"
    "  --threads=T       worker threads (default 4)\n"
    "  --ops=N           mean operations per sequence (default 300)\n"
    "  --per_round=N     sequences per round of fresh threads (default 500)\n"
    "  --max_failures=N  stop after N failing sequences (default 5)\n";

}  // namespace hakmem::test

#endif  // HAKMEM_TESTS_API_DIFFERENTIAL_H_
