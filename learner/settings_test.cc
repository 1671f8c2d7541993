// Settings in seconds become windows; everything else passes through.
#include "learner/settings.h"

#include "gtest/gtest.h"

namespace hakmem::learner {
namespace {

TEST(Settings, DefaultsBecomeWindows) {
  const Config c;
  const LearnerSettings s = SettingsFromConfig(c);
  EXPECT_EQ(s.window_ms, 1000u);
  EXPECT_EQ(s.cap.target_bp, 6500u);
  EXPECT_EQ(s.cap.band_bp, 300u);
  EXPECT_EQ(s.cap.step, 4u);
  EXPECT_EQ(s.cap.dwell_windows, 3u);
  EXPECT_EQ(s.cap.cap_min, c.cap_min_mid);
  EXPECT_EQ(s.cap.cap_max, c.cap_max_mid);
  EXPECT_EQ(s.cap.min_samples, 256u);
  EXPECT_FALSE(s.wmax_learn);
  EXPECT_TRUE(s.wmax.canary);
  EXPECT_EQ(s.wmax.trial_windows, 5u);
  EXPECT_EQ(s.wmax.adopt_bp, 100u);
  ASSERT_EQ(s.wmax.num_candidates, 3u);
  EXPECT_EQ(s.wmax.candidates[1], 160u);
  EXPECT_STREQ(s.log_path.text, "");
}

TEST(Settings, SecondsRoundUpToWholeWindows) {
  Config c;
  c.learn_window_ms = 700;
  c.cap_dwell_sec_mid = 3;  // 3000 / 700 = 4.3 -> 5
  c.wmax_trial_sec = 5;     // 5000 / 700 = 7.1 -> 8
  LearnerSettings s = SettingsFromConfig(c);
  EXPECT_EQ(s.cap.dwell_windows, 5u);
  EXPECT_EQ(s.wmax.trial_windows, 8u);
  c.learn_window_ms = 5000;
  c.cap_dwell_sec_mid = 1;  // less than a window: one window
  c.wmax_trial_sec = 3;     // a trial needs two windows at least
  s = SettingsFromConfig(c);
  EXPECT_EQ(s.cap.dwell_windows, 1u);
  EXPECT_EQ(s.wmax.trial_windows, 2u);
}

}  // namespace
}  // namespace hakmem::learner
