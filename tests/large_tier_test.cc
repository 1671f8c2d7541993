// The Large tier through the front door: mapping, alignment, the big cache,
// in-place resizing, trimming and double-free detection.
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <thread>
#include <vector>

#include "core/base/config.h"
#include "core/base/os.h"
#include "core/base/range_map.h"
#include "core/hakmem.h"
#include "core/stats.h"
#include "core/thread_heap.h"
#include "gtest/gtest.h"
#include "pools/large/large_tier.h"

namespace hakmem {
namespace {

constexpr size_t kMiB = size_t{1} << 20;

Stats CurrentStats() {
  Stats s;
  GetStats(&s);
  return s;
}

// For a test's length nothing decays (the big cache keeps what it is given),
// from an empty cache on.
class NothingDecays {
 public:
  NothingDecays() {
    Config c = GetConfig();
    c.decay_ms = 600000;
    SetConfigForTesting(c);
    hak_trim(0);
  }
  ~NothingDecays() { SetConfigForTesting(Config{}); }
};

TEST(LargeTier, BlocksAreUsableAndPageAligned) {
  for (size_t size : {kMiB + 1, 3 * kMiB, 17 * kMiB + 123}) {
    char* p = static_cast<char*>(hak_alloc(size));
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % kPageSize, 0u);
    EXPECT_GE(hak_usable_size(p), size);
    p[0] = 1;
    p[size - 1] = 2;
    hak_free(p);
  }
}

TEST(LargeTier, FreedMappingsAreReusedFromTheBigCache) {
  Stats before;
  GetStats(&before);
  for (int i = 0; i < 10; ++i) hak_free(hak_alloc(4 * kMiB));
  Stats after;
  GetStats(&after);
  EXPECT_GE(after.large_cache_hits - before.large_cache_hits, 9u);
}

TEST(LargeTier, CallocOfReusedMemoryIsZero) {
  char* p = static_cast<char*>(hak_alloc(3 * kMiB));
  std::memset(p, 0xab, 3 * kMiB);
  hak_free(p);
  char* q = static_cast<char*>(hak_calloc(1, 3 * kMiB));
  ASSERT_NE(q, nullptr);
  for (size_t i = 0; i < 3 * kMiB; i += 4096) ASSERT_EQ(q[i], 0) << i;
  hak_free(q);
}

TEST(LargeTier, HugeAlignmentsAreHonoured) {
  for (size_t align : {kMiB * 2, kMiB * 4, kMiB * 16}) {
    void* p = hak_alloc_aligned(align, 100);
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % align, 0u);
    hak_free(p);
  }
}

TEST(LargeTier, ReallocGrowsInPlaceWithinTheMapping) {
  char* p = static_cast<char*>(hak_alloc(kMiB + kMiB / 2));
  p[100] = 7;
  char* q = static_cast<char*>(hak_realloc(p, 2 * kMiB - 4096));
  EXPECT_EQ(q, p);
  char* r = static_cast<char*>(hak_realloc(q, 9 * kMiB));
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r[100], 7);
  hak_free(r);
}

TEST(LargeTier, DoubleAndInteriorFreesAreReported) {
  char* p = static_cast<char*>(hak_alloc(5 * kMiB));
  Stats before;
  GetStats(&before);
  testing::internal::CaptureStderr();
  hak_free(p + 4096);
  hak_free(p);
  hak_free(p);
  const std::string err = testing::internal::GetCapturedStderr();
  Stats after;
  GetStats(&after);
  EXPECT_EQ(after.invalid_frees - before.invalid_frees, 2u) << err;
}

TEST(LargeTier, TrimGivesTheCacheBackToTheOs) {
  std::vector<void*> v;
  for (int i = 0; i < 4; ++i) v.push_back(hak_alloc(3 * kMiB));
  for (void* p : v) hak_free(p);
  Stats s;
  GetStats(&s);
  EXPECT_GT(s.bytes_large_cached, 0u);
  EXPECT_EQ(hak_trim(0), 1);
  GetStats(&s);
  EXPECT_EQ(s.bytes_large_cached, 0u);
}

// A thread's own Large ranges (pools/large/large_tier.h: ThreadRanges) go to
// the big cache when it exits, and back to the OS at malloc_trim.
TEST(LargeTier, AThreadsOwnRangesGoToTheBigCacheAtItsExitAndAwayAtTrim) {
  NothingDecays quiet;
  auto cached = [] { return CurrentStats().bytes_large_cached; };
  std::thread([] {
    hak_free(hak_alloc(64));  // a heap, and Large ranges of its own
    hak_free(hak_alloc(3 * kMiB));
  }).join();
  EXPECT_EQ(cached(), 4 * kMiB);
  hak_trim(0);
  hak_free(hak_alloc(64));
  void* p = hak_alloc(3 * kMiB);
  hak_free(p);
  EXPECT_NE(RangeMap::Lookup(p), 0u);
  hak_trim(0);
  EXPECT_EQ(RangeMap::Lookup(p), 0u);  // given back to the OS from this thread's own
  EXPECT_EQ(cached(), 0u);
}

