// Conformance of the internal API (core/hakmem.h): the same contract the
// exported malloc family relies on, checked without the export layer so it runs
// under ASan and TSan too (the sanitizers own the names malloc/free).
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

#include <algorithm>
#include <cstddef>
#include <utility>
#include <vector>

#include "core/base/os.h"
#include "core/base/size_classes.h"
#include "core/front_door.h"
#include "core/hakmem.h"
#include "core/stats.h"
#include "gtest/gtest.h"
#include "tests/byte_patterns.h"

namespace {

using hakmem::test::AllZero;
using hakmem::test::FillPattern;
using hakmem::test::HasPattern;

using hakmem::hak_alloc;
using hakmem::hak_alloc_aligned;
using hakmem::hak_calloc;
using hakmem::hak_free;
using hakmem::hak_owns;
using hakmem::hak_realloc;
using hakmem::hak_trim;
using hakmem::hak_usable_size;

// One size from each tier and its edges: Tiny, Mid, L2.5, Large.
const size_t kSizes[] = {1,     8,         15,        16,          17,
                         64,    1000,      1024,      1025,        4096,
                         20000, 32 * 1024, 32 * 1024 + 1, 100000,  256 * 1024, 300000, 1 << 20,
                         (1 << 20) + 1, 5 << 20};


TEST(HakApi, AllocZeroGivesUniqueFreeablePointers) {
  void* a = hak_alloc(0);
  void* b = hak_alloc(0);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  EXPECT_NE(a, b);
  EXPECT_TRUE(hak_owns(a));
  hak_free(a);
  hak_free(b);
}

TEST(HakApi, EverySizeIsAlignedUsableAndOwned) {
  for (size_t size : kSizes) {
    SCOPED_TRACE(size);
    void* p = hak_alloc(size);
    ASSERT_NE(p, nullptr);
    if (size >= 16) {
      EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % 16, 0u);
    } else {
      EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % 8, 0u);
    }
    EXPECT_GE(hak_usable_size(p), size);
    EXPECT_TRUE(hak_owns(p));
    EXPECT_TRUE(hak_owns(static_cast<char*>(p) + size - 1));
    FillPattern(p, hak_usable_size(p), 3);
    EXPECT_TRUE(HasPattern(p, hak_usable_size(p), 3));
    hak_free(p);
  }
}

// malloc's table has an entry per 8 bytes of request for both the Tiny and
// the Mid tier (core/front_door.h): every size up to the Mid tier gets a
// block of its own class, the smallest that fits, and the sizes just past
// it the Mid tier's first (above, a miss may borrow a larger class's cached
// block: W_MAX).
TEST(HakApi, EverySizeUpToTheMidTierGetsItsClassesBlock) {
  for (size_t size = 0; size <= hakmem::kTinyMaxSize + 256; ++size) {
    void* p = hak_alloc(size);
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(hak_usable_size(p), hakmem::ClassSize(hakmem::SizeToClass(size))) << size;
    hak_free(p);
  }
}

// The table's bin for every request it covers is its class's (SizeToClass).
TEST(HakApi, MallocsTableGivesEveryRequestItsClassesBin) {
  for (size_t size = 0; size <= hakmem::kLookupMaxSize; ++size) {
    ASSERT_EQ(hakmem::LookupBinOffset(size),
              hakmem::tiny::ThreadCache::BinOffset(
                  static_cast<unsigned>(hakmem::SizeToClass(size))))
        << size;
  }
}

TEST(HakApi, LiveBlocksDoNotOverlap) {
  std::vector<std::pair<unsigned char*, size_t>> blocks;
  for (int rep = 0; rep < 50; ++rep) {
    for (size_t size : kSizes) {
      if (size > (1 << 20)) continue;
      auto* p = static_cast<unsigned char*>(hak_alloc(size));
      ASSERT_NE(p, nullptr);
      memset(p, static_cast<int>(blocks.size() & 0xff), size);
      blocks.emplace_back(p, size);
    }
  }
  for (size_t i = 0; i < blocks.size(); ++i) {
    const auto [p, size] = blocks[i];
    for (size_t j = 0; j < size; ++j) {
      ASSERT_EQ(p[j], static_cast<unsigned char>(i & 0xff)) << "block " << i;
    }
    hak_free(p);
  }
}

