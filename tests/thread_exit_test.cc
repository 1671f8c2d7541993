// Thread exit: a thread's caches go to the next thread or back. A block
// outlives the thread that allocated it; a thread that only frees others'
// blocks must not pin memory; a stream of short-lived threads must not grow
// the footprint.
#include <pthread.h>
#include <string.h>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <set>
#include <utility>
#include <thread>
#include <vector>

#include "core/base/range_map.h"
#include "core/base/size_classes.h"
#include "core/hakmem.h"
#include "core/stats.h"
#include "core/thread_heap.h"
#include "gtest/gtest.h"
#include "pools/tiny/aligned_inside.h"
#include "pools/tiny/slab.h"

namespace {

using hakmem::hak_alloc;
using hakmem::hak_alloc_aligned;
using hakmem::hak_free;

uint64_t BytesMapped() {
  hakmem::Stats s;
  hakmem::GetStats(&s);
  return s.bytes_mapped;
}

size_t SizeFor(int i) {
  static const size_t kSizes[] = {16, 48, 200, 1000, 3000, 20000, 70000};
  return kSizes[i % 7];
}

// Blocks from a thread that has exited are intact and freeable, by the thread
// that takes them over, and the memory is reused.
TEST(ThreadExit, BlocksOutliveTheirThread) {
  for (int round = 0; round < 20; ++round) {
    std::vector<unsigned char*> blocks;
    std::thread t([&] {
      for (int i = 0; i < 2000; ++i) {
        auto* p = static_cast<unsigned char*>(hak_alloc(SizeFor(i)));
        memset(p, i & 0xff, SizeFor(i));
        blocks.push_back(p);
      }
    });
    t.join();
    for (size_t i = 0; i < blocks.size(); ++i) {
      ASSERT_EQ(blocks[i][0], static_cast<unsigned char>(i & 0xff));
      ASSERT_EQ(blocks[i][SizeFor(static_cast<int>(i)) - 1],
                static_cast<unsigned char>(i & 0xff));
      hak_free(blocks[i]);
    }
  }
}

// A thread's bins outlive it: the next thread to set up a heap takes that
// heap over (the free pool is a stack) and allocates from them with no
// refill; a heap nobody takes is drained once its exit is a decay delay old.
TEST(ThreadExit, TheNextThreadTakesOverTheBinsAndADecayPassDrainsTheRest) {
  // The first thread takes a pooled heap too: it must not come with the
  // earlier tests' bins, which may hold more than an exit keeps.
  hakmem::DrainExitedHeaps();
  std::vector<void*> freed;
  hakmem::Heap* exited = nullptr;
  std::thread([&] {
    for (int i = 0; i < 100; ++i) freed.push_back(hak_alloc(64));
    for (void* p : freed) hak_free(p);
    exited = hakmem::CurrentHeap();
  }).join();
  const std::set<void*> freed_set(freed.begin(), freed.end());
  std::thread([&] {
    for (int i = 0; i < 100; ++i) {
      void* p = hak_alloc(64);
      EXPECT_EQ(freed_set.count(p), 1u) << i;
      hak_free(p);
    }
    EXPECT_EQ(hakmem::CurrentHeap(), exited);
    EXPECT_EQ(hakmem::CurrentHeap()->refills, 0u);  // all of them from the bin
  }).join();
  // That thread has exited too, its bin full again: not drained while its
  // exit is younger than the delay, drained after.
  ASSERT_TRUE(exited->holds_bins);
  hakmem::DrainIdleExitedHeaps(exited->exited_ms - 5, 1000);  // a clock read before the exit
  EXPECT_TRUE(exited->holds_bins);
  hakmem::DrainIdleExitedHeaps(exited->exited_ms + 999, 1000);
  EXPECT_TRUE(exited->holds_bins);
  hakmem::DrainIdleExitedHeaps(exited->exited_ms + 1000, 1000);
  EXPECT_FALSE(exited->holds_bins);
  std::thread([&] {
    hak_free(hak_alloc(64));
    EXPECT_EQ(hakmem::CurrentHeap(), exited);
    EXPECT_EQ(hakmem::CurrentHeap()->refills, 1u);  // its bin was given back
  }).join();
}

// Drains of the free pool (decay passes, malloc_trim) take its heaps out while
// they drain and put them back: racing a stream of threads that start (take
// a pooled heap) and exit (pool theirs), no heap is lost or pooled twice. At
// rest, every record is pooled but the ones held outside (this thread's
// heap, the late heap): as many as before.
TEST(ThreadExit, DrainsOfTheFreePoolRacingThreadStartsLoseNoHeap) {
  const hakmem::HeapCounts before = hakmem::GetHeapCounts();
  std::atomic<bool> done{false};
  std::atomic<uint64_t> drains{0};
  std::thread drainer([&] {
    // Both kinds: the idle ones with no delay (every pooled heap holding
    // bins), and all of them (malloc_trim's).
    for (uint64_t i = 0; !done.load(std::memory_order_relaxed); ++i) {
      if (i % 2 == 0) {
        hakmem::DrainIdleExitedHeaps(UINT64_MAX / 2, 0);
      } else {
        hakmem::DrainExitedHeaps();
      }
      drains.fetch_add(1, std::memory_order_relaxed);
    }
  });
  for (int round = 0; round < 100; ++round) {
    std::thread a([] {
      std::vector<void*> v;
      for (int i = 0; i < 50; ++i) v.push_back(hak_alloc(64 + 16 * (i % 4)));
      for (void* p : v) hak_free(p);  // bins kept for the next thread
    });
    std::thread b([] { hak_free(hak_alloc(200)); });
    a.join();
    b.join();
  }
  done.store(true);
  drainer.join();
  EXPECT_GT(drains.load(), 0u);
  const hakmem::HeapCounts after = hakmem::GetHeapCounts();
  EXPECT_EQ(after.created - before.created, after.exited - before.exited);
  EXPECT_EQ(after.records - after.pooled, before.records - before.pooled)
      << "heaps neither pooled nor held by a thread";
}

// Bins holding more than a little are drained at the exit: the thread that
// takes the heap over may run no upkeep for long, so they would not decay.
TEST(ThreadExit, BigBinsAreDrainedAtExit) {
  hakmem::Heap* exited = nullptr;
  std::thread([&] {
    std::vector<void*> v;
    for (int i = 0; i < 20; ++i) v.push_back(hak_alloc(6000));
    for (void* p : v) hak_free(p);  // fewer than the bin's limit (84): it keeps 120 KiB
    EXPECT_GT(hakmem::CurrentHeap()->tiny.CachedBytes(), 64u << 10);
    exited = hakmem::CurrentHeap();
  }).join();
  EXPECT_FALSE(exited->holds_bins);
  EXPECT_EQ(exited->tiny.CachedBytes(), 0u);
}

// Every thread that sets up a heap tears it down at exit.
TEST(ThreadExit, HeapsAreTornDown) {
  hakmem::Stats before;
  hakmem::GetStats(&before);
  for (int i = 0; i < 20; ++i) {
    std::thread t([] {
      void* p = hak_alloc(64);
      hak_free(p);
    });
    t.join();
  }
  hakmem::Stats after;
  hakmem::GetStats(&after);
  EXPECT_GE(after.threads_created - before.threads_created, 20u);
  EXPECT_GE(after.threads_exited - before.threads_exited, 20u);
}

// The main thread allocates, a new thread each round frees everything and
// exits. Whatever the freeing thread cached must go back: 100 rounds of
// ~1.3 MiB would pin 130 MiB if it did not.
TEST(ThreadExit, ThreadThatOnlyFreesDoesNotPinMemory) {
  auto round = [] {
    std::vector<void*> blocks;
    for (int i = 0; i < 3000; ++i) blocks.push_back(hak_alloc(SizeFor(i) % 4000 + 16));
    std::thread t([&] {
      for (void* p : blocks) hak_free(p);
    });
    t.join();
  };
  for (int i = 0; i < 5; ++i) round();
  const uint64_t settled = BytesMapped();
  for (int i = 0; i < 100; ++i) round();
  EXPECT_LE(BytesMapped(), settled + (32u << 20))
      << "settled at " << settled << " bytes mapped";
}

// Short-lived threads that allocate and free their own blocks, two at a time.
TEST(ThreadExit, ManyShortLivedThreadsKeepFootprintBounded) {
  auto batch = [] {
    std::thread a([] {
      std::vector<void*> v;
      for (int i = 0; i < 2000; ++i) v.push_back(hak_alloc(SizeFor(i)));
      for (void* p : v) hak_free(p);
    });
    std::thread b([] {
      for (int i = 0; i < 2000; ++i) hak_free(hak_alloc(SizeFor(i * 3)));
    });
    a.join();
    b.join();
  };
  for (int i = 0; i < 5; ++i) batch();
  const uint64_t settled = BytesMapped();
  for (int i = 0; i < 100; ++i) batch();
  EXPECT_LE(BytesMapped(), settled + (32u << 20))
      << "settled at " << settled << " bytes mapped";
}

// A thread frees blocks of a thread that is still running and then exits;
// the owner keeps allocating (its remote frees are drained, not lost).
TEST(ThreadExit, RemoteFreesFromAnExitedThreadAreReused) {
  std::vector<void*> blocks;
  for (int i = 0; i < 5000; ++i) blocks.push_back(hak_alloc(64));
  std::thread t([&] {
    for (void* p : blocks) hak_free(p);
  });
  t.join();
  const uint64_t before = BytesMapped();
  std::vector<void*> again;
  for (int i = 0; i < 5000; ++i) again.push_back(hak_alloc(64));
  EXPECT_LE(BytesMapped(), before + (4u << 20));
  for (void* p : again) hak_free(p);
}

// Another library's pthread key destructor allocates in every destructor
// round, glibc's last (PTHREAD_DESTRUCTOR_ITERATIONS) included, after
// hakmem's own destructor has returned the thread's heap. Nothing runs after
// the last round, so a heap set up then would never come back: those
// allocations must not set up heaps that pile up, one per thread.
pthread_key_t g_late_key;

void AllocatingDestructor(void* value) {
  const uintptr_t round = reinterpret_cast<uintptr_t>(value);
  void* p = hak_alloc(100 + round);
  memset(p, 1, 100 + round);
  hak_free(p);
  void* kept = hak_alloc(40);  // and one that outlives the thread
  hak_free(kept);
  if (round < PTHREAD_DESTRUCTOR_ITERATIONS) {
    pthread_setspecific(g_late_key, reinterpret_cast<void*>(round + 1));
  }
}

TEST(ThreadExit, AllocationsFromTheLastDestructorRoundPinNoHeap) {
  ASSERT_EQ(pthread_key_create(&g_late_key, AllocatingDestructor), 0);
  const hakmem::HeapCounts before = hakmem::GetHeapCounts();
  for (int i = 0; i < 40; ++i) {
    std::thread([] {
      hak_free(hak_alloc(64));  // this thread has a heap
      pthread_setspecific(g_late_key, reinterpret_cast<void*>(1));
    }).join();
  }
  const hakmem::HeapCounts after = hakmem::GetHeapCounts();
  EXPECT_EQ(after.created - before.created, after.exited - before.exited)
      << "heaps set up and never returned";
  EXPECT_LE(after.records - before.records, 2u) << "a new heap record per thread";
  pthread_key_delete(g_late_key);
}

// Aligned requests from another library's key destructor once hakmem's has
// torn the thread's heap down: there is no colour-0 span to take a block
// from, so each is an address inside a larger block of the late heap
// (pools/tiny/aligned_inside.h; the one way there through the public API).
struct LateAligned {
  void* p;
  size_t alignment;
  size_t size;
};
pthread_key_t g_aligned_key;
std::vector<LateAligned> g_late_aligned;  // reserved by the test: no growth in the destructor
bool g_late_heap_seen = false;

void AligningDestructor(void* value) {
  const uintptr_t round = reinterpret_cast<uintptr_t>(value);
  if (hakmem::CurrentHeap() != &hakmem::g_exited_heap) {  // hakmem's own has not run yet
    if (round < PTHREAD_DESTRUCTOR_ITERATIONS) {
      pthread_setspecific(g_aligned_key, reinterpret_cast<void*>(round + 1));
    }
    return;
  }
  g_late_heap_seen = true;
  for (size_t alignment : {128, 256, 1024, 4096}) {
    for (size_t size : {1, 100, 1000, 3000, 8000}) {
      for (int i = 0; i < 3; ++i) {
        g_late_aligned.push_back({hak_alloc_aligned(alignment, size), alignment, size});
      }
    }
  }
}

// Whether p lies inside a slab block, past its start, as an aligned pointer
// handed out there (its marker set).
bool InsideABlock(const void* p) {
  const uintptr_t e = hakmem::RangeMap::Lookup(p);
  if (hakmem::RangeMap::KindOf(e) != hakmem::RangeKind::kSlab) return false;
  const auto* slab = hakmem::RangeMap::MetaOf<hakmem::tiny::Slab>(e);
  return !slab->IsCarvedBlockStart(p) &&
         hakmem::tiny::AlignedInsideBase(*slab, p, hakmem::tiny::Marker::kKeep) != nullptr;
}

uint64_t InvalidFrees() {
  hakmem::Stats s;
  hakmem::GetStats(&s);
  return s.invalid_frees;
}

// Each such pointer of a coloured class is inside its block; every one is
// aligned, usable to its size, apart from every other and moved intact by
// realloc; frees are clean, here or from another thread; a second free of
// one, and a free of another address inside its block or of the block's
// start, are reported and change nothing.
TEST(ThreadExit, AlignedRequestsAfterTheHeapIsGoneTakeAddressesInsideBlocks) {
  g_late_aligned.reserve(64);
  ASSERT_EQ(pthread_key_create(&g_aligned_key, AligningDestructor), 0);
  std::thread([] {
    hak_free(hak_alloc(64));  // this thread has a heap
    pthread_setspecific(g_aligned_key, reinterpret_cast<void*>(1));
  }).join();
  pthread_key_delete(g_aligned_key);
  ASSERT_TRUE(g_late_heap_seen) << "no destructor round came after hakmem's";
  ASSERT_EQ(g_late_aligned.size(), 60u);
  std::vector<std::pair<uintptr_t, uintptr_t>> ranges;  // [start, end)
  size_t inside = 0;
  for (const LateAligned& a : g_late_aligned) {
    SCOPED_TRACE(testing::Message() << "alignment " << a.alignment << " size " << a.size);
    ASSERT_NE(a.p, nullptr);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(a.p) % a.alignment, 0u);
    // Those a coloured class serves (kColourZero); a block of an uncoloured
    // class (128 B at 128) starts aligned and is handed out as it is.
    const bool colour_zero =
        (hakmem::AlignedClassOf(a.size, a.alignment) & hakmem::kColourZero) != 0;
    inside += colour_zero;
    EXPECT_EQ(InsideABlock(a.p), colour_zero);
    const size_t usable = hakmem::hak_usable_size(a.p);
    EXPECT_GE(usable, a.size);
    memset(a.p, 0x6B, usable);
    const auto start = reinterpret_cast<uintptr_t>(a.p);
    ranges.emplace_back(start, start + usable);
  }
  EXPECT_EQ(inside, 54u);
  std::sort(ranges.begin(), ranges.end());
  for (size_t i = 1; i < ranges.size(); ++i) {
    EXPECT_LE(ranges[i - 1].second, ranges[i].first) << "two live blocks overlap";
  }
  LateAligned& last = g_late_aligned.back();  // 8000 bytes at 4096, inside a block
  ASSERT_TRUE(InsideABlock(last.p));
  auto* moved = static_cast<unsigned char*>(hakmem::hak_realloc(last.p, 3 * last.size));
  ASSERT_NE(moved, nullptr);
  EXPECT_EQ(std::count(moved, moved + last.size, 0x6B), static_cast<ptrdiff_t>(last.size));
  last.p = moved;
  const uint64_t invalid = InvalidFrees();
  const auto inside_one = std::find_if(g_late_aligned.begin(), g_late_aligned.end(),
                                       [](const LateAligned& a) { return InsideABlock(a.p); });
  ASSERT_NE(inside_one, g_late_aligned.end());
  char* first = static_cast<char*>(inside_one->p);
  testing::internal::CaptureStderr();
  hak_free(first + 16);  // inside the block, not the pointer handed out
  // The block's own start, never handed out either: reported by free,
  // realloc and malloc_usable_size alike, and the block stays first's.
  const uintptr_t e = hakmem::RangeMap::Lookup(first);
  const auto* slab = hakmem::RangeMap::MetaOf<hakmem::tiny::Slab>(e);
  char* start = static_cast<char*>(hakmem::tiny::AlignedInsideBase(*slab, first, hakmem::tiny::Marker::kKeep));
  ASSERT_NE(start, nullptr);
  hak_free(start);
  EXPECT_EQ(hakmem::hak_usable_size(start), 0u);
  EXPECT_EQ(hakmem::hak_realloc(start, 10), nullptr);
  testing::internal::GetCapturedStderr();
  EXPECT_EQ(InvalidFrees(), invalid + 4);
  EXPECT_GE(hakmem::hak_usable_size(first), inside_one->size);
  EXPECT_TRUE(InsideABlock(first));
  const size_t half = g_late_aligned.size() / 2;
  for (size_t i = 0; i < half; ++i) hak_free(g_late_aligned[i].p);
  std::thread([&] {
    for (size_t i = half; i < g_late_aligned.size(); ++i) hak_free(g_late_aligned[i].p);
  }).join();
  EXPECT_EQ(InvalidFrees(), invalid + 4);
  testing::internal::CaptureStderr();
  hak_free(first);  // a second free
  testing::internal::GetCapturedStderr();
  EXPECT_EQ(InvalidFrees(), invalid + 5);
  g_late_aligned.clear();
}

}  // namespace
