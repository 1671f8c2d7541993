// PeakWatch with made-up readings: what counts as growth elsewhere, and when
// free memory goes back.
#include "core/peak_watch.h"

#include "gtest/gtest.h"

namespace hakmem {
namespace {

constexpr uint64_t kMiB = uint64_t{1} << 20;
constexpr uint64_t kWindow = 500;
using V = PeakWatch::Verdict;

// A watch with its baseline taken at t = 0: 100 MiB resident, 60 MiB mapped.
PeakWatch Started() {
  PeakWatch w;
  EXPECT_EQ(w.Look(0, 100 * kMiB, 60 * kMiB, kWindow), V::kNone);
  return w;
}

TEST(PeakWatch, TheFirstLookIsABaseline) {
  PeakWatch w;
  EXPECT_EQ(w.Look(0, 500 * kMiB, 0, kWindow), V::kNone);
  EXPECT_FALSE(w.Rising(0));
}

TEST(PeakWatch, GrowthElsewhereGivesBackAtTheSecondRiseInARow) {
  PeakWatch w = Started();
  EXPECT_EQ(w.Look(20, 110 * kMiB, 60 * kMiB, kWindow), V::kLookOften);
  EXPECT_TRUE(w.Rising(20));
  EXPECT_EQ(w.Look(40, 110 * kMiB, 60 * kMiB, kWindow), V::kNone);  // still: the row holds
  EXPECT_EQ(w.Look(60, 120 * kMiB, 60 * kMiB, kWindow), V::kGiveBack);
  EXPECT_EQ(w.Look(80, 130 * kMiB, 60 * kMiB, kWindow), V::kGiveBack);
  EXPECT_FALSE(w.Rising(80 + kWindow));
}

TEST(PeakWatch, GrowthThroughHakmemIsNoRise) {
  PeakWatch w = Started();
  for (uint64_t t = 20; t <= 200; t += 20) {
    EXPECT_EQ(w.Look(t, 100 * kMiB + t * kMiB, 60 * kMiB + t * kMiB, kWindow), V::kNone) << t;
  }
}

TEST(PeakWatch, WhatHakmemMappedAndTheProgramWritesLaterIsACredit) {
  PeakWatch w = Started();
  // A 24 MiB buffer mapped, 4 MiB of it written; then the rest, nothing mapped.
  EXPECT_EQ(w.Look(20, 104 * kMiB, 84 * kMiB, kWindow), V::kNone);
  EXPECT_EQ(w.Look(40, 114 * kMiB, 84 * kMiB, kWindow), V::kNone);
  EXPECT_EQ(w.Look(60, 124 * kMiB, 84 * kMiB, kWindow), V::kNone);
  // The credit is used up: the next rise is elsewhere.
  EXPECT_EQ(w.Look(80, 134 * kMiB, 84 * kMiB, kWindow), V::kLookOften);
}

TEST(PeakWatch, ACreditLastsAWindowAfterItsOwn) {
  PeakWatch w = Started();
  EXPECT_EQ(w.Look(20, 102 * kMiB, 160 * kMiB, kWindow), V::kNone);  // 98 MiB of credit
  // Within the next window it still covers a rise.
  EXPECT_EQ(w.Look(20 + kWindow + 10, 112 * kMiB, 160 * kMiB, kWindow), V::kNone);
  // Long after, it is gone: mapping that was never written hides nothing.
  const uint64_t later = 20 + 4 * kWindow;
  EXPECT_EQ(w.Look(later, 122 * kMiB, 160 * kMiB, kWindow), V::kLookOften);
  EXPECT_EQ(w.Look(later + 20, 132 * kMiB, 160 * kMiB, kWindow), V::kGiveBack);
}

TEST(PeakWatch, RisesElsewhereFarApartOrBrokenByOwnGrowthAreNoRow) {
  PeakWatch w = Started();
  EXPECT_EQ(w.Look(20, 110 * kMiB, 60 * kMiB, kWindow), V::kLookOften);
  EXPECT_EQ(w.Look(20 + kWindow, 120 * kMiB, 60 * kMiB, kWindow), V::kLookOften);  // too late
  EXPECT_EQ(w.Look(40 + kWindow, 130 * kMiB, 70 * kMiB, kWindow), V::kNone);       // own
  EXPECT_EQ(w.Look(60 + kWindow, 140 * kMiB, 70 * kMiB, kWindow), V::kLookOften);
}

TEST(PeakWatch, ABigProcessMustRiseByAHundredAndTwentyEighthOfItsHigh) {
  PeakWatch w;
  EXPECT_EQ(w.Look(0, 1024 * kMiB, 0, kWindow), V::kNone);
  EXPECT_EQ(w.Look(20, 1030 * kMiB, 0, kWindow), V::kNone);  // 6 MiB: under 8
  EXPECT_EQ(w.Look(40, 1033 * kMiB, 0, kWindow), V::kLookOften);
}

TEST(PeakWatch, OnlyNewHighsCount) {
  PeakWatch w = Started();
  EXPECT_EQ(w.Look(20, 110 * kMiB, 60 * kMiB, kWindow), V::kLookOften);
  EXPECT_EQ(w.Look(40, 50 * kMiB, 60 * kMiB, kWindow), V::kNone);   // fell
  EXPECT_EQ(w.Look(60, 109 * kMiB, 60 * kMiB, kWindow), V::kNone);  // back, not past the high
  EXPECT_EQ(w.Look(80, 120 * kMiB, 60 * kMiB, kWindow), V::kGiveBack);
}

TEST(PeakWatch, WhatRefillsADipIsNoCredit) {
  PeakWatch w = Started();
  EXPECT_EQ(w.Look(20, 110 * kMiB, 70 * kMiB, kWindow), V::kNone);   // own
  EXPECT_EQ(w.Look(40, 50 * kMiB, 70 * kMiB, kWindow), V::kNone);    // hakmem gave back
  EXPECT_EQ(w.Look(60, 110 * kMiB, 130 * kMiB, kWindow), V::kNone);  // and took it again
  // The 60 MiB mapped again went into the dip: the rise beyond is elsewhere.
  EXPECT_EQ(w.Look(80, 120 * kMiB, 130 * kMiB, kWindow), V::kLookOften);
}

}  // namespace
}  // namespace hakmem
