#include "learner/plain_math.h"

#include <cfloat>
#include <cmath>
#include <algorithm>
#include <cstdint>
#include <vector>

#include "gtest/gtest.h"

namespace hakmem::learner {
namespace {

// libm's answers (the test may use libm; libhakmem.so must not) over the
// ranges the learner uses and far beyond: trial counts, ratios, scores.
std::vector<double> Samples() {
  std::vector<double> xs = {DBL_MIN, 1e-300, 1e-9, 0.1, 0.5, 0.999999, 1.000001, 1.5,
                            1.9999999, 2, 2.718281828459045, 3, 10, 1e6, 1e15, 1e300, DBL_MAX};
  uint64_t state = 88172645463325252ull;  // xorshift: mantissas and exponents at random
  for (int i = 0; i < 20000; ++i) {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    const double mantissa = 1 + static_cast<double>(state >> 11) * 0x1p-53;
    xs.push_back(std::ldexp(mantissa, static_cast<int>(state % 2000) - 1000));
  }
  return xs;
}

TEST(PlainMath, NaturalLogMatchesLibm) {
  for (const double x : Samples()) {
    const double want = std::log(x);
    EXPECT_NEAR(NaturalLog(x), want, 4 * DBL_EPSILON * std::fabs(want)) << x;  // relative
  }
  for (const double x : {1 - 1e-6, 1 - 1e-12, 1 + 1e-9, 1.4142135, 1.4142136, 0.7071067}) {
    EXPECT_NEAR(NaturalLog(x), std::log(x), 4 * DBL_EPSILON * std::fabs(std::log(x))) << x;
  }
  EXPECT_EQ(NaturalLog(1), 0);
}

TEST(PlainMath, SquareRootMatchesLibm) {
  for (const double x : Samples()) {
    const double want = std::sqrt(x);
    EXPECT_NEAR(SquareRoot(x), want, 2 * DBL_EPSILON * want) << x;
  }
  for (int i = 0; i <= 10000; ++i) {  // perfect squares come out exact
    EXPECT_EQ(SquareRoot(static_cast<double>(i) * i), i);
  }
  EXPECT_EQ(SquareRoot(0), 0);
  EXPECT_EQ(SquareRoot(-4), 0);
}

TEST(PlainMath, RoundToInt64MatchesLlround) {
  const double xs[] = {0,    0.49999999999999994, 0.5,  1.5,   2.5,     -0.5, -1.5,
                       -2.5, 999999.4999,         1e15, -1e15, 4503599627370495.5};
  for (const double x : xs) EXPECT_EQ(RoundToInt64(x), std::llround(x)) << x;
  for (const double x : Samples()) {
    if (std::fabs(x) < 0x1p52) {
      EXPECT_EQ(RoundToInt64(x), std::llround(x)) << x;
      EXPECT_EQ(RoundToInt64(-x), std::llround(-x)) << x;
    }
  }
}

}  // namespace
}  // namespace hakmem::learner
