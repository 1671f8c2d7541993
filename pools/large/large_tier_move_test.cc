// How the Large tier moves pages (MovePages): one mremap per kernel mapping of
// the range (since Linux 6.17 one mremap over several mappings can fail
// halfway, and what moved cannot be told from what did not), one per 2 MiB unit
// for a mapping the kernel refuses to move whole, and a unit the kernel refuses
// to move is copied. This binary defines mremap itself: the tier, linked in
// statically, calls this one, which logs each call and can refuse one as the
// kernel does under ENOMEM before passing the rest on (to libc's, or a
// sanitizer's).
#include <dlfcn.h>
#include <sys/mman.h>

#include <algorithm>
#include <cerrno>
#include <cstdarg>
#include <cstring>
#include <utility>
#include <vector>

#include "core/base/range_map.h"
#include "gtest/gtest.h"
#include "pools/large/large_tier.h"

namespace {

struct MoveLog {
  bool on = false;
  std::vector<int> refuse;  // these calls (0-based, while on) fail with ENOMEM,
  bool free_destination = false;  // after unmapping its destination (as the kernel may)
  std::vector<size_t> sizes;
};
MoveLog g_log;

}  // namespace

extern "C" void* mremap(void* old_address, size_t old_size, size_t new_size, int flags, ...) {
  void* new_address = nullptr;
  if ((flags & MREMAP_FIXED) != 0) {
    va_list ap;
    va_start(ap, flags);
    new_address = va_arg(ap, void*);
    va_end(ap);
  }
  using Real = void* (*)(void*, size_t, size_t, int, ...);
  static const Real real = reinterpret_cast<Real>(dlsym(RTLD_NEXT, "mremap"));
  if (g_log.on) {
    const int call = static_cast<int>(g_log.sizes.size());
    g_log.sizes.push_back(old_size);
    if (std::find(g_log.refuse.begin(), g_log.refuse.end(), call) != g_log.refuse.end()) {
      if (g_log.free_destination) munmap(new_address, new_size);
      errno = ENOMEM;
      return MAP_FAILED;
    }
  }
  return real(old_address, old_size, new_size, flags, new_address);
}

