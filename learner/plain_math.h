// The three libm functions the learner's decisions use, written out so that
// libhakmem.so needs libc alone. With libm among its needs, every program
// preloaded with it that does not use libm itself (a shell, coreutils, git)
// had the dynamic loader map and relocate libm at each exec, for three calls
// of the W_MAX bandit: /bin/true preloaded took 845 - 883 us against 788 - 800
// without libm (glibc alone 727 - 744, mimalloc 816) and 1.7 MiB resident
// against 1.4 (AMD EPYC, Zen 5). -fno-math-errno would inline sqrt only when
// optimising; log and llround are calls always.
#ifndef HAKMEM_LEARNER_PLAIN_MATH_H_
#define HAKMEM_LEARNER_PLAIN_MATH_H_

#include <bit>
#include <cstdint>

namespace hakmem::learner {

// ln(x) for a finite x >= DBL_MIN (what else it returns is unspecified),
// to within a few units in the last place (near 1 too).
inline double NaturalLog(double x) {
  // x = m * 2^e with m in [sqrt(1/2), sqrt(2)): ln x = e ln 2 + ln m, and
  // ln m = 2 atanh(t) = 2 (t + t^3/3 + t^5/5 + ...) with |t| = |m - 1| / (m +
  // 1) below 0.18, so each term is under a thirtieth of the one before: 15 of
  // them leave an error far below the last place. (m in [1, 2) would subtract
  // ln 2 from ln 1.99... for an x just below 1: no digits left.)
  const uint64_t bits = std::bit_cast<uint64_t>(x);
  int exponent = static_cast<int>(bits >> 52) - 1023;
  double m = std::bit_cast<double>((bits & ((uint64_t{1} << 52) - 1)) | (uint64_t{1023} << 52));
  if (m > 1.4142135623730951) {
    m *= 0.5;
    ++exponent;
  }
  const double t = (m - 1) / (m + 1);
  const double t2 = t * t;
  double power = t;
  double sum = 0;
  for (int k = 1; k < 30; k += 2) {
    sum += power / k;
    power *= t2;
  }
  constexpr double kLn2 = 0.693147180559945309417232121458176568;
  return exponent * kLn2 + 2 * sum;
}

// The square root of 0 or a normal x > 0 (0 for anything below 0), correctly
// rounded or one unit off.
inline double SquareRoot(double x) {
  if (!(x > 0)) return 0;
  // Halving the exponent gives a start within a factor of 1.5; Newton's step
  // doubles the correct digits each time: 6 steps are more than 53 bits.
  double r = std::bit_cast<double>((std::bit_cast<uint64_t>(x) >> 1) + (uint64_t{1023} << 51));
  for (int i = 0; i < 6; ++i) r = 0.5 * (r + x / r);
  return r;
}

// llround for |x| < 2^52: the nearest integer, halves away from zero.
inline int64_t RoundToInt64(double x) {
  const auto whole = static_cast<int64_t>(x);  // towards zero
  const double rest = x - static_cast<double>(whole);  // exact below 2^52
  return whole + (rest >= 0.5) - (rest <= -0.5);
}

}  // namespace hakmem::learner

#endif  // HAKMEM_LEARNER_PLAIN_MATH_H_
