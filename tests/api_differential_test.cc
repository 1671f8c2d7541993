// The differential API test (api_differential.h) as a gtest: by default 6000
// seeded sequences of ~300 calls each on 4 threads with hand-offs, every call
// to hakmem's exported API checked against the shadow model. Linked with
// //preload:hakmem, so malloc, free and operator new/delete are hakmem's;
// tagged noasan/notsan (a sanitizer runtime would own these names).
//
// Flags after the gtest ones (`bazel test --test_arg=--seed=7 ...`) change the
// run; see kDiffFlagsHelp. A failure prints the seed, the sequence, the
// operation and the command that replays the sequence alone.
#include <stdio.h>
#include <stdlib.h>

#include "core/hakmem.h"
#include "gtest/gtest.h"
#include "tests/api_differential.h"

namespace {

using hakmem::test::DiffConfig;
using hakmem::test::DiffResult;

DiffConfig g_config;

TEST(ApiDifferential, EveryEntryPointIsHakmem) {
  EXPECT_TRUE(hakmem::test::ResolvesToHakmem()) << "the test would not be testing hakmem";
}

TEST(ApiDifferential, RandomSequencesAgreeWithTheShadowModel) {
  const DiffResult r = hakmem::test::RunDifferential(g_config);
  hakmem::test::PrintSummary(stdout, g_config, r);
  EXPECT_EQ(r.failures, 0) << "see the FAILURE reports on stderr (seed, sequence, operation)";
  if (r.failures == 0) {
    EXPECT_EQ(r.counters[hakmem::test::kSequences], g_config.sequences);
    EXPECT_EQ(r.blocks_left, 0u) << "blocks the test forgot to free";
    EXPECT_EQ(r.rejected_frees, 0u) << "hakmem reported valid frees as invalid";
  }
}

}  // namespace

int main(int argc, char** argv) {
  testing::InitGoogleTest(&argc, argv);
  for (int i = 1; i < argc; ++i) {
    if (!hakmem::test::ParseDiffFlag(argv[i], &g_config)) {
      fprintf(stderr, "api_differential_test: bad flag %s; flags:\n%s", argv[i],
              hakmem::test::kDiffFlagsHelp);
      return 2;
    }
  }
  return RUN_ALL_TESTS();
}