namespace hakmem::large {
namespace {

constexpr size_t kMiB = size_t{1} << 20;
constexpr size_t kUnit = 2 * kMiB;

LargeBlock* BlockOf(void* p) { return RangeMap::MetaOf<LargeBlock>(RangeMap::Lookup(p)); }

// b's list of mappings, expected to be `units` (counts of 2 MiB units; empty:
// not known) and, when known, to cover the range.
void ExpectMappings(const LargeBlock* b, const std::vector<uint32_t>& units) {
  ASSERT_EQ(b->mappings.count, units.size());
  size_t sum = 0;
  for (size_t i = 0; i < units.size(); ++i) {
    EXPECT_EQ(b->mappings.units[i], units[i]) << i;
    sum += b->mappings.units[i];
  }
  if (!units.empty()) EXPECT_EQ(sum * kUnit, b->map_size);
}

void Fill(char* p, size_t size) {
  for (size_t off = 0; off < size; off += 4096) p[off] = static_cast<char>((off >> 12) + 1);
}

void ExpectFilled(const char* p, size_t size) {
  for (size_t off = 0; off < size; off += 4096) {
    ASSERT_EQ(p[off], static_cast<char>((off >> 12) + 1)) << "page at " << off;
  }
}

// Remap(b, size) with its mremap calls logged in g_log (and the calls
// `refuse` names refused).
char* LoggedRemap(LargeBlock* b, size_t size, std::vector<int> refuse = {},
                  bool free_destination = false) {
  g_log = MoveLog{.on = true, .refuse = std::move(refuse), .free_destination = free_destination};
  char* r = static_cast<char*>(Remap(b, size));
  g_log.on = false;
  return r;
}

// A block the kernel will not move and grow in one call (the program split its
// mapping, say) moves unit by unit; if the refusal freed the destination,
// all of it is mapped again, the part no unit moves into too.
TEST(LargeTierMove, AOneMappingBlockTheKernelWillNotMoveWholeMovesByUnits) {
  Trim();
  for (const bool free_destination : {false, true}) {
    SCOPED_TRACE(free_destination);
    bool zeroed;
    char* p = static_cast<char*>(Alloc(6 * kMiB, 0, &zeroed));
    Fill(p, 6 * kMiB);
    LargeBlock* b = BlockOf(p);
    char* r = LoggedRemap(b, 20 * kMiB, /*refuse=*/{0}, free_destination);
    ASSERT_NE(r, nullptr);
    EXPECT_EQ(g_log.sizes, (std::vector<size_t>{6 * kMiB, kUnit, kUnit, kUnit}));
    ExpectMappings(b, {});  // moved by units: no longer known
    ExpectFilled(r, 6 * kMiB);
    std::memset(r + 6 * kMiB, 1, 14 * kMiB);  // the tail is there to write
    Free(b, r);
    Trim();
  }
}

// A 12 MiB block of three kernel mappings (block_, at p_, filled): gathered
// from three freed ranges that live spacers keep apart.
class AssembledBlock : public ::testing::Test {
 protected:
  void SetUp() override {
    Trim();
    bool zeroed;
    std::vector<char*> freed;
    for (int i = 0; i < 3; ++i) {
      freed.push_back(static_cast<char*>(Alloc(4 * kMiB, 0, &zeroed)));
      std::memset(freed.back(), 1, 4 * kMiB);
      spacers_.push_back(static_cast<char*>(Alloc(2 * kMiB, 0, &zeroed)));
    }
    for (char* p : freed) Free(BlockOf(p), p);
    p_ = static_cast<char*>(Alloc(12 * kMiB, 0, &zeroed));
    ASSERT_NE(p_, nullptr);
    block_ = BlockOf(p_);
    ASSERT_EQ(block_->map_size, 12 * kMiB);
    Fill(p_, 12 * kMiB);
  }
  // Frees the block, wherever it is now (at `now`), and the spacers.
  void FreeAll(char* now) {
    Free(block_, now);
    for (char* s : spacers_) Free(BlockOf(s), s);
    Trim();
  }

