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
#include "core/heap_upkeep.h"
#include "core/thread_heap.h"
#include "pools/large/large_tier.h"
#include "pools/mid/idle_spans.h"
#include "pools/tiny/superslab_manager.h"

namespace hakmem {
namespace {

std::atomic<uint64_t> g_next_pass_ms{0};

// Gives back the free memory of the big cache, the idle spans and the
// SuperSlabs unused for `idle_ms`.
void GiveBackIdle(uint64_t now, uint64_t idle_ms) {
  const uint64_t decay = GetConfig().decay_ms;
  large::Decay(now, idle_ms);
  mid::DecayIdleSpans(now, idle_ms);  // their units join the manager's free units
  tiny::DecaySuperSlabs(now, decay, idle_ms);
}

void Pass(uint64_t now) {
  const uint64_t decay = GetConfig().decay_ms;
  // Threads whose bins serve everything take no slow path that would trim
  // them: ask them to (their next malloc or free does).
  NudgeIdleHeaps(now, decay / 4);
  DrainIdleExitedHeaps(now, decay);
  ReturnAllThreadRanges();  // so that they decay in the big cache
  GiveBackIdle(now, decay);
}

// While the program's peak RSS climbs, free memory hakmem keeps adds to the
// peak itself: a program that freed its big buffers and went on to grow in
// memory it maps itself (Python's object arenas, V8's heap) kept them
// resident until they decayed, and its peak grew by them (python3 building,
// dumping and parsing JSON: 323 - 340 MiB, glibc 315, mimalloc 318; node:
// 224 - 240, peers 215 - 221). So the decay thread looks at the peak every
// kRisingPeakCheckMs while it climbs, and where it rose kRisingPeakBytes or
// more beyond what hakmem mapped (twice in a row, WatchPeak), gives back
// what has been free for kRisingPeakIdleMs. Growth into hakmem's own
// mappings is not such a rise: its tiers already give way to each other
// (large::YieldToSlabGrowth), and a program growing its live big buffers
// reuses the cache's ranges as it goes (bigbuf 0.97x when its rises
// counted). What hakmem maps is touched later than it is mapped (a
// SuperSlab as its spans are carved, a big buffer as the program writes
// it), so the bytes it mapped and the peak has not caught up with yet stay a
// credit that later rises use up first, dropped every decay delay (so that
// the parts of its mappings never touched do not pile up into a credit that
// hides the program's own growth for good; jq growing a 600 MiB heap through
// hakmem counted a rise every few looks without it). Memory a program takes
// again within kRisingPeakIdleMs is untouched, and so is all of it while the
// peak stands still (a server in its steady state, the later rounds of
// phases); the big cache's bound and decay rule the rest.
constexpr uint64_t kRisingPeakBytes = uint64_t{1} << 20;
constexpr uint64_t kRisingPeakCheckMs = 20;
constexpr uint64_t kRisingPeakIdleMs = 50;
// The decay thread's own: the peak and hakmem's mapped bytes when the peak
// last rose, the credit and when it is dropped, until when it looks often,
// and whether the last rise was elsewhere.
uint64_t g_peak_at_rise = 0;
uint64_t g_mapped_at_rise = 0;
uint64_t g_own_credit = 0;
uint64_t g_credit_until_ms = 0;
uint64_t g_rising_until_ms = 0;
bool g_last_rise_elsewhere = false;

// How the peak moved since the last look: it stood still (rose less than
// kRisingPeakBytes), rose by what hakmem mapped meanwhile and its credit, or
// rose elsewhere, kRisingPeakBytes or more beyond that.
enum class PeakMove { kStill, kOwn, kElsewhere };

PeakMove LookAtPeak(uint64_t now) {
  const uint64_t peak = OsPeakResidentBytes();
  if (peak < g_peak_at_rise + kRisingPeakBytes) return PeakMove::kStill;
  const uint64_t mapped = OsBytesMapped();
  const uint64_t own = mapped > g_mapped_at_rise ? mapped - g_mapped_at_rise : 0;
  const bool first = g_peak_at_rise == 0;
  const uint64_t rise = peak - g_peak_at_rise;
  g_peak_at_rise = peak;
  g_mapped_at_rise = mapped;
  if (first) return PeakMove::kOwn;  // a baseline: what was mapped before is no credit
  if (now >= g_credit_until_ms) {
    g_own_credit = 0;
    g_credit_until_ms = now + GetConfig().decay_ms;
  }
  const uint64_t credit = g_own_credit + own;
  g_own_credit = credit > rise ? credit - rise : 0;
  return rise >= credit + kRisingPeakBytes ? PeakMove::kElsewhere : PeakMove::kOwn;
}

// Looks often from the first rise elsewhere, and gives back what is idle at
// the second in a row (looks at which the peak stood still do not break the
// row): a program growing elsewhere does so for a while, and a single rise
// is as often hakmem's own mapping written late, beyond its credit (bigbuf's
// one, the thread's first look between a buffer's mapping and its writing,
// cost it 2 %: the cache's ranges were faulted in again).
void WatchPeak(uint64_t now) {
  const PeakMove move = LookAtPeak(now);
  if (move == PeakMove::kStill) return;
  const bool again = move == PeakMove::kElsewhere && g_last_rise_elsewhere;
  g_last_rise_elsewhere = move == PeakMove::kElsewhere;
  if (move != PeakMove::kElsewhere) return;
  const uint64_t decay = GetConfig().decay_ms;
  g_rising_until_ms = now + decay;
  if (again) GiveBackIdle(now, std::min(kRisingPeakIdleMs, decay));
}

}  // namespace

void MaybeDecay() {
  const uint64_t now = NowMs();
  if (ClaimPeriod(g_next_pass_ms, now, GetConfig().decay_ms / 4 + 1)) Pass(now);
}

namespace {

constexpr uint64_t kStartDelayMs = 250;
// ...unless the program has this much mapped already: one that built its big
// memory in its first moments and then runs on its bins (or never calls
// malloc again) made no refill after the delay, so it never started the
// thread, and what it freed stayed resident for good (64 MiB of buffers
// freed at start-up: 64 MiB held). A program that maps this much is seldom
// one that ends at once.
constexpr size_t kEarlyStartBytes = size_t{32} << 20;
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
    if (NowMs() < g_rising_until_ms) sleep_ms = std::min(sleep_ms, kRisingPeakCheckMs);
    timespec ts{static_cast<time_t>(sleep_ms / 1000), static_cast<long>(sleep_ms % 1000) * 1000000};
    nanosleep(&ts, nullptr);
    WatchPeak(NowMs());
    MaybeDecay();
    // Here only, off every program thread: a collapse takes the kernel
    // milliseconds (a huge page found, the pages copied into it), and so
    // does faulting in a cached range's huge pages. Once a period, not at
    // every look at the peak (jq, its heap growing through full SuperSlabs,
    // spent a fifth of its time copying them into huge pages at every look).
    const uint64_t now = NowMs();
    if (GetConfig().huge_pages && now >= next_huge_ms) {
      next_huge_ms = now + period_ms;
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
  if (NowMs() - g_loaded_ms < kStartDelayMs && OsBytesMapped() < kEarlyStartBytes) return;
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

}  // namespace hakmem
