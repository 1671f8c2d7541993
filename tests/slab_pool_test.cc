// The slab pool through the front door (hak_*): classes, ownership, remote
// frees, revival of parked slabs, thread exit and invalid frees.
#include <atomic>
#include <cstring>
#include <set>
#include <thread>
#include <vector>

#include "core/base/config.h"
#include "core/hakmem.h"
#include "core/heap_upkeep.h"
#include "core/stats.h"
#include "core/thread_heap.h"
#include "gtest/gtest.h"
#include "pools/tiny/superslab_manager.h"

namespace hakmem {
namespace {

TEST(TinyPool, EveryClassAllocatesDistinctAlignedWritableBlocks) {
  for (int c = 0; c < kNumClasses; ++c) {
    const size_t size = ClassSize(c);
    std::vector<char*> blocks;
    for (int i = 0; i < 40; ++i) {
      char* p = static_cast<char*>(hak_alloc(size));
      ASSERT_NE(p, nullptr);
      ASSERT_EQ(reinterpret_cast<uintptr_t>(p) % (size >= 16 ? 16 : 8), 0u);
      ASSERT_GE(hak_usable_size(p), size);
      std::memset(p, c, size);
      blocks.push_back(p);
    }
    std::set<char*> unique(blocks.begin(), blocks.end());
    EXPECT_EQ(unique.size(), blocks.size());
    for (char* p : blocks) {
      ASSERT_EQ(p[0], static_cast<char>(c));
      ASSERT_EQ(p[size - 1], static_cast<char>(c));
      hak_free(p);
    }
  }
}

TEST(TinyPool, FreedBlocksAreReusedByTheSameThread) {
  void* p = hak_alloc(48);
  hak_free(p);
  EXPECT_EQ(hak_alloc(48), p);  // LIFO thread cache
  hak_free(p);
}

TEST(TinyPool, CrossThreadFreesComeBackToTheOwner) {
  constexpr int kBlocks = 20000;
  std::vector<void*> blocks(kBlocks);
  for (auto& p : blocks) p = hak_alloc(64);
  Stats before;
  GetStats(&before);
  std::thread([&] {
    for (void* p : blocks) hak_free(p);
  }).join();
  Stats after;
  GetStats(&after);
  EXPECT_GE(after.remote_frees - before.remote_frees, uint64_t{kBlocks});
  // The owner gets them back: allocating the same number again maps no new SuperSlab.
  const uint64_t slabs = tiny::LiveSuperSlabs();
  for (auto& p : blocks) p = hak_alloc(64);
  EXPECT_LE(tiny::LiveSuperSlabs(), slabs);
  for (void* p : blocks) hak_free(p);
}

TEST(TinyPool, ParkedFullSlabIsRevivedByARemoteFree) {
  // Fill whole slabs of the 1 KiB class so they are parked full, then free one
  // block from another thread; the next refill must find that block.
  const size_t size = 1024;
  const int per_slab = static_cast<int>(kClassInfo[SizeToClass(size)].capacity);
  std::vector<void*> blocks;
  for (int i = 0; i < 4 * per_slab; ++i) blocks.push_back(hak_alloc(size));
  void* victim = blocks[per_slab / 2];
  std::thread([&] { hak_free(victim); }).join();
  // Allocate until the victim comes back (it must, within a few slabs' worth).
  std::vector<void*> more;
  bool seen = false;
  for (int i = 0; i < 2 * per_slab && !seen; ++i) {
    void* p = hak_alloc(size);
    more.push_back(p);
    seen = p == victim;
  }
  EXPECT_TRUE(seen);
  for (void* p : blocks) {
    if (p != victim) hak_free(p);
  }
  for (void* p : more) hak_free(p);
}

TEST(TinyPool, ThreadExitReturnsItsSlabs) {
  hak_trim(0);
  const uint64_t before = tiny::LiveSuperSlabs();
  std::thread([] {
    std::vector<void*> v;
    for (int i = 0; i < 30000; ++i) v.push_back(hak_alloc(100 + i % 900));
    for (void* p : v) hak_free(p);
  }).join();
  hak_trim(0);
  EXPECT_LE(tiny::LiveSuperSlabs(), before);
}

TEST(TinyPool, AThreadThatOnlyFreesChainsItsFreesOnceItHasFreedMany) {
  constexpr int kBlocks = 5000;
  std::vector<void*> v;
  for (int i = 0; i < kBlocks; ++i) v.push_back(hak_alloc(256));
  const uint64_t orphan_before = tiny::OrphanRemoteFrees();
  Stats before;
  GetStats(&before);
  std::thread([&] {
    for (void* p : v) hak_free(p);
  }).join();
  // The first frees went home one by one, without a heap; then the thread got
  // one, and every later free was chained in its cache (counted there).
  EXPECT_EQ(tiny::OrphanRemoteFrees() - orphan_before, kPlaceholderFreesBeforeHeap - 1);
  Stats after;
  GetStats(&after);
  EXPECT_GE(after.threads_created - before.threads_created, uint64_t{1});
  EXPECT_GE(after.remote_frees - before.remote_frees, uint64_t{kBlocks});
  // Its exit pushed what it had chained: the owner gets every block back and
  // allocating as many again maps no new SuperSlab.
  const uint64_t slabs = tiny::LiveSuperSlabs();
  for (int i = 0; i < kBlocks; ++i) v[i] = hak_alloc(256);
  EXPECT_LE(tiny::LiveSuperSlabs(), slabs);
  for (void* p : v) hak_free(p);
}

TEST(TinyPool, InteriorAndDoubleFreesAreReportedNotCached) {
  char* p = static_cast<char*>(hak_alloc(128));
  Stats before;
  GetStats(&before);
  testing::internal::CaptureStderr();
  hak_free(p + 8);  // interior
  hak_free(p);
  hak_free(p);      // double (the block is at the head of the bin)
  const std::string err = testing::internal::GetCapturedStderr();
  Stats after;
  GetStats(&after);
  EXPECT_EQ(after.invalid_frees - before.invalid_frees, 2u);
  EXPECT_NE(err.find("pointer into the middle of a block"), std::string::npos) << err;
  EXPECT_NE(err.find("double free"), std::string::npos) << err;
  // The cache is intact: two allocations give two different blocks.
  void* a = hak_alloc(128);
  void* b = hak_alloc(128);
  EXPECT_NE(a, b);
  hak_free(a);
  hak_free(b);
}

TEST(TinyPool, ForeignPointersAreReported) {
  int on_stack = 0;
  testing::internal::CaptureStderr();
  hak_free(&on_stack);
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("not allocated by hakmem"), std::string::npos) << err;
  EXPECT_EQ(on_stack, 0);
}

}  // namespace
}  // namespace hakmem

