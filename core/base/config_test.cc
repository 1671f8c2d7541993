#include "core/base/config.h"

#include <algorithm>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace hakmem {
namespace {

Config Parse(std::initializer_list<const char*> entries) {
  std::vector<char*> env;
  for (const char* e : entries) env.push_back(const_cast<char*>(e));
  env.push_back(nullptr);
  Config c;
  ParseConfig(env.data(), &c);
  return c;
}

TEST(Config, DefaultsWithoutVariables) {
  const Config c = Parse({"PATH=/bin", "HOME=/root"});
  const Config d;
  EXPECT_EQ(c.tiny_refill_max, d.tiny_refill_max);
  EXPECT_EQ(c.large_cache_bytes, d.large_cache_bytes);
  EXPECT_EQ(c.verbose, 0u);
}

TEST(Config, ParsesNumbersFlagsSuffixesAndModes) {
  const Config c = Parse({"HAKMEM_VERBOSE=1", "HAKMEM_TINY_REFILL_MAX=192",
                          "HAKMEM_LARGE_CACHE_BYTES=8M", "HAKMEM_SUPERSLAB_CACHE=0",
                          "HAKMEM_INVALID_FREE=abort", "HAKMEM_STATS=1"});
  EXPECT_EQ(c.verbose, 1u);
  EXPECT_EQ(c.stats, 1u);
  EXPECT_EQ(c.tiny_refill_max, 192u);
  EXPECT_EQ(c.large_cache_bytes, uint64_t{8} << 20);
  EXPECT_EQ(c.superslab_cache, 0u);
  EXPECT_EQ(c.invalid_free, static_cast<uint32_t>(InvalidFreeMode::kAbort));
}

TEST(Config, BadValuesWarnOnceAndKeepTheDefault) {
  const Config d;
  testing::internal::CaptureStderr();
  const Config c = Parse({"HAKMEM_TINY_REFILL_MAX=lots", "HAKMEM_SUPERSLAB_CACHE=999",
                          "HAKMEM_LARGE_CACHE_BYTES=12Q", "HAKMEM_INVALID_FREE=maybe",
                          "HAKMEM_VERBOSE=", "HAKMEM_TINY_REFILL_MAX_EXTRA=5"});
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_EQ(c.tiny_refill_max, d.tiny_refill_max);
  EXPECT_EQ(c.superslab_cache, d.superslab_cache);
  EXPECT_EQ(c.large_cache_bytes, d.large_cache_bytes);
  EXPECT_EQ(c.invalid_free, d.invalid_free);
  EXPECT_EQ(c.verbose, d.verbose);
  // One line per bad variable; the unknown look-alike name is not ours.
  EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 5) << err;
  EXPECT_NE(err.find("HAKMEM_TINY_REFILL_MAX=lots is invalid"), std::string::npos) << err;
}

TEST(Config, RejectsOverflow) {
  const Config d;
  testing::internal::CaptureStderr();
  const Config c = Parse({"HAKMEM_LARGE_CACHE_BYTES=99999999999999999999999"});
  testing::internal::GetCapturedStderr();
  EXPECT_EQ(c.large_cache_bytes, d.large_cache_bytes);
}


TEST(Config, LearnerDefaultsMatchTheReference) {
  const Config c = Parse({});
  EXPECT_EQ(c.learn, 0u);
  EXPECT_EQ(c.learn_window_ms, 1000u);
  EXPECT_EQ(c.learn_min_samples, 256u);
  EXPECT_EQ(c.target_hit_mid, 6500u);
  EXPECT_EQ(c.cap_step_mid, 4u);
  EXPECT_EQ(c.cap_dwell_sec_mid, 3u);
  EXPECT_EQ(c.wmax_learn, 0u);
  ASSERT_EQ(c.wmax_candidates_mid.count, 3u);
  EXPECT_EQ(c.wmax_candidates_mid.x100[0], 140u);
  EXPECT_EQ(c.wmax_candidates_mid.x100[1], 160u);
  EXPECT_EQ(c.wmax_candidates_mid.x100[2], 170u);
  EXPECT_EQ(c.wmax_canary, 1u);
  EXPECT_EQ(c.wmax_trial_sec, 5u);
  EXPECT_EQ(c.wmax_adopt, 100u);
  EXPECT_STREQ(c.learn_log.text, "");
}

TEST(Config, ParsesLearnerSettings) {
  const Config c = Parse({"HAKMEM_LEARN=1", "HAKMEM_LEARN_WINDOW_MS=500",
                          "HAKMEM_LEARN_MIN_SAMPLES=64", "HAKMEM_TARGET_HIT_MID=0.8",
                          "HAKMEM_CAP_STEP_MID=8", "HAKMEM_CAP_DWELL_SEC_MID=1",
                          "HAKMEM_WMAX_LEARN=1", "HAKMEM_WMAX_CANDIDATES_MID=1.25,2,3.5",
                          "HAKMEM_WMAX_CANARY=0", "HAKMEM_WMAX_TRIAL_SEC=3",
                          "HAKMEM_WMAX_ADOPT_PCT=0.005", "HAKMEM_LEARN_LOG=/tmp/learn.csv"});
  EXPECT_EQ(c.learn, 1u);
  EXPECT_EQ(c.learn_window_ms, 500u);
  EXPECT_EQ(c.learn_min_samples, 64u);
  EXPECT_EQ(c.target_hit_mid, 8000u);
  EXPECT_EQ(c.cap_step_mid, 8u);
  EXPECT_EQ(c.cap_dwell_sec_mid, 1u);
  EXPECT_EQ(c.wmax_learn, 1u);
  ASSERT_EQ(c.wmax_candidates_mid.count, 3u);
  EXPECT_EQ(c.wmax_candidates_mid.x100[0], 125u);
  EXPECT_EQ(c.wmax_candidates_mid.x100[1], 200u);
  EXPECT_EQ(c.wmax_candidates_mid.x100[2], 350u);
  EXPECT_EQ(c.wmax_canary, 0u);
  EXPECT_EQ(c.wmax_trial_sec, 3u);
  EXPECT_EQ(c.wmax_adopt, 50u);
  EXPECT_STREQ(c.learn_log.text, "/tmp/learn.csv");
}

