// Full SuperSlabs go to transparent huge pages (CollapseFullSuperSlabs): one
// full for long enough and almost all resident is collapsed, and the kernel
// says so (AnonHugePages); one only partly resident, or full only just now,
// is left as it is; a unit given back and decommitted makes it a candidate
// again once it is full again.
#include <cstring>

#include "core/base/clock.h"
#include "core/base/os.h"
#include "core/base/size_classes.h"
#include "gtest/gtest.h"
#include "pools/tiny/superslab_manager.h"
#include "tests/resident_memory.h"

namespace hakmem::tiny {
namespace {

using test::AnonHugeBytes;

// One newly mapped SuperSlab taken whole by one span; nullptr if it could not be.
Slab* AcquireWholeSuperSlab() {
  Slab* span = nullptr;
  if (AcquireSpans(kUnitsPerSuperSlab, &span, 1, MayMap::kYes) != 1) return nullptr;
  return span;
}

void Touch(Slab* span, size_t bytes) {
  char* base = span->superslab->base;
  for (size_t off = 0; off < bytes; off += kPageSize) base[off] = 1;
}

// Whether this kernel collapses at all (MADV_COLLAPSE: Linux 6.1+, THP not
// "never"), tried on a mapping of the test's own.
bool KernelCollapses() {
  void* p = OsMapAligned(kSuperSlabSize, kSuperSlabSize);
  if (p == nullptr) return false;
  memset(p, 1, kSuperSlabSize);
  const bool ok = OsCollapseHuge(p, kSuperSlabSize) == Collapse::kDone;
  OsUnmap(p, kSuperSlabSize);
  return ok;
}

TEST(HugePages, AFullResidentSuperSlabIsCollapsedOnceItHasBeenFullAWhile) {
  if (!KernelCollapses()) GTEST_SKIP() << "no MADV_COLLAPSE here";
  Slab* span = AcquireWholeSuperSlab();
  ASSERT_NE(span, nullptr);
  Touch(span, kSuperSlabSize);
  span->superslab->base[12345] = 42;
  const uint64_t now = NowMs();
  EXPECT_EQ(CollapseFullSuperSlabs(now), 0u);  // full only just now
  const uint64_t huge_before = AnonHugeBytes();
  const uint64_t later = now + kCollapseFullForMs + 1;
  const size_t collapsed = CollapseFullSuperSlabs(later);
  // The kernel may have no huge page free at this moment (a loaded machine):
  // probed again, that is a skip, not a failure.
  if (collapsed == 0 && !KernelCollapses()) {
    ReleaseSpan(span, Residency::kDecommit);
    TrimSuperSlabs();
    GTEST_SKIP() << "no huge page to be had now";
  }
  EXPECT_GE(collapsed, 1u);
  EXPECT_GE(AnonHugeBytes(), huge_before + kSuperSlabSize);
  EXPECT_EQ(span->superslab->base[12345], 42);  // the contents stay
  EXPECT_EQ(CollapseFullSuperSlabs(later + kCollapseRetryMs), 0u);  // huge already

  // A span given back and decommitted splits it; full again, it is collapsed again.
  SuperSlab* ss = span->superslab;
  ReleaseSpan(span, Residency::kDecommit);
  Slab* again = nullptr;
  ASSERT_EQ(AcquireSpans(kUnitsPerSuperSlab, &again, 1, MayMap::kNo), 1u);
  ASSERT_EQ(again->superslab, ss);
  Touch(again, kSuperSlabSize);
  const uint64_t full_again = NowMs();
  EXPECT_EQ(CollapseFullSuperSlabs(full_again), 0u);  // full only just now, again
  const size_t collapsed_again = CollapseFullSuperSlabs(full_again + kCollapseFullForMs + 1);
  ReleaseSpan(again, Residency::kDecommit);
  TrimSuperSlabs();
  if (collapsed_again == 0 && !KernelCollapses()) GTEST_SKIP() << "no huge page to be had now";
  EXPECT_GE(collapsed_again, 1u);
}

TEST(HugePages, APartlyResidentSuperSlabIsLeftAsItIs) {
  if (!KernelCollapses()) GTEST_SKIP() << "no MADV_COLLAPSE here";
  Slab* span = AcquireWholeSuperSlab();
  ASSERT_NE(span, nullptr);
  // A collapse would fill what is not resident: more than kCollapseMinResidentPages allow.
  Touch(span, (kCollapseMinResidentPages - 1) * kPageSize);
  const uint64_t huge_before = AnonHugeBytes();
  EXPECT_EQ(CollapseFullSuperSlabs(NowMs() + kCollapseFullForMs + 1), 0u);
  EXPECT_EQ(AnonHugeBytes(), huge_before);
  ReleaseSpan(span, Residency::kDecommit);
  TrimSuperSlabs();
}

}  // namespace
}  // namespace hakmem::tiny
