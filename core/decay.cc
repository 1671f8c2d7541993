#include "core/decay.h"

#include <sys/prctl.h>
#include <time.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdint>

#include "core/base/clock.h"
#include "core/base/config.h"
#include "core/base/daemon_thread.h"
#include "core/base/os.h"
#include "core/base/range_map.h"
#include "core/heap_upkeep.h"
#include "core/peak_watch.h"
#include "core/thread_heap.h"
#include "pools/large/large_tier.h"
#include "pools/mid/idle_spans.h"
#include "pools/tiny/superslab_arena.h"
#include "pools/tiny/superslab_manager.h"

namespace hakmem {
namespace {

std::atomic<uint64_t> g_next_pass_ms{0};

void Pass(uint64_t now) {
  const uint64_t decay = GetConfig().decay_ms;
  // Threads whose bins serve everything take no slow path that would trim
  // them: ask them to (their next malloc or free does).
  NudgeIdleHeaps(now, decay / 4);
  DrainIdleExitedHeaps(now, decay);
  ReturnAllThreadRanges();  // so that they decay in the big cache
  large::Decay(now, decay);
  mid::DecayIdleSpans(now, decay);  // their units join the manager's free units
  tiny::DecaySuperSlabs(now, decay, decay);
}

// While the program's footprint climbs, free memory hakmem keeps adds to
// its peak: a program that freed its big buffers and went on to grow in
// memory it maps itself (Python's object arenas, V8's heap) kept them
// resident until they decayed, and its peak grew by them (python3 building,
// dumping and parsing JSON: 323 - 340 MiB, glibc 315, mimalloc 318; node:
// 224 - 240, peers 215 - 221). So the decay thread reads the process's
// resident memory at each wake-up, and PeakWatch (core/peak_watch.h) tells
// growth elsewhere from hakmem's own; from the first such rise the thread
// looks every kRisingLookMs for a window, and from the second in a row it
// gives back the big cache's ranges (threads' kept ones too) and the
// SuperSlabs' free units unused for kRisingIdleMs. Idle spans stay: CAP
// bounds them, and emptying the stacks that often left refills without.
// hakmem's own growth does not count: its tiers already give way to each
// other (large::YieldToSlabGrowth), and a program growing its live big
// buffers reuses the cache's ranges as it goes (bigbuf 0.97x when its rises
// counted). Memory taken again within kRisingIdleMs is untouched, and so is
// all of it while the footprint stands still (a server in its steady state,
// the later rounds of phases). The window is HAKMEM_DECAY_MS, at most
// kRisingWindowMaxMs (a long delay would keep the looks frequent and a
// credit alive for as long).
constexpr uint64_t kRisingLookMs = 20;
constexpr uint64_t kRisingIdleMs = 50;
constexpr uint64_t kRisingWindowMaxMs = 2000;
PeakWatch g_peak_watch;  // the decay thread's own
std::atomic<uint64_t> g_rising_give_backs{0};
std::atomic<uint64_t> g_rising_bytes{0};

void WatchPeak(uint64_t now) {
  const uint64_t decay = GetConfig().decay_ms;
  const PeakWatch::Verdict verdict = g_peak_watch.Look(
      now, OsResidentBytes(), OsBytesMappedEver(), std::min(decay, kRisingWindowMaxMs));
  if (verdict != PeakWatch::Verdict::kGiveBack) return;
  const uint64_t idle = std::min(kRisingIdleMs, decay);
  ReturnAllThreadRanges();
  const uint64_t bytes = large::Decay(now, idle) + tiny::DecaySuperSlabs(now, decay, idle);
  // The bytes first: a reader that sees the count sees them (GetRisingGiveBacks).
  g_rising_bytes.fetch_add(bytes, std::memory_order_relaxed);
  g_rising_give_backs.fetch_add(1, std::memory_order_release);
}

}  // namespace

void MaybeDecay() {
  const uint64_t now = NowMs();
  if (ClaimPeriod(g_next_pass_ms, now, GetConfig().decay_ms / 4 + 1)) Pass(now);
}

namespace {

constexpr uint64_t kStartDelayMs = 250;
// ...unless the program has this much mapped for its blocks already
// (BlockBytesMapped): one that built its big memory in its first moments and
// then runs on its bins (or never calls malloc again) made no refill after
// the delay, so it never started the thread, and what it freed stayed
// resident for good (64 MiB of buffers freed at start-up: 64 MiB held). A
// program that maps this much is seldom one that ends at once.
constexpr size_t kEarlyStartBytes = size_t{32} << 20;

// What hakmem has mapped for the program's blocks: all it has mapped (its
// metadata too, small beside) but the range map's window table, 32 MiB
// committed with the slab arena at the first allocation and touched a few
// entries at a time. Counted, it passed kEarlyStartBytes in every program at
// once (`sort` of a short file started the thread).
uint64_t BlockBytesMapped() {
  const uint64_t table = tiny::ArenaReservedBytes() != 0 ? RangeMap::kWindowTableBytes : 0;
  const uint64_t mapped = OsBytesMapped();
  return mapped > table ? mapped - table : 0;
}

constexpr size_t kStackSize = 64 * 1024;
const uint64_t g_loaded_ms = NowMs();  // set when the library is loaded
enum : int { kNotStarted, kRunning, kNever };
std::atomic<int> g_thread_state{kNotStarted};

void* DecayThreadMain(void*) {
  prctl(PR_SET_NAME, "hakmem-decay", 0, 0, 0);
  uint64_t next_huge_ms = 0;
  for (;;) {
    const uint64_t period_ms = std::clamp<uint64_t>(GetConfig().decay_ms / 4, 10, 1000);
    uint64_t sleep_ms = period_ms;
    if (g_peak_watch.Rising(NowMs())) sleep_ms = std::min(sleep_ms, kRisingLookMs);
    timespec ts{static_cast<time_t>(sleep_ms / 1000), static_cast<long>(sleep_ms % 1000) * 1000000};
    nanosleep(&ts, nullptr);
    WatchPeak(NowMs());
    MaybeDecay();
    // Here only, off every program thread: a collapse takes the kernel
    // milliseconds (a huge page found, the pages copied into it), and so
    // does faulting in a cached range's huge pages. Once a period, not at
    // every look while the footprint rises (jq, its heap growing through
    // full SuperSlabs, spent a fifth of its time copying them into huge
    // pages at every look); an eighth of slack for the coarse clock.
    const uint64_t now = NowMs();
    if (GetConfig().huge_pages && now >= next_huge_ms) {
      next_huge_ms = now + period_ms - period_ms / 8;
      tiny::CollapseFullSuperSlabs(now);
      large::MakeCachedRangesHuge(now);
    }
  }
  return nullptr;
}

}  // namespace

void MaybeStartDecayThread() {
  if (g_thread_state.load(std::memory_order_relaxed) != kNotStarted) return;
  // Not before the configuration is read (an allocation from another
  // library's constructor comes before this one's, and before g_loaded_ms is
  // set: 0), nor, as a rule, in a program's first moments.
  if (!ConfigLoaded() || g_loaded_ms == 0) return;
  // A program of one thread keeps glibc's single-threaded fast paths (no
  // lock in stdio's calls, no cancellation point around read and write) for
  // as long as no second thread exists, and may call unshare(CLONE_NEWUSER),
  // which fails in a process of several; the decay thread would end both for
  // good (figures: docs/ARCHITECTURE.md, "Retained memory"). So it gets the
  // thread only once hakmem has kEarlyStartBytes mapped for its blocks, when
  // what it may keep while quiet is no longer small; below that its own slow
  // paths decay what it frees. One that starts a thread of its own gets it at
  // its next refill or Large allocation (250 ms after start-up).
  if (BlockBytesMapped() < kEarlyStartBytes &&
      (OsSingleThreaded() || NowMs() - g_loaded_ms < kStartDelayMs)) {
    return;
  }
  int expected = kNotStarted;
  if (!g_thread_state.compare_exchange_strong(expected, kRunning, std::memory_order_acq_rel)) {
    return;
  }
  if (!GetConfig().decay_thread) {
    g_thread_state.store(kNever, std::memory_order_relaxed);
    return;
  }
  // From inside malloc, which must leave errno alone when it succeeds: a
  // failed thread creation (its stack's mmap) may set it.
  const int saved = errno;
  if (StartDaemonThread(DecayThreadMain, kStackSize) != 0) {
    g_thread_state.store(kNever, std::memory_order_relaxed);  // slow paths decay still
  }
  errno = saved;
}

void DecayAfterForkInChild() { g_thread_state.store(kNever, std::memory_order_relaxed); }

RisingGiveBacks GetRisingGiveBacks() {
  const uint64_t count = g_rising_give_backs.load(std::memory_order_acquire);
  return {count, g_rising_bytes.load(std::memory_order_relaxed)};
}

}  // namespace hakmem
