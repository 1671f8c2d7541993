#include "core/stats.h"

#include <cstring>

#include "core/base/invalid_free.h"
#include "core/base/log.h"
#include "core/base/os.h"
#include "core/decay.h"
#include "core/thread_heap.h"
#include "pools/large/large_tier.h"
#include "pools/mid/idle_spans.h"
#include "pools/mid/pool_policy.h"
#include "pools/tiny/superslab_arena.h"
#include "pools/tiny/superslab_manager.h"

namespace hakmem {
namespace {

void AddHeap(const Heap& h, void* arg) {
  Stats* s = static_cast<Stats*>(arg);
  const tiny::CacheCounters& k = h.tiny.counters();
  uint64_t refills = 0;
  for (int c = 0; c < kNumClasses; ++c) {
    const uint64_t allocs = h.tiny.allocs(c);
    (c < kTinyClassCount ? s->tiny_allocs : s->mid_allocs) += allocs;
    refills += k.refills[c].Read();
  }
  s->refills += refills;
  s->flushes += k.flushes.Read();
  s->remote_frees += k.remote_frees.Read();
  const uint64_t own_ranges = h.large_ranges.hits.load(std::memory_order_relaxed);
  s->large_allocs += own_ranges;  // served by the thread's own Large ranges
  s->large_cache_hits += own_ranges;
}

struct ClassSum {
  int c;
  ClassStats* out;
};

void AddHeapClass(const Heap& h, void* arg) {
  const ClassSum* sum = static_cast<const ClassSum*>(arg);
  const tiny::CacheCounters& k = h.tiny.counters();
  const int c = sum->c;
  ClassStats* s = sum->out;
  s->allocs += h.tiny.allocs(c);
  s->refills += k.refills[c].Read();
  s->spans_reused += k.spans_reused[c].Read();
  s->spans_new += k.spans_new[c].Read();
  s->borrowed += k.borrowed[c].Read();
  s->borrowed_waste += k.borrowed_waste[c].Read();
}

}  // namespace

// The calling thread's own counts are exact; other threads' are as of their
// last slow path of each class.
static void PublishOwnCounts() {
  if (Heap* h = OwnHeap()) h->tiny.PublishAllocs();
}

void GetClassStats(int c, ClassStats* out) {
  PublishOwnCounts();
  ClassStats s;
  std::memset(&s, 0, sizeof(s));
  ClassSum sum{c, &s};
  ForEachHeap(AddHeapClass, &sum);
  s.idle_spans = mid::IdleSpans(c);
  s.cap = mid::PoolPolicy::Cap(c);
  *out = s;
}

void GetStats(Stats* out) {
  PublishOwnCounts();
  Stats s;
  std::memset(&s, 0, sizeof(s));
  ForEachHeap(AddHeap, &s);
  // Every allocation that did not need a refill was a thread-cache hit.
  const uint64_t small = s.tiny_allocs + s.mid_allocs;
  s.cache_hits = small > s.refills ? small - s.refills : 0;
  s.remote_frees += tiny::OrphanRemoteFrees();
  const large::LargeStats l = large::GetLargeStats();
  s.large_allocs += l.allocs;
  s.large_cache_hits += l.cache_hits;
  s.bytes_large_cached = l.cached_bytes;
  s.bytes_large_yielded = l.yielded_bytes;
  const RisingGiveBacks rising = GetRisingGiveBacks();
  s.rising_give_backs = rising.count;
  s.bytes_rising_given = rising.bytes;
  s.large_huge_ranges = l.huge_ranges;
  s.invalid_frees = InvalidFreeCount();
  s.superslabs_mapped = tiny::LiveSuperSlabs();
  s.superslabs_most = tiny::MostLiveSuperSlabs();
  s.huge_collapses = tiny::HugePageCollapses();
  s.arena_bytes = tiny::ArenaReservedBytes();
  s.bytes_mapped = OsBytesMapped();
  const HeapCounts heaps = GetHeapCounts();
  s.threads_created = heaps.created;
  s.threads_exited = heaps.exited;
  *out = s;
}

void PrintStats(int fd) {
  Stats s;
  GetStats(&s);
  const uint64_t small = s.tiny_allocs + s.mid_allocs;
  // Hit rate in hundredths of a percent.
  const uint64_t hit_bp = small ? s.cache_hits * 10000 / small : 0;
  LogLine(fd).Str("hakmem stats");
  LogLine(fd).Str("  tiny allocs (<= 1 KiB):      ").Dec(s.tiny_allocs);
  LogLine(fd).Str("  mid allocs (1 KiB - 1 MiB):  ").Dec(s.mid_allocs);
  LogLine(fd).Str("  thread-cache hits:           ").Dec(s.cache_hits).Str(" (").Fixed(hit_bp, 2).Str("%)");
  LogLine(fd).Str("  thread-cache refills:        ").Dec(s.refills);
  LogLine(fd).Str("  thread-cache flushes:        ").Dec(s.flushes);
  LogLine(fd).Str("  remote frees:                ").Dec(s.remote_frees);
  LogLine(fd).Str("  large allocs (> 1 MiB):      ").Dec(s.large_allocs);
  LogLine(fd).Str("  large big-cache hits:        ").Dec(s.large_cache_hits);
  LogLine(fd).Str("  invalid frees:               ").Dec(s.invalid_frees);
  LogLine(fd).Str("  superslabs mapped:           ").Dec(s.superslabs_mapped).Str(" (most ").Dec(s.superslabs_most).Str(")");
  LogLine(fd).Str("  huge-page collapses:         ").Dec(s.huge_collapses);
  LogLine(fd).Str("  large ranges on huge pages:  ").Dec(s.large_huge_ranges);
  LogLine(fd).Str("  slab arena reserved:         ").Dec(s.arena_bytes >> 30).Str(" GiB");
  LogLine(fd).Str("  bytes mapped:                ").Dec(s.bytes_mapped);
  LogLine(fd).Str("  bytes in big cache:          ").Dec(s.bytes_large_cached);
  LogLine(fd).Str("  big cache yielded to slabs:  ").Dec(s.bytes_large_yielded);
  LogLine(fd).Str("  given back, grew elsewhere:  ").Dec(s.rising_give_backs).Str(" times, ").Dec(s.bytes_rising_given).Str(" bytes");
  LogLine(fd).Str("  thread heaps created/exited: ").Dec(s.threads_created).Str("/").Dec(s.threads_exited);
}

}  // namespace hakmem