TEST(HakApi, FreeNullIsANoOp) {
  errno = 4321;
  hak_free(nullptr);
  EXPECT_EQ(errno, 4321);
}

TEST(HakApi, FreeNeverChangesErrno) {
  for (size_t size : kSizes) {
    SCOPED_TRACE(size);
    void* p = hak_alloc(size);
    ASSERT_NE(p, nullptr);
    errno = 4321;
    hak_free(p);
    EXPECT_EQ(errno, 4321);
  }
  // Many frees in a row cross the thread cache's flush threshold.
  std::vector<void*> ps;
  for (int i = 0; i < 5000; ++i) ps.push_back(hak_alloc(48));
  errno = 4321;
  for (void* p : ps) hak_free(p);
  EXPECT_EQ(errno, 4321);
}

TEST(HakApi, SuccessLeavesErrnoAlone) {
  errno = 4321;
  void* p = hak_alloc(100);
  void* q = hak_calloc(10, 10);
  void* r = hak_alloc_aligned(4096, 100);
  p = hak_realloc(p, 5000);
  EXPECT_EQ(errno, 4321);
  hak_free(p);
  hak_free(q);
  hak_free(r);
}

TEST(HakApi, ImpossibleSizesFailWithEnomem) {
  for (size_t size : {SIZE_MAX, SIZE_MAX - 4096, SIZE_MAX / 2 + 1, size_t{1} << 60}) {
    SCOPED_TRACE(size);
    errno = 0;
    EXPECT_EQ(hak_alloc(size), nullptr);
    EXPECT_EQ(errno, ENOMEM);
    errno = 0;
    EXPECT_EQ(hak_alloc_aligned(4096, size), nullptr);
    EXPECT_EQ(errno, ENOMEM);
  }
}

TEST(HakApi, CallocOverflowFailsWithEnomem) {
  errno = 0;
  EXPECT_EQ(hak_calloc(SIZE_MAX / 2, 3), nullptr);
  EXPECT_EQ(errno, ENOMEM);
  errno = 0;
  EXPECT_EQ(hak_calloc(size_t{1} << 32, size_t{1} << 32), nullptr);
  EXPECT_EQ(errno, ENOMEM);
  errno = 0;
  EXPECT_EQ(hak_calloc(3, SIZE_MAX / 2), nullptr);
  EXPECT_EQ(errno, ENOMEM);
}

TEST(HakApi, CallocZeroSizesGivePointers) {
  void* a = hak_calloc(0, 0);
  void* b = hak_calloc(0, 16);
  void* c = hak_calloc(16, 0);
  EXPECT_NE(a, nullptr);
  EXPECT_NE(b, nullptr);
  EXPECT_NE(c, nullptr);
  hak_free(a);
  hak_free(b);
  hak_free(c);
}

// The recycled-block case: a block is dirtied, freed, and the same size is
// asked of calloc, which is likely to hand back the very same memory.
TEST(HakApi, CallocZeroesReusedMemory) {
  for (size_t size : kSizes) {
    SCOPED_TRACE(size);
    for (int rep = 0; rep < 3; ++rep) {
      void* p = hak_alloc(size);
      ASSERT_NE(p, nullptr);
      memset(p, 0xAB, hak_usable_size(p));
      hak_free(p);
      void* q = hak_calloc(1, size);
      ASSERT_NE(q, nullptr);
      EXPECT_TRUE(AllZero(q, size));
      memset(q, 0xCD, size);
      hak_free(q);
      void* r = hak_calloc(size, 1);
      ASSERT_NE(r, nullptr);
      EXPECT_TRUE(AllZero(r, size));
      hak_free(r);
    }
  }
}

