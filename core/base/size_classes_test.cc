#include "core/base/size_classes.h"

#include <algorithm>

#include "gtest/gtest.h"

namespace hakmem {
namespace {

TEST(SizeClasses, EverySizeMapsToTheSmallestClassThatHoldsIt) {
  for (size_t size = 1; size <= kMaxSmallSize; ++size) {
    const int c = SizeToClass(size);
    ASSERT_GE(ClassSize(c), size) << size;
    if (c > 0) {
      ASSERT_LT(ClassSize(c - 1), size) << size;
    }
  }
  EXPECT_EQ(SizeToClass(0), 0);
}

TEST(SizeClasses, TinyLimitIsAClassBoundary) {
  EXPECT_EQ(ClassSize(kTinyClassCount - 1), kTinyMaxSize);
  EXPECT_GT(ClassSize(kTinyClassCount), kTinyMaxSize);
}

TEST(SizeClasses, RoundingWasteIsBounded) {
  for (size_t size = 129; size <= kMaxSmallSize; ++size) {
    const size_t waste = ClassSize(SizeToClass(size)) - size;
    ASSERT_LT(waste * 4, size) << size;  // under 25%
  }
  for (size_t size = 1; size <= 128; ++size) ASSERT_LT(ClassSize(SizeToClass(size)) - size, 16u);
}

TEST(SizeClasses, APowerOfTwoPlusAHeaderWastesUnderAnEighth) {
  for (size_t page = 1024; page <= 8192; page *= 2) {
    for (size_t header = 8; header <= page / 8; header *= 2) {
      const size_t size = page + header;
      EXPECT_LT((ClassSize(SizeToClass(size)) - size) * 8, size) << size;
    }
  }
  EXPECT_EQ(ClassSize(SizeToClass(1032)), 1152u);  // sqlite's 1 KiB pages
  EXPECT_EQ(ClassSize(SizeToClass(4104)), 4608u);  // and 4 KiB ones
}

TEST(SizeClasses, SpansFitTheSuperSlabAndHoldSeveralBlocks) {
  for (int c = 0; c < kNumClasses; ++c) {
    const ClassInfo& ci = kClassInfo[c];
    EXPECT_GE(ci.span_units, 1);
    EXPECT_LE(ci.span_units, kUnitsPerSuperSlab);
    EXPECT_GE(ci.capacity, ci.size > kMidMaxSize ? 1u : 2u);
    EXPECT_LE(size_t{ci.capacity} * ci.size, size_t{ci.span_units} * kUnitSize);
  }
}

// L2.5 blocks up to 128 KiB share spans of at most 256 KiB (2 - 6 blocks);
// bigger ones take a span each, the units they need.
TEST(SizeClasses, BigBlocksShareSpansUpTo128KiB) {
  for (int c = 0; c < kNumClasses; ++c) {
    const ClassInfo& ci = kClassInfo[c];
    if (ci.size <= kMidMaxSize) continue;
    SCOPED_TRACE(testing::Message() << "class size " << ci.size);
    if (ci.size <= (128u << 10)) {
      EXPECT_FALSE(HasOneBlockSpans(c));
      EXPECT_GE(ci.capacity, 2u);
      EXPECT_LE(size_t{ci.span_units} * kUnitSize, size_t{256} << 10);
    } else {
      EXPECT_TRUE(HasOneBlockSpans(c));
      EXPECT_EQ(ci.span_units, (ci.size + kUnitSize - 1) / kUnitSize);
    }
  }
  EXPECT_EQ(kClassInfo[SizeToClass(100 << 10)].capacity, 2u);  // 112 KiB: 2 in 256 KiB
  EXPECT_EQ(kClassInfo[SizeToClass(40 << 10)].capacity, 6u);   // 6 in 256 KiB
}

TEST(SizeClasses, BlocksAreSixteenByteAligned) {
  for (int c = 1; c < kNumClasses; ++c) EXPECT_EQ(ClassSize(c) % 16, 0u) << c;
}

// An aligned request's class holds the request, its blocks are multiples of
// the alignment, and none smaller would do; where the alignment is above 64
// and that class is coloured (colours are 64-byte steps), the plan says so:
// only the class's spans at colour 0 keep the alignment.
TEST(SizeClasses, AnAlignedRequestGetsTheSmallestClassThatKeepsItsAlignment) {
  for (size_t alignment = 1; alignment <= kUnitSize; alignment *= 2) {
    for (size_t size = 0; size <= 3 * kUnitSize; size += 7) {
      SCOPED_TRACE(testing::Message() << "alignment " << alignment << " size " << size);
      int smallest = SizeToClass(std::max(size, alignment));
      while (ClassSize(smallest) % alignment != 0) ++smallest;
      const int plan = AlignedClassOf(size, alignment);
      const bool colour_zero = kClassInfo[smallest].colors > 1 && alignment > 64;
      ASSERT_EQ(plan, colour_zero ? smallest | kColourZero : smallest);
      const int c = plan & ~kColourZero;
      ASSERT_GE(ClassSize(c), size);
      ASSERT_EQ(ClassSize(c) % alignment, 0u);
    }
  }
  EXPECT_EQ(AlignedClassOf(100, 128), SizeToClass(128));      // uncoloured
  EXPECT_EQ(AlignedClassOf(200, 128), SizeToClass(256) | kColourZero);  // 256 is coloured
  EXPECT_EQ(AlignedClassOf(100, 64), SizeToClass(128));       // 112 is no multiple of 64
  EXPECT_EQ(AlignedClassOf(40000, 4096), SizeToClass(40960) | kColourZero);  // coloured
  EXPECT_EQ(AlignedClassOf(150000, 4096), SizeToClass(163840)); // one block per span: uncoloured
}

}  // namespace
}  // namespace hakmem
