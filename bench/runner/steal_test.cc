#include "bench/runner/steal.h"

#include <string>

#include "gtest/gtest.h"

namespace hakmem_bench {
namespace {

TEST(StealTest, ReadsTheEighthNumberOfTheCpuLine) {
  const std::string stat =
      "cpu  5058741 0 565246 7602263 6581 0 60936 358298 0 0\n"
      "cpu0 2529370 0 282623 3801131 3290 0 30468 179149 0 0\n";
  EXPECT_DOUBLE_EQ(StealSecondsIn(stat, 100), 3582.98);
}

TEST(StealTest, NoneWhenTheKernelDoesNotReportIt) {
  EXPECT_EQ(StealSecondsIn("cpu  5058741 0 565246 7602263 6581 0 60936\n", 100), 0);
  EXPECT_EQ(StealSecondsIn("intr 1 2 3 4 5 6 7 8 9\n", 100), 0);
  EXPECT_EQ(StealSecondsIn("", 100), 0);
}

TEST(StealTest, ThisMachineReadsWithoutError) {
  const double a = StealSecondsNow();
  const double b = StealSecondsNow();
  EXPECT_GE(a, 0);
  EXPECT_GE(b, a);  // a counter since boot
}

TEST(StealTest, ShareIsOfAllCpusOverTheRun) {
  EXPECT_DOUBLE_EQ(StealShare(0.4, 2.0, 2), 0.1);
  EXPECT_EQ(StealShare(0.4, 0, 2), 0);
  EXPECT_EQ(StealShare(-0.1, 2.0, 2), 0);  // a counter that went back (never expected)
}

}  // namespace
}  // namespace hakmem_bench