// calloc of a slab block of 256 KiB or more clears the pages its last user
// wrote and does not fault in the others: 1,000 blocks of 900 KB calloc'd, a
// byte of each used, held 864 MiB. (A Large range's, pools/large's test: it
// trusts a range it found all resident, whatever the program's own madvise.)
TEST(HakApi, CallocOfAReusedBigBlockFaultsInOnlyWhatWasWritten) {
  for (size_t size : {size_t{300000}, size_t{900000}}) {
    SCOPED_TRACE(size);
    char* p = static_cast<char*>(hak_calloc(1, size));
    ASSERT_NE(p, nullptr);
    // Its whole pages given back, as a program may (a block earlier tests
    // wrote all over comes back resident), then three bytes written.
    char* first = reinterpret_cast<char*>(hakmem::AlignUp(reinterpret_cast<uintptr_t>(p), 4096));
    char* last = reinterpret_cast<char*>((reinterpret_cast<uintptr_t>(p) + size) & ~uintptr_t{4095});
    ASSERT_EQ(madvise(first, last - first, MADV_DONTNEED), 0);
    p[0] = 1;
    p[size / 2] = 2;
    p[size - 1] = 3;
    hak_free(p);
    char* q = static_cast<char*>(hak_calloc(1, size));
    ASSERT_EQ(q, p);  // the bin's last block, the cache's last range
    // The pages written (the free wrote the first one too); the others stay out.
    EXPECT_LE(hakmem::OsResidentPages(first, last - first), 3u);
    EXPECT_TRUE(AllZero(q, size));
    hak_free(q);
  }
}

TEST(HakApi, ReallocNullActsAsAlloc) {
  void* p = hak_realloc(nullptr, 100);
  ASSERT_NE(p, nullptr);
  EXPECT_GE(hak_usable_size(p), 100u);
  hak_free(p);
  void* z = hak_realloc(nullptr, 0);
  EXPECT_NE(z, nullptr);
  hak_free(z);
}

// glibc's behaviour, which programs written for Linux expect: the block is
// freed and NULL comes back (errno untouched: it is not a failure).
TEST(HakApi, ReallocToZeroFreesAndReturnsNull) {
  void* p = hak_alloc(100);
  ASSERT_NE(p, nullptr);
  errno = 0;
  EXPECT_EQ(hak_realloc(p, 0), nullptr);
  EXPECT_EQ(errno, 0);
  // The block went back to this thread's cache: the next allocation reuses it.
  EXPECT_EQ(hak_alloc(100), p);
  hak_free(p);
}

TEST(HakApi, ReallocPreservesContentsAcrossTiers) {
  for (size_t from : kSizes) {
    for (size_t to : kSizes) {
      SCOPED_TRACE(testing::Message() << from << " -> " << to);
      void* p = hak_alloc(from);
      ASSERT_NE(p, nullptr);
      FillPattern(p, from, static_cast<unsigned>(from));
      void* q = hak_realloc(p, to);
      ASSERT_NE(q, nullptr);
      EXPECT_GE(hak_usable_size(q), to);
      EXPECT_TRUE(HasPattern(q, from < to ? from : to, static_cast<unsigned>(from)));
      hak_free(q);
    }
  }
}

TEST(HakApi, ReallocGrowingStepByStep) {
  size_t size = 1;
  void* p = hak_alloc(size);
  FillPattern(p, size, 9);
  while (size < (8u << 20)) {
    const size_t next = size + size / 2 + 1;
    p = hak_realloc(p, next);
    ASSERT_NE(p, nullptr);
    ASSERT_TRUE(HasPattern(p, size, 9)) << size << " -> " << next;
    FillPattern(p, next, 9);
    size = next;
  }
  while (size > 3) {
    size /= 3;
    p = hak_realloc(p, size);
    ASSERT_NE(p, nullptr);
    ASSERT_TRUE(HasPattern(p, size, 9)) << size;
  }
  hak_free(p);
}