TEST(Config, BadLearnerSettingsWarnOnceEachAndKeepSafeDefaults) {
  const Config d;
  const std::string long_path = "HAKMEM_LEARN_LOG=/" + std::string(300, 'x');
  const char* bad[] = {
      "HAKMEM_LEARN=yes",                   // unparsable flag
      "HAKMEM_LEARN_WINDOW_MS=10",          // below the range
      "HAKMEM_LEARN_MIN_SAMPLES=1e3",       // unparsable number
      "HAKMEM_TARGET_HIT_MID=0.95",         // above the range
      "HAKMEM_CAP_STEP_MID=0",              // below the range
      "HAKMEM_CAP_DWELL_SEC_MID=-1",        // unparsable
      "HAKMEM_WMAX_ADOPT_PCT=0.00001",      // too many decimals
      "HAKMEM_WMAX_TRIAL_SEC=",             // empty
  };
  for (const char* entry : bad) {
    testing::internal::CaptureStderr();
    const Config c = Parse({entry});
    const std::string err = testing::internal::GetCapturedStderr();
    EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << entry << ": " << err;
    EXPECT_NE(err.find("using the default"), std::string::npos) << err;
    EXPECT_EQ(c.learn, d.learn);
    EXPECT_EQ(c.learn_window_ms, d.learn_window_ms);
    EXPECT_EQ(c.learn_min_samples, d.learn_min_samples);
    EXPECT_EQ(c.target_hit_mid, d.target_hit_mid);
    EXPECT_EQ(c.cap_step_mid, d.cap_step_mid);
    EXPECT_EQ(c.cap_dwell_sec_mid, d.cap_dwell_sec_mid);
    EXPECT_EQ(c.wmax_adopt, d.wmax_adopt);
    EXPECT_EQ(c.wmax_trial_sec, d.wmax_trial_sec);
  }
  testing::internal::CaptureStderr();
  const Config c = Parse({long_path.c_str(), "HAKMEM_LEARN_LOG="});
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 2) << err;
  EXPECT_STREQ(c.learn_log.text, "");
}

TEST(Config, BadCandidateListsKeepTheDefaultList) {
  const char* bad[] = {
      "HAKMEM_WMAX_CANDIDATES_MID=",                 // empty list
      "HAKMEM_WMAX_CANDIDATES_MID=1.4,,1.6",         // empty entry
      "HAKMEM_WMAX_CANDIDATES_MID=1.4,",             // trailing comma
      "HAKMEM_WMAX_CANDIDATES_MID=1.4,abc",          // junk
      "HAKMEM_WMAX_CANDIDATES_MID=0.9,1.4",          // out of range
      "HAKMEM_WMAX_CANDIDATES_MID=1.1,1.2,1.3,1.4,1.5,1.6,1.7,1.8,1.9",  // 9 > 8
  };
  for (const char* entry : bad) {
    testing::internal::CaptureStderr();
    const Config c = Parse({entry});
    const std::string err = testing::internal::GetCapturedStderr();
    EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << entry << ": " << err;
    EXPECT_NE(err.find("using the default 1.40,1.60,1.70"), std::string::npos) << err;
    ASSERT_EQ(c.wmax_candidates_mid.count, 3u) << entry;
    EXPECT_EQ(c.wmax_candidates_mid.x100[0], 140u);
    EXPECT_EQ(c.wmax_candidates_mid.x100[2], 170u);
  }
  const Config eight = Parse({"HAKMEM_WMAX_CANDIDATES_MID=1.1,1.2,1.3,1.4,1.5,1.6,1.7,1.8"});
  EXPECT_EQ(eight.wmax_candidates_mid.count, 8u);
  const Config one = Parse({"HAKMEM_WMAX_CANDIDATES_MID=1.5"});
  ASSERT_EQ(one.wmax_candidates_mid.count, 1u);
  EXPECT_EQ(one.wmax_candidates_mid.x100[0], 150u);
}

TEST(Config, CapMinAboveMaxFallsBackToBothDefaults) {
  const Config d;
  testing::internal::CaptureStderr();
  const Config c = Parse({"HAKMEM_CAP_MIN_MID=100", "HAKMEM_CAP_MAX_MID=50"});
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
  EXPECT_EQ(c.cap_min_mid, d.cap_min_mid);
  EXPECT_EQ(c.cap_max_mid, d.cap_max_mid);
}

}  // namespace
}  // namespace hakmem
