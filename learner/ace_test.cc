// ACE reads the per-class counters as windows: what a thread allocates shows
// up in its class, with hit rates and the borrowed waste of W_MAX lending.
#include "learner/ace.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

#include "core/hakmem.h"
#include "gtest/gtest.h"
#include "pools/mid/pool_policy.h"

namespace hakmem::learner {
namespace {

TEST(Ace, AWindowCountsTheRequestsOfItsClass) {
  const int c = SizeToClass(6000);
  ASSERT_EQ(TierOfClass(c), Tier::kMid);
  AceSnapshot before, after, window;
  ReadAce(&before);
  std::vector<void*> blocks;
  for (int i = 0; i < 500; ++i) blocks.push_back(hak_alloc(6000));
  ReadAce(&after);
  for (void* p : blocks) hak_free(p);
  AceWindowOf(before, after, &window);
  const AceClass& a = window.cls[c];
  EXPECT_EQ(a.requests, 500u);
  EXPECT_GT(a.refills, 0u);
  EXPECT_GT(a.spans_reused + a.spans_new, 0u);
  EXPECT_EQ(BytesOut(c, a), 500u * ClassSize(c));
  EXPECT_EQ(a.cap, mid::PoolPolicy::Cap(c));
  const int32_t cache_hit = CacheHitBp(a);
  EXPECT_GT(cache_hit, 5000);
  EXPECT_LE(cache_hit, 10000);
  const int32_t cap_hit = CapHitBp(a);
  EXPECT_GE(cap_hit, 0);
  EXPECT_LE(cap_hit, 10000);
  // Other classes saw nothing of it.
  EXPECT_EQ(window.cls[c + 1].requests, 0u);
  uint64_t bytes = 0;
  const AceClass mid = AceTierSum(window, Tier::kMid, &bytes);
  EXPECT_GE(mid.requests, 500u);
  EXPECT_GE(bytes, 500u * ClassSize(c));
}

TEST(Ace, RatesAreUndefinedWithoutTraffic) {
  const AceClass none = {};
  EXPECT_EQ(CapHitBp(none), -1);
  EXPECT_EQ(CacheHitBp(none), -1);
  EXPECT_EQ(WasteBp(SizeToClass(4000), none), -1);
  AceClass some = {};
  some.requests = 100;
  some.refills = 25;
  some.spans_reused = 3;
  some.spans_new = 1;
  some.borrowed_waste = 4000 * 100 / 10;
  EXPECT_EQ(CacheHitBp(some), 7500);
  EXPECT_EQ(CapHitBp(some), 7500);
  EXPECT_EQ(WasteBp(SizeToClass(4000), some),
            static_cast<int32_t>(40000 * uint64_t{10000} / (100 * ClassSize(SizeToClass(4000)))));
}

TEST(Ace, BorrowedWasteIsCountedOnTheLendingClass) {
  // A thread whose 3500-byte bin is empty takes a cached 4096-byte block when
  // W_MAX allows it (4096 <= 1.40 x 3500): the waste is 596 bytes.
  const int small = SizeToClass(3500);
  const int big = SizeToClass(4096);
  ASSERT_LT(small, big);
  void* warm = hak_alloc(4096);  // the 4096 bin now holds cached blocks
  AceSnapshot before, after, window;
  ReadAce(&before);
  std::vector<void*> blocks;
  for (int i = 0; i < 2000; ++i) blocks.push_back(hak_alloc(3500));
  ReadAce(&after);
  for (void* p : blocks) hak_free(p);
  hak_free(warm);
  AceWindowOf(before, after, &window);
  const AceClass& lender = window.cls[big];
  if (lender.borrowed == 0) GTEST_SKIP() << "no lending happened (bins never ran dry)";
  EXPECT_EQ(lender.borrowed_waste, lender.borrowed * (ClassSize(big) - 3500));
  EXPECT_GT(WasteBp(big, lender), 0);
}

TEST(Ace, PrintsAPerClassTable) {
  void* p = hak_alloc(20000);
  char path[] = "/tmp/ace_test_XXXXXX";
  const int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  PrintAce(fd);
  close(fd);
  FILE* f = fopen(path, "r");
  ASSERT_NE(f, nullptr);
  std::string text;
  char buf[512];
  while (fgets(buf, sizeof buf, f)) text += buf;
  fclose(f);
  unlink(path);
  hak_free(p);
  EXPECT_EQ(text.rfind("hakmem ace", 0), 0u) << text;
  const std::string row = "  class " + std::to_string(SizeToClass(20000)) + " (" +
                          std::to_string(ClassSize(SizeToClass(20000))) + " B, mid): requests ";
  EXPECT_NE(text.find(row), std::string::npos) << text;
}

}  // namespace
}  // namespace hakmem::learner