// realloc keeps a slab block while the new size fits it and is at least
// half of it (core/front_door.h's inline path), and moves it otherwise.
TEST(HakApi, ReallocKeepsABlockItFitsAtLeastHalfOf) {
  for (size_t size : {24u, 200u, 1000u, 3000u, 20000u}) {
    SCOPED_TRACE(size);
    void* p = hak_alloc(size);
    ASSERT_NE(p, nullptr);
    const size_t usable = hak_usable_size(p);
    EXPECT_EQ(hak_realloc(p, usable), p);
    EXPECT_EQ(hak_realloc(p, usable / 2), p);
    EXPECT_EQ(hak_realloc(p, size), p);
    void* q = hak_realloc(p, usable + 1);
    ASSERT_NE(q, nullptr);
    EXPECT_NE(q, p);
    const size_t usable_q = hak_usable_size(q);
    void* r = hak_realloc(q, usable_q / 2 - 1);
    ASSERT_NE(r, nullptr);
    EXPECT_NE(r, q);
    EXPECT_EQ(hak_realloc(r, 0), nullptr);  // frees r
  }
}

// A slab block grown by less than a quarter moves to a block at least a
// quarter larger (core/alloc.cc, ReallocSlow): a buffer grown by small
// appends moves about twice per doubling, not at every class (four per
// doubling), and what it held comes along every time.
TEST(HakApi, ReallocGrowingByAppendsMovesAQuarterAhead) {
  size_t size = 1024;
  char* p = static_cast<char*>(hak_alloc(size));
  FillPattern(p, size, 4);
  int moves = 0;
  while (size < (64u << 10)) {
    const size_t usable = hak_usable_size(p);
    char* q = static_cast<char*>(hak_realloc(p, size + 16));
    ASSERT_NE(q, nullptr);
    ASSERT_TRUE(HasPattern(q, size, 4)) << size;
    if (q != p) {
      ++moves;
      EXPECT_GE(hak_usable_size(q), usable + usable / 4) << size;
    }
    p = q;
    size += 16;
    FillPattern(p, size, 4);
  }
  EXPECT_LE(moves, 16);  // classes passed from 1 KiB to 64 KiB: 28
  hak_free(p);
}

TEST(HakApi, FailedReallocKeepsTheBlock) {
  void* p = hak_alloc(200);
  ASSERT_NE(p, nullptr);
  FillPattern(p, 200, 5);
  errno = 0;
  EXPECT_EQ(hak_realloc(p, SIZE_MAX), nullptr);
  EXPECT_EQ(errno, ENOMEM);
  errno = 0;
  EXPECT_EQ(hak_realloc(p, SIZE_MAX - 64), nullptr);
  EXPECT_EQ(errno, ENOMEM);
  EXPECT_TRUE(HasPattern(p, 200, 5));
  hak_free(p);
}

TEST(HakApi, AlignedUpToFourMiB) {
  for (size_t align = 1; align <= (size_t{4} << 20); align <<= 1) {
    for (size_t size : {size_t{0}, size_t{1}, size_t{24}, size_t{1000}, size_t{5000},
                        align, align + 1, size_t{3} << 20}) {
      SCOPED_TRACE(testing::Message() << "align " << align << " size " << size);
      void* p = hak_alloc_aligned(align, size);
      ASSERT_NE(p, nullptr);
      EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % align, 0u);
      EXPECT_GE(hak_usable_size(p), size);
      EXPECT_TRUE(hak_owns(p));
      if (size > 0) {
        memset(p, 0x5A, size);
        EXPECT_EQ(static_cast<unsigned char*>(p)[size - 1], 0x5A);
      }
      // An aligned block reallocs like any other.
      void* q = hak_realloc(p, size + 100);
      ASSERT_NE(q, nullptr);
      if (size > 0) {
        EXPECT_EQ(static_cast<unsigned char*>(q)[size - 1], 0x5A);
      }
      hak_free(q);
    }
  }
}

