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

TEST(Decay, FreeMemoryGoesBackWithinTheDelayWhileTheProgramRunsOn) {
  Config c = GetConfig();
  c.decay_ms = 200;
  SetConfigForTesting(c);
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
  // (The delay stays 200 ms: the decay thread reads the configuration, which
  // must not change under it.)
  // The documented bound after the delay: decayed idle spans and decommitted
  // free units, so at most what a pass may not have reached yet.
  EXPECT_LT(resident_free, uint64_t{4} << 20) << "free memory still resident";
  EXPECT_LT(rss_after, rss_before + (rss_peak - rss_before) / 4)
      << "RSS before " << (rss_before >> 20) << " MiB, peak " << (rss_peak >> 20)
      << " MiB, after " << (rss_after >> 20) << " MiB";
}

}  // namespace
}  // namespace hakmem
