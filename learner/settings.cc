#include "learner/settings.h"

namespace hakmem::learner {

static_assert(kMaxRatioList == kMaxArms - 1, "every HAKMEM_WMAX_CANDIDATES_MID value is an arm");

namespace {

uint32_t WindowsFor(uint32_t seconds, uint32_t window_ms, uint32_t at_least) {
  const uint64_t ms = uint64_t{seconds} * 1000;
  const uint64_t n = (ms + window_ms - 1) / window_ms;
  return n < at_least ? at_least : static_cast<uint32_t>(n);
}

}  // namespace

LearnerSettings SettingsFromConfig(const Config& c) {
  LearnerSettings s;
  s.window_ms = c.learn_window_ms > 0 ? c.learn_window_ms : 1000;
  s.cap.target_bp = c.target_hit_mid;
  s.cap.band_bp = kHitBandBp;
  s.cap.step = c.cap_step_mid;
  s.cap.dwell_windows = WindowsFor(c.cap_dwell_sec_mid, s.window_ms, 1);
  s.cap.cap_min = c.cap_min_mid;
  s.cap.cap_max = c.cap_max_mid;
  s.cap.min_samples = c.learn_min_samples;
  s.wmax_learn = c.wmax_learn != 0;
  s.wmax.num_candidates = c.wmax_candidates_mid.count;
  for (uint32_t i = 0; i < c.wmax_candidates_mid.count && i < kMaxArms - 1; ++i) {
    s.wmax.candidates[i] = c.wmax_candidates_mid.x100[i];
  }
  s.wmax.canary = c.wmax_canary != 0;
  s.wmax.trial_windows = WindowsFor(c.wmax_trial_sec, s.window_ms, 2);
  s.wmax.adopt_bp = c.wmax_adopt;
  s.wmax.min_samples = c.learn_min_samples;
  s.log_path = c.learn_log;
  return s;
}

}  // namespace hakmem::learner