// Memory the big cache keeps must not add to a program's footprint while the
// program grows in the slab tiers: a SuperSlab mapped past the most there have
// been takes as much of the oldest cached range first. (Mapping again below
// that most takes nothing: pools/tiny/superslab_manager_test.cc.)
TEST(LargeTier, TheBigCacheGivesWayWhenTheSlabTiersGrowPastTheirMost) {
  NothingDecays quiet;
  auto stats = CurrentStats;
  void* big = hak_alloc(6 * kMiB);  // over 4 MiB: the big cache, not the thread's own
  hak_free(big);
  ASSERT_EQ(stats().bytes_large_cached, 6 * kMiB);
  const uint64_t yielded = stats().bytes_large_yielded;
  const uint64_t most = stats().superslabs_most;
  ASSERT_LE(stats().superslabs_mapped, most);
  std::vector<void*> blocks;
  while (stats().superslabs_mapped <= most) {
    blocks.push_back(hak_alloc(16 << 10));
    ASSERT_NE(blocks.back(), nullptr);
  }
  EXPECT_EQ(stats().bytes_large_yielded, yielded + 2 * kMiB);
  EXPECT_EQ(stats().bytes_large_cached, 4 * kMiB);
  EXPECT_EQ(RangeMap::Lookup(big), 0u);  // its first 2 MiB went back to the OS
  for (void* p : blocks) hak_free(p);
  hak_trim(0);
}

TEST(LargeTier, ConcurrentAllocAndFree) {
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([t] {
      for (int i = 0; i < 200; ++i) {
        const size_t size = kMiB + 1 + static_cast<size_t>((i * 7919 + t) % 5) * kMiB;
        char* p = static_cast<char*>(hak_alloc(size));
        ASSERT_NE(p, nullptr);
        p[size - 1] = static_cast<char>(t);
        ASSERT_EQ(p[size - 1], static_cast<char>(t));
        hak_free(p);
      }
    });
  }
  for (auto& th : threads) th.join();
}

// Threads keep Large ranges of their own while another thread takes them all
// back to the big cache (as decay passes and malloc_trim do): no range is
// handed out twice (each block keeps its owner's mark while it is held) and
// none is lost.
TEST(LargeTier, ThreadsOwnRangesTakenBackMeanwhileAreNeverHandedOutTwice) {
  ReturnAllThreadRanges();
  const uint64_t live_before = large::GetLargeStats().live_bytes;
  std::atomic<bool> done{false};
  std::thread taker([&] {
    while (!done.load(std::memory_order_relaxed)) {
      ReturnAllThreadRanges();
      std::this_thread::yield();
    }
  });
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t) {
    threads.emplace_back([t] {
      hak_free(hak_alloc(64));  // a heap: ranges of its own
      std::vector<char*> held;
      for (int i = 0; i < 300; ++i) {
        const size_t size = kMiB + 1 + static_cast<size_t>((i * 7919 + t) % 3) * kMiB;
        char* p = static_cast<char*>(hak_alloc(size));
        ASSERT_NE(p, nullptr);
        ASSERT_EQ(std::find(held.begin(), held.end(), p), held.end());  // not held already
        std::memset(p, 'a' + t, 4096);
        p[hak_usable_size(p) - 1] = static_cast<char>('a' + t);
        held.push_back(p);
        if (held.size() > 2) {  // free the oldest after checking its marks
          char* q = held.front();
          held.erase(held.begin());
          ASSERT_EQ(q[0], static_cast<char>('a' + t));
          ASSERT_EQ(q[4095], static_cast<char>('a' + t));
          ASSERT_EQ(q[hak_usable_size(q) - 1], static_cast<char>('a' + t));
          hak_free(q);
        }
      }
      for (char* q : held) hak_free(q);
    });
  }
  for (auto& th : threads) th.join();
  done = true;
  taker.join();
  ReturnAllThreadRanges();
  EXPECT_EQ(large::GetLargeStats().live_bytes, live_before);  // every range came back
  hak_trim(0);
  Stats s;
  GetStats(&s);
  EXPECT_EQ(s.bytes_large_cached, 0u);
}

}  // namespace
}  // namespace hakmem
