// Counters that hakmem keeps and the read API over them (HAKMEM_STATS=1, tests, tools).
#ifndef HAKMEM_CORE_STATS_H_
#define HAKMEM_CORE_STATS_H_

#include <cstddef>
#include <cstdint>

namespace hakmem {

// A snapshot, aggregated over all thread heaps (live and exited) and the global
// tiers. Values read while other threads run are approximate but never torn.
struct Stats {
  // Requests served by the size-class pool (<= 1 MiB), split at the Tiny limit.
  uint64_t tiny_allocs;        // requests <= 1 KiB
  uint64_t mid_allocs;         // requests in (1 KiB, 1 MiB]
  uint64_t cache_hits;         // served from the thread cache without a refill
  uint64_t refills;            // thread-cache refills from slabs
  uint64_t flushes;            // thread-cache overflows returned to slabs
  uint64_t local_frees;        // frees by the owning thread
  uint64_t remote_frees;       // frees by another thread (per-slab remote list)
  uint64_t large_allocs;       // requests > 1 MiB (or over-aligned)
  uint64_t large_cache_hits;   // large requests served from the big cache
  uint64_t invalid_frees;      // foreign, interior or double frees detected
  uint64_t superslabs_mapped;  // live SuperSlabs
  uint64_t superslabs_most;    // the most live at once
  uint64_t huge_collapses;     // SuperSlabs collapsed to huge pages, ever
  uint64_t large_huge_ranges;  // cached Large ranges put on huge pages, ever
  uint64_t arena_bytes;        // address space reserved for SuperSlabs (0: none)
  uint64_t bytes_mapped;       // all memory hakmem holds from the OS (incl. metadata)
  uint64_t bytes_large_cached; // freed large mappings kept for reuse
  uint64_t bytes_large_yielded; // cached large mappings unmapped as the slab tiers grew, ever
  uint64_t rising_give_backs;  // give-backs while the program grew elsewhere (core/decay.h), ever
  uint64_t bytes_rising_given; // ... and the bytes they gave back
  uint64_t threads_created;    // thread heaps set up
  uint64_t threads_exited;     // thread heaps torn down and returned
};

void GetStats(Stats* out);

// Per size class of the slab pool (Tiny, Mid, L2.5), summed over all thread
// heaps: what ACE and the learner read. Monotonic counters, except the last two.
struct ClassStats {
  uint64_t allocs;          // blocks handed out from this class (hits and misses; other
                            // threads' as of their last slow path of the class)
  uint64_t refills;         // thread-cache misses that refilled from slabs
  uint64_t spans_reused;    // spans a refill took from the idle stacks (CAP hits)
  uint64_t spans_new;       // spans a refill took from the SuperSlab manager (CAP misses)
  uint64_t borrowed;        // blocks of this class served to smaller requests (W_MAX)
  uint64_t borrowed_waste;  // bytes beyond the request in those blocks
  uint64_t idle_spans;      // idle spans held now
  uint64_t cap;             // current CAP
};
void GetClassStats(int size_class, ClassStats* out);
// Writes a human-readable report to fd (uses no malloc).
void PrintStats(int fd);

}  // namespace hakmem

#endif  // HAKMEM_CORE_STATS_H_