// Small requests with a stricter alignment than 64 come from their class's
// spans laid out at colour 0 (ThreadCache::AllocColourZero; from inside
// larger blocks only once a thread's heap is gone: thread_exit_test). Many
// at once, so that every block position turns up: each is aligned, has its
// size, overlaps no other live block (a 0-byte request may not point at the
// next block's start) and frees without a report.
TEST(HakApi, AlignedBlocksNeverOverlap) {
  hakmem::Stats before;
  hakmem::GetStats(&before);
  for (size_t align : {128, 256, 512, 1024, 2048, 4096}) {
    for (size_t size : {0, 1, 63, 64, 100, 147, 200, 448, 500, 1000, 2000}) {
      SCOPED_TRACE(testing::Message() << "align " << align << " size " << size);
      std::vector<std::pair<uintptr_t, uintptr_t>> live;  // [start, end)
      for (int i = 0; i < 300; ++i) {
        void* p = hak_alloc_aligned(align, size);
        ASSERT_NE(p, nullptr);
        ASSERT_EQ(reinterpret_cast<uintptr_t>(p) % align, 0u);
        const size_t usable = hak_usable_size(p);
        ASSERT_GE(usable, size == 0 ? 1 : size);
        memset(p, 0x3C, usable);
        live.emplace_back(reinterpret_cast<uintptr_t>(p), reinterpret_cast<uintptr_t>(p) + usable);
      }
      std::sort(live.begin(), live.end());
      for (size_t i = 1; i < live.size(); ++i) {
        ASSERT_LE(live[i - 1].second, live[i].first) << "two live blocks overlap";
      }
      for (const auto& [start, end] : live) hak_free(reinterpret_cast<void*>(start));
    }
  }
  hakmem::Stats after;
  hakmem::GetStats(&after);
  EXPECT_EQ(after.invalid_frees, before.invalid_frees);
}

TEST(HakApi, OwnsOnlyItsOwnMemory) {
  int on_stack = 0;
  static int in_data = 0;
  EXPECT_FALSE(hak_owns(nullptr));
  EXPECT_FALSE(hak_owns(&on_stack));
  EXPECT_FALSE(hak_owns(&in_data));
  EXPECT_FALSE(hak_owns(reinterpret_cast<void*>(&FillPattern)));
  EXPECT_EQ(hak_usable_size(nullptr), 0u);
  EXPECT_EQ(hak_usable_size(&on_stack), 0u);
  EXPECT_EQ(hak_usable_size(&in_data), 0u);
}

// A pointer hakmem never handed out is reported and ignored, never put on a
// free list: the allocator keeps working and the counter says so.
TEST(HakApi, ForeignFreeIsReportedAndIgnored) {
  static char in_data[64];
  hakmem::Stats before;
  hakmem::GetStats(&before);
  errno = 4321;
  hak_free(in_data);
  EXPECT_EQ(errno, 4321);
  hakmem::Stats after;
  hakmem::GetStats(&after);
  EXPECT_GT(after.invalid_frees, before.invalid_frees);
  void* p = hak_alloc(64);
  ASSERT_NE(p, nullptr);
  EXPECT_NE(p, static_cast<void*>(in_data));
  hak_free(p);
}

TEST(HakApi, StatsSeeALargeBlock) {
  constexpr size_t kBig = 8 << 20;
  void* p = hak_alloc(kBig);
  ASSERT_NE(p, nullptr);
  memset(p, 1, kBig);
  hakmem::Stats s;
  hakmem::GetStats(&s);
  EXPECT_GE(s.bytes_mapped, kBig);
  EXPECT_LE(s.bytes_large_cached, s.bytes_mapped);
  hak_free(p);
}

TEST(HakApi, TrimAfterFreeingKeepsWorking) {
  std::vector<void*> ps;
  for (int i = 0; i < 64; ++i) ps.push_back(hak_alloc((1 << 20) + 4096 * i));
  for (void* p : ps) hak_free(p);
  const int r = hak_trim(0);
  EXPECT_TRUE(r == 0 || r == 1);
  void* p = hak_alloc(3 << 20);
  ASSERT_NE(p, nullptr);
  memset(p, 7, 3 << 20);
  hak_free(p);
}

}  // namespace
