// The SuperSlab manager's placement: a span is carved in a run of resident
// free units that holds it (in the fullest SuperSlab that has one, the
// shortest there), else where the most of its units' pages are still
// resident, so a program whose big blocks vary in size reuses the pages it
// freed instead of faulting fresh ones in.
#include "pools/tiny/superslab_manager.h"

#include <algorithm>
#include <vector>

#include "core/base/size_classes.h"
#include "gtest/gtest.h"

namespace hakmem::tiny {
namespace {

TEST(SuperSlabManager, ASpanGoesWhereMostOfItsPagesAreResident) {
  // One whole SuperSlab in one-unit spans (this process has mapped none yet).
  Slab* units[kUnitsPerSuperSlab];
  ASSERT_EQ(AcquireSpans(1, units, kUnitsPerSuperSlab, MayMap::kYes), kUnitsPerSuperSlab);
  for (Slab* s : units) ASSERT_EQ(s->superslab, units[0]->superslab);
  Slab* by_unit[kUnitsPerSuperSlab];
  for (Slab* s : units) by_unit[s->first_unit] = s;
  // Three free runs of four units: 0-3 and 20-23 decommitted, 8-11 with
  // 8 and 9 still resident.
  for (int u : {0, 1, 2, 3, 10, 11, 20, 21, 22, 23}) ReleaseSpan(by_unit[u], Residency::kDecommit);
  for (int u : {8, 9}) ReleaseSpan(by_unit[u], Residency::kKeep);
  const uint64_t resident_before = ResidentFreeBytes();
  Slab* span;
  ASSERT_EQ(AcquireSpans(4, &span, 1, MayMap::kNo), 1u);
  EXPECT_EQ(span->first_unit, 8);
  EXPECT_EQ(ResidentFreeBytes(), resident_before - 2 * kUnitSize);
  // Put everything back.
  ReleaseSpan(span, Residency::kDecommit);
  for (int u = 0; u < static_cast<int>(kUnitsPerSuperSlab); ++u) {
    if (u <= 3 || (u >= 8 && u <= 11) || (u >= 20 && u <= 23)) continue;
    ReleaseSpan(by_unit[u], Residency::kDecommit);
  }
  TrimSuperSlabs();
}

TEST(SuperSlabManager, ASpanTakesTheShortestResidentRunThatHoldsIt) {
  Slab* units[kUnitsPerSuperSlab];
  ASSERT_EQ(AcquireSpans(1, units, kUnitsPerSuperSlab, MayMap::kYes), kUnitsPerSuperSlab);
  for (Slab* s : units) ASSERT_EQ(s->superslab, units[0]->superslab);
  Slab* by_unit[kUnitsPerSuperSlab];
  for (Slab* s : units) by_unit[s->first_unit] = s;
  // Resident free runs: 0-7 (eight units), 12-13 (two), 20 (one).
  std::vector<int> freed = {0, 1, 2, 3, 4, 5, 6, 7, 12, 13, 20};
  for (int u : freed) ReleaseSpan(by_unit[u], Residency::kKeep);
  const uint64_t resident_before = ResidentFreeBytes();
  // Two units fit 12-13 exactly: the front of 0-7 would leave an eight-unit
  // span no resident run (first fit took unit 0).
  Slab* two;
  ASSERT_EQ(AcquireSpans(2, &two, 1, MayMap::kNo), 1u);
  EXPECT_EQ(two->first_unit, 12);
  Slab* eight;
  ASSERT_EQ(AcquireSpans(8, &eight, 1, MayMap::kNo), 1u);
  EXPECT_EQ(eight->first_unit, 0);
  Slab* one;
  ASSERT_EQ(AcquireSpans(1, &one, 1, MayMap::kNo), 1u);
  EXPECT_EQ(one->first_unit, 20);
  EXPECT_EQ(ResidentFreeBytes(), resident_before - 11 * kUnitSize);
  // Put everything back.
  for (Slab* s : {two, eight, one}) ReleaseSpan(s, Residency::kDecommit);
  for (int u = 0; u < static_cast<int>(kUnitsPerSuperSlab); ++u) {
    if (std::find(freed.begin(), freed.end(), u) == freed.end()) {
      ReleaseSpan(by_unit[u], Residency::kDecommit);
    }
  }
  TrimSuperSlabs();
}

TEST(SuperSlabManager, AFullerSuperSlabComesBeforeAShorterRunInAnEmptierOne) {
  // Two SuperSlabs, each in one-unit spans.
  Slab* a_units[kUnitsPerSuperSlab];
  Slab* b_units[kUnitsPerSuperSlab];
  ASSERT_EQ(AcquireSpans(1, a_units, kUnitsPerSuperSlab, MayMap::kYes), kUnitsPerSuperSlab);
  ASSERT_EQ(AcquireSpans(1, b_units, kUnitsPerSuperSlab, MayMap::kYes), kUnitsPerSuperSlab);
  ASSERT_NE(a_units[0]->superslab, b_units[0]->superslab);
  Slab* a[kUnitsPerSuperSlab];
  Slab* b[kUnitsPerSuperSlab];
  for (Slab* s : a_units) a[s->first_unit] = s;
  for (Slab* s : b_units) b[s->first_unit] = s;
  // A: 8 free units, all resident (0-7). B: 26 free units, of which only
  // 0-1 resident: a two-unit run that fits a two-unit span exactly.
  for (int u = 0; u < 8; ++u) ReleaseSpan(a[u], Residency::kKeep);
  for (int u = 0; u < 2; ++u) ReleaseSpan(b[u], Residency::kKeep);
  for (int u = 4; u < 28; ++u) ReleaseSpan(b[u], Residency::kDecommit);
  // B, the emptier, is left to fall empty: the span goes into A.
  Slab* span;
  ASSERT_EQ(AcquireSpans(2, &span, 1, MayMap::kNo), 1u);
  EXPECT_EQ(span->superslab, a_units[0]->superslab);
  EXPECT_EQ(span->first_unit, 0);
  // Put everything back.
  ReleaseSpan(span, Residency::kDecommit);
  for (int u = 8; u < static_cast<int>(kUnitsPerSuperSlab); ++u) {
    ReleaseSpan(a[u], Residency::kDecommit);
  }
  for (int u : {2, 3, 28, 29, 30, 31}) ReleaseSpan(b[u], Residency::kDecommit);
  TrimSuperSlabs();
}

}  // namespace
}  // namespace hakmem::tiny
