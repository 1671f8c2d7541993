// Decay (HAKMEM_DECAY_MS): memory a program stopped using goes back to the OS
// by time, while it keeps running (and allocating) at a lower level, without
// malloc_trim. A phase builds tens of MiB in Mid blocks on a thread and frees
// them; the program then carries on with a few small blocks. Within a few
// decay delays the free memory hakmem holds resident falls below the
// documented bounds and the process's RSS falls with it.
#include <unistd.h>

#include <cstdio>
#include <thread>
#include <vector>

#include "core/base/clock.h"
#include "core/base/config.h"
#include "core/base/size_classes.h"
#include "core/hakmem.h"
#include "gtest/gtest.h"
#include "tests/resident_memory.h"
#include "pools/mid/idle_spans.h"
#include "pools/tiny/superslab_manager.h"

namespace hakmem {
namespace {

uint64_t RssBytes() { return test::ResidentBytes(); }

uint64_t IdleSpanBytes() {
  uint64_t bytes = 0;
  for (int c = 0; c < kNumClasses; ++c) {
    bytes += mid::IdleSpans(c) * kClassInfo[c].span_units * kUnitSize;
  }
  return bytes;
}

// Resident memory hakmem's spans hold: units in use (in thread caches or
// idle stacks) and free units not decommitted yet. Unlike the RSS, it is
// the same under sanitizers.
uint64_t HeldBytes() { return tiny::InUseBytes() + tiny::ResidentFreeBytes(); }

// Every test runs with a 200 ms delay, set once before the decay thread
// starts: it reads the configuration, which must not change under it.
const Config& ShortDelay() {
  static const Config config = [] {
    Config c = GetConfig();
    c.decay_ms = 200;
    SetConfigForTesting(c);
    return c;
  }();
  return config;
}

TEST(Decay, FreeMemoryGoesBackWithinTheDelayWhileTheProgramRunsOn) {
  const Config& c = ShortDelay();
  hak_trim(0);
  // A program that has run a while: the decay thread starts with its next
  // refills (a younger one would not have it; core/decay.h).
  usleep(300 * 1000);
  const uint64_t rss_before = RssBytes();
  // The phase: ~40 MiB of 2-8 KiB blocks built and freed on one thread.
  std::thread([] {
    std::vector<void*> v;
    for (int i = 0; i < 8000; ++i) {
      const size_t size = 2048 + static_cast<size_t>(i % 7) * 1024;
      char* p = static_cast<char*>(hak_alloc(size));
      for (size_t off = 0; off < size; off += 4096) p[off] = 1;
      v.push_back(p);
    }
    for (void* p : v) hak_free(p);
  }).join();
  const uint64_t rss_peak = RssBytes();
  ASSERT_GT(rss_peak, rss_before + (20u << 20)) << "the phase did not build up memory";
  // The program runs on with a small live set of a few classes, whose bins
  // rarely run dry: the decay thread gives the memory back.
  const uint64_t deadline = NowMs() + 5 * c.decay_ms;
  std::vector<void*> live(512, nullptr);
  uint64_t x = 88172645463325252ull;
  while (NowMs() < deadline) {
    for (int i = 0; i < 20000; ++i) {
      x ^= x << 13, x ^= x >> 7, x ^= x << 17;
      void*& slot = live[x % live.size()];
      hak_free(slot);
      slot = hak_alloc(16 + (x >> 20) % 1500);
    }
  }
  const uint64_t resident_free = tiny::ResidentFreeBytes() + IdleSpanBytes();
  const uint64_t rss_after = RssBytes();
  for (void* p : live) hak_free(p);
  // The documented bound after the delay: decayed idle spans and decommitted
  // free units, so at most what a pass may not have reached yet.
  EXPECT_LT(resident_free, uint64_t{4} << 20) << "free memory still resident";
  EXPECT_LT(rss_after, rss_before + (rss_peak - rss_before) / 4)
      << "RSS before " << (rss_before >> 20) << " MiB, peak " << (rss_peak >> 20)
      << " MiB, after " << (rss_after >> 20) << " MiB";
}

// A thread that goes on with a steady small live set whose bins never run dry
// nor overflow takes no slow path at all. The blocks and spans its finished
// phase left in its bins and current slabs still go back: decay passes nudge
// it into its slow path (core/heap_upkeep.h).
TEST(Decay, AThreadWithoutSlowPathsGivesBackWhatItsQuietClassesHeld) {
  const Config& c = ShortDelay();
  usleep(300 * 1000);  // the decay thread starts with the next refills
  std::thread([&c] {
    hak_trim(0);
    const uint64_t held_before = HeldBytes();
    // The phase: a live set of 2-32 KiB blocks replaced at random, as a
    // program's working phase does, then freed in random order. What the bins
    // hold afterwards comes from many slabs, each pinned with its free blocks.
    std::vector<void*> live(2000, nullptr);
    uint64_t x = 88172645463325252ull;
    auto next = [&x] { return x ^= x << 13, x ^= x >> 7, x ^= x << 17; };
    for (int i = 0; i < 200000; ++i) {
      void*& slot = live[next() % live.size()];
      hak_free(slot);
      const size_t size = (2 << 10) + next() % (30 << 10);
      char* p = static_cast<char*>(hak_alloc(size));
      for (size_t off = 0; off < size; off += 4096) p[off] = 1;
      slot = p;
    }
    for (size_t i = live.size(); i > 1; --i) std::swap(live[i - 1], live[next() % i]);
    for (void* p : live) hak_free(p);
    const uint64_t held_after_phase = HeldBytes();
    // One block of 64 B allocated and freed over and over: bin hits only.
    // Within a few delays what the phase left goes back but 1 MiB (before
    // the nudge: 10 MiB stayed, in the bins of the phase's classes and the
    // slabs their blocks pinned).
    constexpr uint64_t kLeftOver = 1u << 20;
    const uint64_t deadline = NowMs() + 6 * c.decay_ms;
    uint64_t held = held_after_phase;
    while (NowMs() < deadline && held >= held_before + kLeftOver) {
      for (int i = 0; i < 10000; ++i) hak_free(hak_alloc(64));
      held = HeldBytes();
    }
    ASSERT_GT(held_after_phase, held_before + (16u << 20)) << "the phase built up no memory";
    EXPECT_LT(held, held_before + kLeftOver)
        << "held before " << (held_before >> 10) << " KiB, after the phase "
        << (held_after_phase >> 10) << " KiB, after " << 6 * c.decay_ms
        << " ms without slow paths " << (held >> 10) << " KiB";
  }).join();
}

}  // namespace
}  // namespace hakmem
