// Bad pointers passed to free, realloc and malloc_usable_size (through the
// internal API, so ASan and TSan check hakmem's own metadata while it copes):
// every double free is caught before it corrupts anything (any pattern, any
// thread, a thread with no heap, every tier, blocks never handed out), and no
// pointer value crashes hakmem. Caught means reported, counted, ignored: the
// heap stays consistent, which each test checks by allocating many blocks of
// the sizes involved and finding no block handed out twice.
#include <errno.h>
#include <stdint.h>

#include <algorithm>
#include <cstddef>
#include <string>
#include <thread>
#include <vector>

#include "core/base/range_map.h"
#include "core/base/size_classes.h"
#include "core/hakmem.h"
#include "core/stats.h"
#include "core/thread_heap.h"
#include "pools/tiny/slab.h"
#include "gtest/gtest.h"

namespace hakmem {
namespace {

// Every size class region and tier: Tiny, Mid, L2.5, Large.
const size_t kSizes[] = {16, 100, 1024, 8192, 65536, 256 * 1024, 3 << 20};

uint64_t InvalidFrees() {
  Stats s;
  GetStats(&s);
  return s.invalid_frees;
}

// Runs `misuse` with stderr captured; expects `reports` new invalid-pointer
// reports, each line naming its pointer. Returns what was printed.
template <class F>
std::string ExpectReports(uint64_t reports, F misuse) {
  const uint64_t before = InvalidFrees();
  testing::internal::CaptureStderr();
  misuse();
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_EQ(InvalidFrees() - before, reports) << err;
  EXPECT_EQ(static_cast<uint64_t>(std::count(err.begin(), err.end(), '\n')), reports) << err;
  return err;
}

// Allocates `n` blocks of each size on this thread and fails if any two
// overlap (the sign of a block handed out twice); frees them.
void ExpectNoBlockHandedOutTwice(const std::vector<size_t>& sizes, int n = 600) {
  std::vector<std::pair<uintptr_t, uintptr_t>> ranges;
  std::vector<void*> blocks;
  for (size_t size : sizes) {
    for (int i = 0; i < (size > (1 << 20) ? 8 : n); ++i) {
      void* p = hak_alloc(size);
      ASSERT_NE(p, nullptr);
      static_cast<char*>(p)[0] = 1;
      blocks.push_back(p);
      ranges.emplace_back(reinterpret_cast<uintptr_t>(p), reinterpret_cast<uintptr_t>(p) + size);
    }
  }
  std::sort(ranges.begin(), ranges.end());
  for (size_t i = 1; i < ranges.size(); ++i) {
    ASSERT_LE(ranges[i - 1].second, ranges[i].first) << "block handed out twice";
  }
  for (void* p : blocks) hak_free(p);
}

std::vector<size_t> AllSizes() { return std::vector<size_t>(std::begin(kSizes), std::end(kSizes)); }

TEST(DoubleFree, ABAOnOneThreadIsCaughtForEverySize) {
  for (size_t size : kSizes) {
    SCOPED_TRACE(size);
    void* a = hak_alloc(size);
    void* b = hak_alloc(size);
    const std::string err = ExpectReports(1, [&] {
      hak_free(a);
      hak_free(b);
      hak_free(a);  // a is not at the head of the bin: b is
    });
    // (An L2.5 block's span goes back with its last block: here b's free,
    // so the second free of a finds a free unit.)
    EXPECT_TRUE(err.find("double free") != std::string::npos ||
                err.find("freed already") != std::string::npos)
        << err;
  }
  ExpectNoBlockHandedOutTwice(AllSizes());
}

TEST(DoubleFree, DeepInTheBinOrAfterAFlushIsCaught) {
  std::vector<void*> v;
  for (int i = 0; i < 1000; ++i) v.push_back(hak_alloc(48));
  void* first = v[0];
  for (void* p : v) hak_free(p);  // the bin overflows and flushes half to the slab
  ExpectReports(1, [&] { hak_free(first); });
  ExpectReports(1, [&] { hak_free(v[999]); });
  ExpectNoBlockHandedOutTwice({48}, 2000);
}

TEST(DoubleFree, FromAnotherThreadIsCaught) {
  for (size_t size : kSizes) {
    SCOPED_TRACE(size);
    void* a = hak_alloc(size);
    void* b = hak_alloc(size);
    std::thread([&] {
      void* mine = hak_alloc(32);  // this thread has a heap of its own
      ExpectReports(1, [&] {
        hak_free(a);
        hak_free(b);
        hak_free(a);
      });
      hak_free(mine);
    }).join();
  }
  ExpectNoBlockHandedOutTwice(AllSizes());
}

TEST(DoubleFree, FromAThreadThatNeverAllocatedIsCaught) {
  for (size_t size : kSizes) {
    SCOPED_TRACE(size);
    void* a = hak_alloc(size);
    std::thread([&] {
      ASSERT_EQ(tls_heap, &g_placeholder_heap);  // no heap: frees go straight home
      ExpectReports(1, [&] {
        hak_free(a);
        hak_free(a);
      });
    }).join();
  }
  ExpectNoBlockHandedOutTwice(AllSizes());
  hak_trim(0);  // drains what the heapless threads sent home, checking the lists
}

// A block in use whose data put the free key's byte where the fast paths
// read it (tiny::KeyByte): the slow path compares the whole key word, frees
// it as any other block, on this thread or from another, and its second free
// is still caught.
TEST(DoubleFree, ABlockWhoseDataHoldsTheKeyByteIsFreedAndItsSecondFreeCaught) {
  for (size_t size : kSizes) {
    if (size > kMaxSmallSize) continue;  // a Large block has no free key
    SCOPED_TRACE(size);
    auto* a = static_cast<unsigned char*>(hak_alloc(size));
    a[sizeof(uint64_t)] = tiny::kFreeKeyByte;
    ASSERT_EQ(tiny::KeyByte(a), tiny::kFreeKeyByte);
    EXPECT_GE(hak_usable_size(a), size);
    EXPECT_EQ(hak_realloc(a, size), a);  // fits: stays
    ExpectReports(0, [&] { hak_free(a); });
    // Freed, not lost: a slab block comes back from this thread's bin.
    void* again = hak_alloc(size);
    if (size <= kMidMaxSize) EXPECT_EQ(again, a);
    ExpectReports(1, [&] {
      hak_free(again);
      hak_free(again);
    });

    auto* b = static_cast<unsigned char*>(hak_alloc(size));
    b[sizeof(uint64_t)] = tiny::kFreeKeyByte;
    std::thread([&] {
      void* mine = hak_alloc(32);  // a heap of its own: b goes home or stays
      ExpectReports(0, [&] { hak_free(b); });
      ExpectReports(1, [&] { hak_free(b); });
      hak_free(mine);
    }).join();
  }
  ExpectNoBlockHandedOutTwice(AllSizes());
}

TEST(DoubleFree, OfABlockNeverHandedOutIsCaught) {
  // A refill carves a batch: the block after p sits in the bin, never handed out.
  char* p = static_cast<char*>(hak_alloc(64));
  ExpectReports(1, [&] { hak_free(p + 64); });
  // Far past what the first refill of a class carved (96 blocks at most):
  // the rest of the span is not blocks yet. 176 B is used nowhere else here.
  char* first = static_cast<char*>(hak_alloc(176));
  const std::string err = ExpectReports(1, [&] { hak_free(first + 176 * 300); });
  EXPECT_NE(err.find("never allocated"), std::string::npos) << err;
  hak_free(p);
  hak_free(first);
  ExpectNoBlockHandedOutTwice({64, 176});
}

TEST(DoubleFree, AlignedPointersAreCaughtToo) {
  char* p = static_cast<char*>(hak_alloc_aligned(4096, 3000));
  hak_free(p);
  ExpectReports(1, [&] { hak_free(p); });
}

// Only the aligned pointer handed out frees its block (a block of a colour-0
// span, or an address inside a larger block: pools/tiny/aligned_inside.h):
// another pointer inside the block is an interior pointer.
TEST(BadPointer, OtherPointersIntoAnAlignedBlockAreReported) {
  for (size_t align : {128, 256, 4096}) {
    SCOPED_TRACE(align);
    char* p = static_cast<char*>(hak_alloc_aligned(align, 100));
    ASSERT_NE(p, nullptr);
    const std::string err = ExpectReports(1, [&] { hak_free(p + 16); });
    EXPECT_NE(err.find("middle of a block"), std::string::npos) << err;
    ExpectReports(0, [&] { hak_free(p); });
  }
}

TEST(BadPointer, AUnitNeverCarvedIsReportedNotDereferenced) {
  // A free 64 KiB unit of the SuperSlab holding a fresh small block (the
  // last one that is free: which ones are depends on what the tests before
  // gave back): the SuperSlab is mapped, that unit is no span.
  hak_trim(0);
  char* p = static_cast<char*>(hak_alloc(32));
  char* superslab = reinterpret_cast<char*>(reinterpret_cast<uintptr_t>(p) & ~(kSuperSlabSize - 1));
  char* unit = nullptr;
  for (int u = static_cast<int>(kUnitsPerSuperSlab) - 1; u >= 0 && unit == nullptr; --u) {
    char* candidate = superslab + u * kUnitSize;
    if (RangeMap::KindOf(RangeMap::Lookup(candidate)) == RangeKind::kFreeUnit) unit = candidate;
  }
  if (unit == nullptr) {
    hak_free(p);
    GTEST_SKIP() << "every unit of that SuperSlab is a span";
  }
  ExpectReports(3, [&] {
    EXPECT_EQ(hak_usable_size(unit), 0u);
    errno = 0;
    EXPECT_EQ(hak_realloc(unit, 100), nullptr);
    EXPECT_EQ(errno, EINVAL);
    hak_free(unit);
  });
  hak_free(p);
}

TEST(BadPointer, ALateFreeAfterTheSuperSlabWentAwayIsReported) {
  std::vector<void*> v;
  for (int i = 0; i < 3000; ++i) v.push_back(hak_alloc(700));
  void* stale = v[1500];
  for (void* p : v) hak_free(p);
  hak_trim(0);  // may unmap the SuperSlab
  ExpectReports(1, [&] { hak_free(stale); });
  // Map SuperSlabs again (maybe at the same address) and free it once more.
  for (auto& p : v) p = hak_alloc(700);
  for (size_t i = 0; i < v.size(); ++i) {
    if (v[i] == stale) v.erase(v.begin() + static_cast<ptrdiff_t>(i));  // in use again: legal
  }
  const uint64_t before = InvalidFrees();
  testing::internal::CaptureStderr();
  if (hak_usable_size(stale) == 0) hak_free(stale);  // not a live block: reported
  testing::internal::GetCapturedStderr();
  EXPECT_GE(InvalidFrees(), before);
  for (void* p : v) hak_free(p);
  ExpectNoBlockHandedOutTwice({700});
}

TEST(BadPointer, InteriorPointersOfEveryTierAreReported) {
  for (size_t size : kSizes) {
    SCOPED_TRACE(size);
    char* p = static_cast<char*>(hak_alloc(size));
    char* inside = p + (size > 4096 ? 4096 : 8);
    ExpectReports(3, [&] {
      EXPECT_EQ(hak_usable_size(inside), 0u);
      errno = 0;
      EXPECT_EQ(hak_realloc(inside, size * 2), nullptr);
      EXPECT_EQ(errno, EINVAL);
      hak_free(inside);
    });
    EXPECT_GE(hak_usable_size(p), size);  // p itself is untouched
    hak_free(p);
  }
}

// The range map holds a Large block's ends only (pools/large): a pointer deep
// inside one is still told from a wild one, and hak_owns it.
TEST(BadPointer, APointerDeepInsideALargeBlockIsReportedAsInterior) {
  constexpr size_t kBytes = size_t{64} << 20;
  char* p = static_cast<char*>(hak_alloc(kBytes));
  ASSERT_NE(p, nullptr);
  for (char* inside : {p + kBytes / 3, p + kBytes - 1}) {
    SCOPED_TRACE(static_cast<const void*>(inside));
    EXPECT_TRUE(hak_owns(inside));
    const std::string err = ExpectReports(3, [&] {
      EXPECT_EQ(hak_usable_size(inside), 0u);
      EXPECT_EQ(hak_realloc(inside, 10), nullptr);
      hak_free(inside);
    });
    size_t interior = 0;
    for (size_t at = err.find("middle of a block"); at != std::string::npos;
         at = err.find("middle of a block", at + 1)) {
      ++interior;
    }
    EXPECT_EQ(interior, 3u) << err;
  }
  EXPECT_GE(hak_usable_size(p), kBytes);  // untouched
  hak_free(p);
  hak_trim(0);
  EXPECT_FALSE(hak_owns(p + kBytes / 3));
}

TEST(BadPointer, WildAddressesAreReportedAndErrnoIsKept) {
  int on_stack = 0;
  static int in_data = 0;
  char* small = static_cast<char*>(hak_alloc(64));
  const void* wild[] = {
      &on_stack,
      &in_data,
      reinterpret_cast<void*>(16),
      reinterpret_cast<void*>(0xffff800000001000ull),  // above 2^47
      reinterpret_cast<void*>(uintptr_t{1} << 47),
      small + 1,                                       // misaligned
      tls_heap,                                        // hakmem's own metadata
  };
  for (const void* p : wild) {
    SCOPED_TRACE(p);
    ExpectReports(3, [&] {
      errno = 12345;
      hak_free(const_cast<void*>(p));
      EXPECT_EQ(errno, 12345);
      EXPECT_EQ(hak_usable_size(p), 0u);
      EXPECT_EQ(hak_realloc(const_cast<void*>(p), 10), nullptr);
      EXPECT_EQ(errno, EINVAL);
    });
  }
  EXPECT_EQ(on_stack, 0);
  hak_free(small);
}

TEST(BadPointer, ReallocOfAFreedBlockIsRefused) {
  for (size_t size : kSizes) {
    SCOPED_TRACE(size);
    void* p = hak_alloc(size);
    void* keep = hak_alloc(size);  // so p is not the only block of its span
    hak_free(p);
    ExpectReports(1, [&] {
      errno = 0;
      EXPECT_EQ(hak_realloc(p, size + 1), nullptr);
      EXPECT_EQ(errno, EINVAL);
    });
    hak_free(keep);
  }
  ExpectNoBlockHandedOutTwice(AllSizes());
}

}  // namespace
}  // namespace hakmem