namespace hakmem {
namespace {

TEST(TinyPool, ColouredSpansStartBlocksAtDifferentOffsets) {
  // Many blocks of a 4 KiB class from several spans: their page offsets differ.
  std::vector<void*> v;
  std::set<uintptr_t> offsets;
  for (int i = 0; i < 200; ++i) {
    v.push_back(hak_alloc(4096));
    offsets.insert(reinterpret_cast<uintptr_t>(v.back()) % 4096);
  }
  EXPECT_GT(offsets.size(), 1u);
  for (void* p : v) {
    EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % 64, 0u);
    hak_free(p);
  }
}

TEST(TinyPool, AlignedPointersOfColouredClassesFreeCleanly) {
  for (size_t align : {128u, 256u, 1024u, 4096u, 16384u, 65536u}) {
    for (size_t size : {100u, 3000u, 20000u}) {
      std::vector<char*> v;
      for (int i = 0; i < 64; ++i) {
        char* p = static_cast<char*>(hak_alloc_aligned(align, size));
        ASSERT_NE(p, nullptr);
        ASSERT_EQ(reinterpret_cast<uintptr_t>(p) % align, 0u) << align << " " << size;
        ASSERT_GE(hak_usable_size(p), size);
        std::memset(p, 0x5a, size);
        v.push_back(p);
      }
      // Half freed here, half by another thread (the remote path).
      for (size_t i = 0; i < v.size() / 2; ++i) hak_free(v[i]);
      std::thread([&] {
        for (size_t i = v.size() / 2; i < v.size(); ++i) hak_free(v[i]);
      }).join();
    }
  }
  Stats s;
  GetStats(&s);
  const uint64_t invalid_before = s.invalid_frees;
  // A double free of an aligned pointer is still caught.
  char* p = static_cast<char*>(hak_alloc_aligned(4096, 3000));
  hak_free(p);
  testing::internal::CaptureStderr();
  hak_free(p);
  testing::internal::GetCapturedStderr();
  GetStats(&s);
  EXPECT_EQ(s.invalid_frees, invalid_before + 1);
}

TEST(TinyPool, WmaxLetsAMissBorrowFromALargerClass) {
  // Fill the 2560 bin with a freed block, empty the 2048 bin's slab source by
  // allocating; a request that misses may be served from the 2560 bin when
  // 2560 <= W_MAX x request (defaults: 1.40 for Mid).
  // A new thread: its bins start empty, whatever earlier tests left in this
  // thread's (a 2560 request must get a block of its own class, not one
  // borrowed from a larger class's bin). It takes over a pooled heap, whose
  // bins an exit may have kept: drained first.
  DrainExitedHeaps();
  std::thread([] {
    std::vector<void*> big;
    for (int i = 0; i < 8; ++i) big.push_back(hak_alloc(2560));
    for (void* p : big) hak_free(p);
    std::vector<void*> small;
    for (int i = 0; i < 200; ++i) small.push_back(hak_alloc(2000));
    bool borrowed = false;
    for (void* p : small) borrowed |= hak_usable_size(p) == 2560;
    EXPECT_TRUE(borrowed);
    for (void* p : small) EXPECT_LE(hak_usable_size(p) * 100, 140u * 2000 + 100);
    for (void* p : small) hak_free(p);
  }).join();
}

}  // namespace
}  // namespace hakmem
