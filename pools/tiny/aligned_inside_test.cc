// PlaceAlignedInside and AlignedInsideBaseIn on a buffer standing in for a
// block: the marker, the block found again from the aligned pointer, and the
// aligned pointer's own second word, which must never keep the free key.
#include "pools/tiny/aligned_inside.h"

#include <cstdint>

#include "gtest/gtest.h"
#include "pools/tiny/slab.h"

namespace hakmem::tiny {
namespace {

constexpr size_t kAlignment = 32 * 1024;
constexpr size_t kBlockBytes = 40 * 1024;  // AlignedInsideBlockBytes(2, 32 KiB) fits

struct alignas(kAlignment) Buffer {
  char bytes[2 * kAlignment];
};

// The memory's last use left a freed block starting where the aligned
// pointer lands (its second word: the free key). realloc copies the
// pointer's bytes, unwritten ones too, into its new block, which read as
// free with the key passed on (malloc_usable_size 0, its free reported as a
// double free): the placement clears that word.
TEST(AlignedInside, TheAlignedPointerNeverKeepsAFreeBlocksKey) {
  InitFreeKey();
  static Buffer buffer;
  char* block = buffer.bytes + 64;  // a coloured block, 64 bytes past the boundary
  ASSERT_LE(AlignedInsideBlockBytes(2, kAlignment), kBlockBytes);
  char* stale = buffer.bytes + kAlignment;  // a freed block's start
  KeyWord(stale) = FreeKey();
  void* q = PlaceAlignedInside(block, kAlignment);
  ASSERT_EQ(q, static_cast<void*>(stale));
  EXPECT_NE(KeyWord(q), FreeKey());
  // The marker leads back to the block, once.
  const uintptr_t start = reinterpret_cast<uintptr_t>(block);
  const uint64_t div_c = UINT64_MAX / kBlockBytes + 1;
  EXPECT_EQ(AlignedInsideBaseIn(start, kBlockBytes, kBlockBytes, div_c, q, Marker::kTake), block);
  EXPECT_EQ(AlignedInsideBaseIn(start, kBlockBytes, kBlockBytes, div_c, q, Marker::kKeep), nullptr);
}

}  // namespace
}  // namespace hakmem::tiny
