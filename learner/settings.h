// The learner's settings in the units its pure functions use (windows rather
// than seconds, fractions x10000), derived from hakmem's configuration
// (HAKMEM_LEARN_*, HAKMEM_CAP_*_MID, HAKMEM_WMAX_*; docs/ENV_VARS.md). Tests
// build one directly to run the learner with short windows.
#ifndef HAKMEM_LEARNER_SETTINGS_H_
#define HAKMEM_LEARNER_SETTINGS_H_

#include <cstdint>

#include "core/base/config.h"
#include "learner/cap_controller.h"
#include "learner/wmax_bandit.h"

namespace hakmem::learner {

struct LearnerSettings {
  uint32_t window_ms = 1000;
  // Idle-span gauges are sampled this many times per window (CapWindow::idle_max).
  uint32_t idle_samples = 8;
  CapSettings cap;
  bool wmax_learn = false;
  WmaxSettings wmax;
  PathText log_path = {};  // CSV of every decision; "" for none
};

// Seconds become windows, rounded up, at least one (dwell) or two (trial).
LearnerSettings SettingsFromConfig(const Config& c);

}  // namespace hakmem::learner

#endif  // HAKMEM_LEARNER_SETTINGS_H_
