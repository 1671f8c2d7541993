// The slab arena: SuperSlab chunks come committed and zero-filled from one
// reservation that the range map indexes directly (its window), go back with
// their pages, and are reused lowest address first.
#include "pools/tiny/superslab_arena.h"

#include <unistd.h>

#include <cstdio>

#include "core/base/os.h"
#include "core/base/range_map.h"
#include "core/base/size_classes.h"
#include "gtest/gtest.h"
#include "pools/tiny/superslab_manager.h"

namespace hakmem::tiny {
namespace {

size_t ResidentBytes() {
  long pages = 0, resident = 0;
  FILE* f = fopen("/proc/self/statm", "r");
  if (f == nullptr) return 0;
  if (fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
  fclose(f);
  return static_cast<size_t>(resident) * static_cast<size_t>(sysconf(_SC_PAGESIZE));
}

TEST(SuperSlabArena, ChunksComeZeroedGoBackWithTheirPagesAndAreReusedLowestFirst) {
  // The first chunk reserves the arena and maps the window's entries.
  ASSERT_TRUE(ReturnArenaChunk(TakeArenaChunk()));
  const size_t in_use = ArenaChunksInUse();
  const uint64_t mapped = OsBytesMapped();
  char* a = TakeArenaChunk();
  char* b = TakeArenaChunk();
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  EXPECT_NE(a, b);
  for (char* p : {a, b}) {
    EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % kSuperSlabSize, 0u);
    EXPECT_TRUE(RangeMap::InWindow(p));
    EXPECT_TRUE(RangeMap::InWindow(p + kSuperSlabSize - 1));
  }
  EXPECT_EQ(ArenaChunksInUse(), in_use + 2);
  EXPECT_EQ(OsBytesMapped(), mapped + 2 * kSuperSlabSize);

  for (size_t off = 0; off < kSuperSlabSize; off += kPageSize) a[off] = 1;
  const size_t resident = ResidentBytes();
  EXPECT_TRUE(ReturnArenaChunk(a));
  EXPECT_LE(ResidentBytes() + kSuperSlabSize * 3 / 4, resident);  // its pages went
  EXPECT_EQ(ArenaChunksInUse(), in_use + 1);
  EXPECT_EQ(OsBytesMapped(), mapped + kSuperSlabSize);

  char* c = TakeArenaChunk();
  EXPECT_EQ(c, a < b ? a : TakeArenaChunk());  // the lowest free chunk
  for (size_t off = 0; off < kSuperSlabSize; off += kPageSize) ASSERT_EQ(c[off], 0);

  int local;
  EXPECT_TRUE(InArena(b));
  EXPECT_TRUE(InArena(b + kSuperSlabSize - 1));
  EXPECT_FALSE(InArena(reinterpret_cast<char*>(&local)));
  EXPECT_FALSE(ReturnArenaChunk(reinterpret_cast<char*>(&local)));
  EXPECT_TRUE(ReturnArenaChunk(b));
  EXPECT_TRUE(ReturnArenaChunk(c));
  EXPECT_EQ(ArenaChunksInUse(), in_use);
  EXPECT_EQ(OsBytesMapped(), mapped);
}

TEST(SuperSlabArena, SuperSlabsLiveInTheArena) {
  Slab* span;
  ASSERT_EQ(AcquireSpans(1, &span, 1, MayMap::kYes), 1u);
  char* base = span->superslab->base;
  EXPECT_TRUE(RangeMap::InWindow(base));
  EXPECT_GE(ArenaChunksInUse(), 1u);
  ReleaseSpan(span, Residency::kDecommit);
  TrimSuperSlabs();  // the emptied SuperSlab goes back to the arena
  EXPECT_EQ(ArenaChunksInUse(), 0u);
  EXPECT_EQ(RangeMap::Lookup(base), 0u);
  EXPECT_TRUE(InArena(base));  // its addresses are still the arena's
}

}  // namespace
}  // namespace hakmem::tiny