  std::vector<char*> spacers_;
  char* p_ = nullptr;
  LargeBlock* block_ = nullptr;
};

TEST(LargeTierMove, ARangeOfOneMappingMovesInOneCallAndStaysOne) {
  Trim();
  bool zeroed;
  char* p = static_cast<char*>(Alloc(6 * kMiB, 0, &zeroed));
  Fill(p, 6 * kMiB);
  LargeBlock* b = BlockOf(p);
  char* q = LoggedRemap(b, 20 * kMiB);
  ASSERT_NE(q, nullptr);
  EXPECT_EQ(g_log.sizes, std::vector<size_t>{6 * kMiB});
  Fill(q, 20 * kMiB);
  char* r = LoggedRemap(b, 40 * kMiB);
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(g_log.sizes, std::vector<size_t>{20 * kMiB});
  ExpectFilled(r, 20 * kMiB);
  Free(b, r);
  Trim();
}

TEST_F(AssembledBlock, ARangeOfSeveralMappingsMovesAMappingAtATime) {
  char* r = LoggedRemap(block_, 20 * kMiB);
  ASSERT_NE(r, nullptr);
  // Never one call over the three mappings: one for each, the last grown by
  // the 8 MiB of fresh pages that follow.
  EXPECT_EQ(g_log.sizes, std::vector<size_t>(3, 4 * kMiB));
  ExpectMappings(block_, {2, 2, 6});
  ExpectFilled(r, 12 * kMiB);
  Fill(r, 20 * kMiB);
  char* s = LoggedRemap(block_, 40 * kMiB);
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(g_log.sizes, (std::vector<size_t>{4 * kMiB, 4 * kMiB, 12 * kMiB}));
  ExpectMappings(block_, {2, 2, 16});
  ExpectFilled(s, 20 * kMiB);
  FreeAll(s);
}

// A block gathered from cached ranges and fresh pages: the fresh pages join
// the last piece's last mapping.
TEST_F(AssembledBlock, FreshPagesAfterTheGatheredOnesJoinTheLastMapping) {
  Free(block_, p_);
  bool zeroed;
  g_log = MoveLog{.on = true};
  char* q = static_cast<char*>(Alloc(14 * kMiB, 0, &zeroed));
  g_log.on = false;
  ASSERT_NE(q, nullptr);
  EXPECT_EQ(g_log.sizes, std::vector<size_t>(3, 4 * kMiB));
  LargeBlock* b = BlockOf(q);
  ExpectMappings(b, {2, 2, 3});
  Free(b, q);
  for (char* s : spacers_) Free(BlockOf(s), s);
  Trim();
}

// Split in the cache, a range keeps its mappings: a head of 6 MiB split off
// the assembled block cuts its second mapping, and moves by its 4 MiB and the
// 2 MiB it kept of the second.
TEST_F(AssembledBlock, ASplitRangeKeepsItsMappings) {
  Free(block_, p_);
  bool zeroed;
  char* head = static_cast<char*>(Alloc(6 * kMiB, 0, &zeroed));  // 4 + 2 | 2 + 4 cached
  ASSERT_EQ(head, p_);
  LargeBlock* h = BlockOf(head);
  ExpectMappings(h, {2, 1});
  ExpectMappings(BlockOf(p_ + 6 * kMiB), {1, 2});
  Fill(head, 6 * kMiB);
  char* r = LoggedRemap(h, 10 * kMiB);
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(g_log.sizes, (std::vector<size_t>{4 * kMiB, 2 * kMiB}));
  ExpectFilled(r, 6 * kMiB);
  Free(h, r);
  for (char* s : spacers_) Free(BlockOf(s), s);
  Trim();
}

// A cut where two mappings meet leaves each side whole mappings.
TEST_F(AssembledBlock, ACutBetweenMappingsLeavesWholeOnes) {
  Free(block_, p_);
  bool zeroed;
  char* head = static_cast<char*>(Alloc(4 * kMiB, 0, &zeroed));
  ASSERT_EQ(head, p_);
  ExpectMappings(BlockOf(head), {2});
  ExpectMappings(BlockOf(p_ + 4 * kMiB), {2, 2});
  Free(BlockOf(head), head);  // merged again
  ExpectMappings(BlockOf(p_), {2, 2, 2});
  for (char* s : spacers_) Free(BlockOf(s), s);
  Trim();
}

// Refused with its destination still there, or freed first (as the kernel
// does before some refusals): the unit is copied into fresh pages either way.
class RefusedUnit : public AssembledBlock, public ::testing::WithParamInterface<bool> {};

TEST_P(RefusedUnit, IsCopiedAndItsOldPlaceUnmapped) {
  char* q = p_;
  // Call 1 (the second mapping) refused: its two units one call each, the
  // first of them (call 2) refused too and copied.
  char* r = LoggedRemap(block_, 20 * kMiB, /*refuse=*/{1, 2}, /*free_destination=*/GetParam());
  ASSERT_NE(r, nullptr);
  ASSERT_NE(r, q);
  EXPECT_EQ(g_log.sizes, (std::vector<size_t>{4 * kMiB, 4 * kMiB, kUnit, kUnit, 4 * kMiB}));
  ExpectMappings(block_, {});
  ExpectFilled(r, 12 * kMiB);
  // Every unit of the old range is gone, the refused one too.
  unsigned char vec[kUnit / 4096];
  for (size_t off = 0; off < 12 * kMiB; off += kUnit) {
    const int rc = mincore(q + off, kUnit, vec);
    const int err = errno;
    EXPECT_EQ(rc, -1) << "unit at " << off << " still mapped";
    EXPECT_EQ(err, ENOMEM);
  }
  FreeAll(r);
}

INSTANTIATE_TEST_SUITE_P(DestinationFreedFirst, RefusedUnit, ::testing::Bool());

}  // namespace
}  // namespace hakmem::large
