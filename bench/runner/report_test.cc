// The interval the runner gives for a median of per-round ratios.
#include <algorithm>
#include <vector>

#include "bench/runner/report.h"
#include "gtest/gtest.h"

namespace hakmem_bench {
namespace {

TEST(MedianInterval, NoneBelowSixValues) {
  EXPECT_FALSE(MedianInterval({1.0, 1.1, 0.9, 1.2, 1.05}).valid);
  EXPECT_FALSE(MedianInterval({}).valid);
}

// Each tail may hold the median with probability at most 2.5 %: with 6
// values the extremes (1/64 each), with 10 the second from each end
// (11/1024), with 16 the fourth (697/65536).
TEST(MedianInterval, OrderStatisticsByTheBinomialTails) {
  const Interval six = MedianInterval({6, 1, 5, 2, 4, 3});
  ASSERT_TRUE(six.valid);
  EXPECT_EQ(six.low, 1);
  EXPECT_EQ(six.high, 6);
  const Interval ten = MedianInterval({10, 9, 8, 7, 6, 5, 4, 3, 2, 1});
  EXPECT_EQ(ten.low, 2);
  EXPECT_EQ(ten.high, 9);
  std::vector<double> sixteen;
  for (int i = 16; i >= 1; --i) sixteen.push_back(i);
  const Interval i16 = MedianInterval(sixteen);
  EXPECT_EQ(i16.low, 4);
  EXPECT_EQ(i16.high, 13);
}

AllocatorRuns RunsOf(const std::vector<double>& rates) {
  AllocatorRuns a;
  for (size_t i = 0; i < rates.size(); ++i) {
    Run r;
    r.round = static_cast<int>(i) + 1;
    r.ok = true;
    r.rate = rates[i];
    a.runs.push_back(r);
  }
  return a;
}

// Ratios are matched by round, not by position; a round either side lost (or
// a peer's rate of 0) is left out.
TEST(PairedRateInterval, RatiosOfTheSameRound) {
  AllocatorRuns hakmem = RunsOf({11, 12, 13, 14, 15, 16, 17});
  AllocatorRuns peer = RunsOf({10, 10, 10, 10, 10, 10, 20});
  std::reverse(peer.runs.begin(), peer.runs.end());  // round 7 (rate 20) first
  Interval i = PairedRateInterval(&hakmem, &peer);
  ASSERT_TRUE(i.valid);
  EXPECT_DOUBLE_EQ(i.low, 0.85);  // 17 / 20, round 7
  EXPECT_DOUBLE_EQ(i.high, 1.6);  // 16 / 10, round 6
  hakmem.runs[6].ok = false;  // six rounds left: still an interval
  i = PairedRateInterval(&hakmem, &peer);
  ASSERT_TRUE(i.valid);
  EXPECT_DOUBLE_EQ(i.low, 1.1);
  EXPECT_DOUBLE_EQ(i.high, 1.6);
  peer.runs[1].ok = false;  // the peer's round 6: five left, none
  EXPECT_FALSE(PairedRateInterval(&hakmem, &peer).valid);
  peer.runs[1].ok = true;
  peer.runs[2].rate = 0;  // round 5
  EXPECT_FALSE(PairedRateInterval(&hakmem, &peer).valid);
  EXPECT_FALSE(PairedRateInterval(nullptr, &peer).valid);
}

}  // namespace
}  // namespace hakmem_bench
