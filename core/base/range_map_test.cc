#include "core/base/range_map.h"

#include "core/base/os.h"
#include "gtest/gtest.h"

namespace hakmem {
namespace {

alignas(8) int meta_a, meta_b;

TEST(RangeMap, UnknownAddressesAreNotOurs) {
  int local;
  EXPECT_EQ(RangeMap::Lookup(nullptr), 0u);
  EXPECT_EQ(RangeMap::Lookup(&local), 0u);
  EXPECT_EQ(RangeMap::Lookup(reinterpret_cast<void*>(~uintptr_t{0} - 4095)), 0u);
}

TEST(RangeMap, RegisteredRangesResolveToTheirMetadata) {
  char* region = static_cast<char*>(OsMapAligned(3 * kSuperSlabSize, kSuperSlabSize));
  ASSERT_NE(region, nullptr);
  ASSERT_TRUE(RangeMap::Register(region, kSuperSlabSize, RangeKind::kFreeUnit, &meta_a));
  ASSERT_TRUE(RangeMap::Register(region + kSuperSlabSize, 2 * kSuperSlabSize, RangeKind::kLarge,
                                 &meta_b));
  const uintptr_t first = RangeMap::Lookup(region + 12345);
  EXPECT_EQ(RangeMap::KindOf(first), RangeKind::kFreeUnit);
  EXPECT_EQ(RangeMap::MetaOf<int>(first), &meta_a);
  const uintptr_t last = RangeMap::Lookup(region + 3 * kSuperSlabSize - 1);
  EXPECT_EQ(RangeMap::KindOf(last), RangeKind::kLarge);
  EXPECT_EQ(RangeMap::MetaOf<int>(last), &meta_b);
  RangeMap::Unregister(region, 3 * kSuperSlabSize);
  EXPECT_EQ(RangeMap::Lookup(region), 0u);
  EXPECT_EQ(RangeMap::Lookup(region + 2 * kSuperSlabSize), 0u);
  OsUnmap(region, 3 * kSuperSlabSize);
}

TEST(RangeMap, EachSixtyFourKilobyteUnitHasItsOwnEntry) {
  char* region = static_cast<char*>(OsMapAligned(kSuperSlabSize, kSuperSlabSize));
  ASSERT_NE(region, nullptr);
  ASSERT_TRUE(RangeMap::Register(region, kSuperSlabSize, RangeKind::kFreeUnit, &meta_a));
  // Units 3..5 carved into a span: their entries change, the neighbours' do not.
  ASSERT_TRUE(RangeMap::Register(region + 3 * kUnitSize, 3 * kUnitSize, RangeKind::kSlab, &meta_b));
  EXPECT_EQ(RangeMap::KindOf(RangeMap::Lookup(region + 3 * kUnitSize - 1)), RangeKind::kFreeUnit);
  EXPECT_EQ(RangeMap::KindOf(RangeMap::Lookup(region + 3 * kUnitSize)), RangeKind::kSlab);
  EXPECT_EQ(RangeMap::MetaOf<int>(RangeMap::Lookup(region + 6 * kUnitSize - 1)), &meta_b);
  EXPECT_EQ(RangeMap::KindOf(RangeMap::Lookup(region + 6 * kUnitSize)), RangeKind::kFreeUnit);
  RangeMap::Unregister(region, kSuperSlabSize);
  OsUnmap(region, kSuperSlabSize);
}

// A range across a leaf's edge (4 GiB) has every unit on both sides
// registered and unregistered; unregistering over a leaf never created is
// a no-op there. (Entries only: nothing is mapped at these addresses.)
TEST(RangeMap, ARangeAcrossTwoLeavesHasEveryUnitsEntry) {
  const uintptr_t edge = uintptr_t{0x7e00} << 32;  // a leaf boundary nothing else uses
  char* start = reinterpret_cast<char*>(edge - 3 * kUnitSize);
  ASSERT_TRUE(RangeMap::Register(start, 5 * kUnitSize, RangeKind::kLarge, &meta_a));
  EXPECT_EQ(RangeMap::Lookup(start - 1), 0u);
  for (int u = 0; u < 5; ++u) {
    const uintptr_t e = RangeMap::Lookup(start + u * kUnitSize + kUnitSize / 2);
    EXPECT_EQ(RangeMap::KindOf(e), RangeKind::kLarge) << u;
    EXPECT_EQ(RangeMap::MetaOf<int>(e), &meta_a) << u;
  }
  EXPECT_EQ(RangeMap::Lookup(start + 5 * kUnitSize), 0u);
  RangeMap::Unregister(start, 3 * kUnitSize + 3 * RangeMap::kLeafReach);
  for (int u = 0; u < 5; ++u) EXPECT_EQ(RangeMap::Lookup(start + u * kUnitSize), 0u) << u;
}

// The window (the slab arena's addresses) is the same entries as the
// two-level map, reached without the top-level load: they sit in a table at
// the window's start, 32 bytes per unit, at the unit's number modulo the
// window's reach; everything else is looked up as before.
// Before the window exists, free's lookup reads zeroed entries.
TEST(RangeMap, AWindowReadsTheSameEntriesAsTheTwoLevelMap) {
  int local;
  EXPECT_EQ(RangeMap::UnitForFree(&local).slab.carved.load(), 0u);  // no window yet
  const size_t reach = RangeMap::kLeafReach;
  char* reserved = static_cast<char*>(OsReserveAligned(2 * reach, reach));
  ASSERT_NE(reserved, nullptr);
  EXPECT_FALSE(RangeMap::InstallWindow(reserved + kSuperSlabSize, reach));  // misaligned
  EXPECT_FALSE(RangeMap::InstallWindow(reserved, reach / 2));               // not whole leaves
  ASSERT_TRUE(RangeMap::InstallWindow(reserved, 2 * reach));
  EXPECT_FALSE(RangeMap::InstallWindow(reserved, reach));  // once
  char* inside = reserved + reach + 5 * kUnitSize;         // the second leaf
  ASSERT_TRUE(RangeMap::Register(inside, 2 * kUnitSize, RangeKind::kSlab, &meta_a));
  EXPECT_TRUE(RangeMap::InWindow(inside));
  const auto unit_number = [](const char* p) { return reinterpret_cast<uintptr_t>(p) / kUnitSize; };
  EXPECT_EQ(reinterpret_cast<const char*>(&RangeMap::UnitForFree(inside)),
            reserved + unit_number(inside) % RangeMap::kWindowUnits * sizeof(UnitEntry));
  for (char* p : {inside, inside + kUnitSize + 77, reserved, reserved + 2 * reach - 1}) {
    EXPECT_EQ(&RangeMap::UnitForFree(p), &RangeMap::UnitAliased(p));
  }
  EXPECT_EQ(RangeMap::UnitForFree(inside + kUnitSize).word.load(), RangeMap::Lookup(inside));
  EXPECT_EQ(RangeMap::MetaOf<int>(RangeMap::Lookup(inside + 1)), &meta_a);
  EXPECT_EQ(RangeMap::Lookup(inside + 2 * kUnitSize), 0u);
  // Outside the window free's lookup reads an entry of the window's table.
  EXPECT_FALSE(RangeMap::InWindow(&local));
  EXPECT_FALSE(RangeMap::InWindow(reserved + 2 * reach));
  const auto* table = reinterpret_cast<const char*>(reserved);
  for (const void* p : {static_cast<const void*>(&local),
                        static_cast<const void*>(reserved + 2 * reach)}) {
    const char* read = reinterpret_cast<const char*>(&RangeMap::UnitForFree(p));
    EXPECT_GE(read, table);
    EXPECT_LT(read, table + RangeMap::kWindowTableBytes);
  }
  // An address a whole window above a slab unit reads that unit's digest, and
  // lies outside the carved range it describes (never dereferenced here).
  const auto* above =
      reinterpret_cast<const char*>(inside + (RangeMap::kWindowUnits << kUnitShift) + 64);
  const SlabDigest& d = RangeMap::UnitForFree(above).slab;
  EXPECT_EQ(&d, &RangeMap::UnitForFree(inside).slab);
  RangeMap::UnitsAt(inside)[0].slab.neg_start.store(0 - reinterpret_cast<uintptr_t>(inside));
  RangeMap::UnitsAt(inside)[0].slab.carved.store(kUnitSize);
  EXPECT_GE(reinterpret_cast<uintptr_t>(above) + d.neg_start.load(), d.carved.load());
  RangeMap::Unregister(inside, 2 * kUnitSize);
  EXPECT_EQ(RangeMap::UnitForFree(inside).word.load(), 0u);
  EXPECT_EQ(RangeMap::UnitForFree(inside).slab.carved.load(), 0u);
}

// free's fast path tests a digest without the entry's kind: a unit that
// stops being a slab's has nothing carved in its digest, whatever kind it
// becomes.
TEST(RangeMap, AUnitThatIsNoSlabsHasNothingCarved) {
  char* base = static_cast<char*>(OsMapAligned(2 * kUnitSize, kUnitSize));
  ASSERT_NE(base, nullptr);
  for (const RangeKind kind : {RangeKind::kFreeUnit, RangeKind::kLarge}) {
    ASSERT_TRUE(RangeMap::Register(base, 2 * kUnitSize, RangeKind::kSlab, &meta_a));
    RangeMap::UnitsAt(base)[1].slab.carved.store(4096);  // a span that carved
    ASSERT_TRUE(RangeMap::Register(base, 2 * kUnitSize, kind, &meta_b));
    EXPECT_EQ(RangeMap::UnitsAt(base)[1].slab.carved.load(), 0u);
  }
  RangeMap::UnitsAt(base)[0].slab.carved.store(4096);
  RangeMap::Unregister(base, 2 * kUnitSize);
  EXPECT_EQ(RangeMap::UnitAliased(base).slab.carved.load(), 0u);
  OsUnmap(base, 2 * kUnitSize);
}

TEST(RangeMap, RefusesAddressesBeyondTheUserSpace) {
  EXPECT_FALSE(RangeMap::Register(reinterpret_cast<void*>(uintptr_t{1} << 47), kSuperSlabSize,
                                  RangeKind::kLarge, &meta_a));
}

}  // namespace
}  // namespace hakmem
