#include "core/decay.h"

#include <sys/prctl.h>
#include <time.h>

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

void Pass(uint64_t now) {
  const uint64_t decay = GetConfig().decay_ms;
  // Threads whose bins serve everything take no slow path that would trim
  // them: ask them to (their next malloc or free does).
  NudgeIdleHeaps(now, decay / 4);
  DrainIdleExitedHeaps(now, decay);
  ReturnAllThreadRanges();  // so that they decay in the big cache
  large::Decay(now);
  mid::DecayIdleSpans(now, decay);  // their units join the manager's free units
  tiny::DecaySuperSlabs(now, decay);
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
  for (;;) {
    uint64_t sleep_ms = GetConfig().decay_ms / 4;
    if (sleep_ms < 10) sleep_ms = 10;
    if (sleep_ms > 1000) sleep_ms = 1000;
    timespec ts{static_cast<time_t>(sleep_ms / 1000), static_cast<long>(sleep_ms % 1000) * 1000000};
    nanosleep(&ts, nullptr);
    MaybeDecay();
    // Here only, off every program thread: a collapse takes the kernel
    // milliseconds (a huge page found, the pages copied into it), and so
    // does faulting in a cached range's huge pages.
    if (GetConfig().huge_pages) {
      tiny::CollapseFullSuperSlabs(NowMs());
      large::MakeCachedRangesHuge(NowMs());
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
