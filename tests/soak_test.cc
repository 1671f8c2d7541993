// The soak (tests/soak.h) cut to 5 seconds, 16 threads: the same workload in every
// `bazel test //...` run, plain and under ASan and TSan (fewer operations there).
#include "gtest/gtest.h"
#include "tests/soak.h"

namespace {

TEST(Soak, SixteenThreadsFiveSeconds) {
  hakmem_test::SoakConfig cfg;
  cfg.threads = 16;
  cfg.seconds = 5;
  const hakmem_test::SoakResult r = hakmem_test::RunSoak(cfg);
  EXPECT_EQ(r.errors, 0u) << "content, alignment or zeroing errors (stderr says which)";
  EXPECT_EQ(r.invalid_frees, 0u) << "hakmem reported valid frees as invalid";
  EXPECT_FALSE(r.rss_grew) << "baseline " << r.rss_baseline << " B, later max "
                           << r.rss_max_later << " B";
  EXPECT_GT(r.ops, 0u);
}

}  // namespace
