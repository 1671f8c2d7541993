// The W_MAX bandit on synthetic streams: each W_MAX value has a true score,
// and a window served by it reports exactly that score (optionally with a
// deterministic wobble). The test plays the learner thread: it feeds the
// window served by the W_MAX in force and applies the answer.
#include "learner/wmax_bandit.h"

#include <cstdint>
#include <map>
#include <vector>

#include "gtest/gtest.h"

namespace hakmem::learner {
namespace {

// A window whose score is `score_ppm` (misses only, no waste).
WmaxWindow WindowWithScore(int64_t score_ppm, uint64_t requests = 1000000) {
  const uint64_t misses = static_cast<uint64_t>((1000000 - score_ppm) * (requests / 1000000));
  return WmaxWindow{requests, misses, 0, 0, requests * 4096};
}

struct Sim {
  WmaxSettings s;
  WmaxState st;
  std::map<uint32_t, int64_t> truth;  // W_MAX x100 -> score (ppm)
  std::vector<WmaxDecision> log;

  Sim(const WmaxSettings& settings, uint32_t start) : s(settings), st(InitialWmaxState(s, start)) {}

  void Run(int windows, int64_t wobble_ppm = 0) {
    for (int i = 0; i < windows; ++i) {
      const uint32_t w = WmaxInForce(st);
      const int64_t noise = wobble_ppm == 0 ? 0 : (i % 3 - 1) * wobble_ppm;
      const WmaxStep step = StepWmax(s, st, WindowWithScore(truth.at(w) + noise));
      EXPECT_EQ(step.decision.wmax_now, w);
      EXPECT_EQ(step.decision.wmax_next, WmaxInForce(step.state));
      st = step.state;
      log.push_back(step.decision);
    }
  }
  uint32_t incumbent() const { return st.arms[st.incumbent].wmax; }
  int Count(WmaxEvent e) const {
    int n = 0;
    for (const auto& d : log) n += d.event == e;
    return n;
  }
};

WmaxSettings Canary() {
  WmaxSettings s;  // candidates 1.40, 1.60, 1.70; trials of 5 windows; 1%
  return s;
}

TEST(WmaxBandit, ScoreWeighsMissesAndWaste) {
  EXPECT_EQ(WmaxScorePpm(WmaxWindow{1000, 0, 0, 0, 1000}), 1000000);
  EXPECT_EQ(WmaxScorePpm(WmaxWindow{1000, 100, 0, 0, 1000}), 900000);
  EXPECT_EQ(WmaxScorePpm(WmaxWindow{1000, 100, 50, 0, 1000}), 800000);  // a CAP miss counts twice
  EXPECT_EQ(WmaxScorePpm(WmaxWindow{1000, 0, 0, 50, 1000}), 950000);    // 5% borrowed waste
}

TEST(WmaxBandit, CanaryAdoptsAClearlyBetterCandidate) {
  WmaxSettings s = Canary();
  s.candidates[0] = 160;
  s.num_candidates = 1;
  Sim sim(s, 140);
  sim.truth = {{140, 900000}, {160, 950000}};
  sim.Run(40);
  EXPECT_EQ(sim.incumbent(), 160u);
  EXPECT_EQ(sim.Count(WmaxEvent::kAdopt), 1);
  // The first trial adopts; later trials of the old value (now 5% worse)
  // are reverted.
  for (const auto& d : sim.log) {
    if (d.event == WmaxEvent::kAdopt) break;
    EXPECT_NE(d.event, WmaxEvent::kRevert);
  }
  for (const auto& d : sim.log) {
    if (d.event == WmaxEvent::kRevert) EXPECT_EQ(d.arm_wmax, 140u);
  }
}

TEST(WmaxBandit, CanaryRunsTheCandidateOnEveryOtherWindowOnly) {
  WmaxSettings s = Canary();
  s.candidates[0] = 160;
  s.num_candidates = 1;
  s.trial_windows = 6;
  Sim sim(s, 140);
  sim.truth = {{140, 900000}, {160, 905000}};  // +0.55%: not enough to adopt
  sim.Run(60);
  // Within each trial the served W_MAX alternates 1.60, 1.40, 1.60, ...
  bool in_trial = false;
  uint32_t expect = 0;
  int trials = 0;
  for (const auto& d : sim.log) {
    if (d.event == WmaxEvent::kStartTrial) {
      in_trial = true;
      expect = 160;
      ++trials;
      continue;
    }
    if (!in_trial) continue;
    EXPECT_EQ(d.wmax_now, expect);
    expect = expect == 160 ? 140 : 160;
    if (d.event == WmaxEvent::kReject || d.event == WmaxEvent::kAdopt) in_trial = false;
  }
  EXPECT_GE(trials, 2);
  EXPECT_EQ(sim.incumbent(), 140u);  // marginal: rejected
  EXPECT_EQ(sim.Count(WmaxEvent::kAdopt), 0);
  EXPECT_GE(sim.Count(WmaxEvent::kReject), 2);
}

TEST(WmaxBandit, RejectsAWorseCandidate) {
  WmaxSettings s = Canary();
  s.candidates[0] = 170;
  s.num_candidates = 1;
  Sim sim(s, 140);
  sim.truth = {{140, 900000}, {170, 880000}};  // -2.2%: worse, not bad enough to revert
  sim.Run(60);
  EXPECT_EQ(sim.incumbent(), 140u);
  EXPECT_GE(sim.Count(WmaxEvent::kReject), 1);
  EXPECT_EQ(sim.Count(WmaxEvent::kAdopt), 0);
}

TEST(WmaxBandit, RevertsATrialThatHurtsAfterOneWindow) {
  WmaxSettings s = Canary();
  s.candidates[0] = 170;
  s.num_candidates = 1;
  Sim sim(s, 140);
  sim.truth = {{140, 900000}, {170, 700000}};  // -22%
  sim.Run(30);
  EXPECT_EQ(sim.incumbent(), 140u);
  ASSERT_GE(sim.Count(WmaxEvent::kRevert), 1);
  // The window right after a trial starts is the candidate's; its report is
  // the revert, and the next window is the incumbent's again.
  for (size_t i = 0; i + 1 < sim.log.size(); ++i) {
    if (sim.log[i].event != WmaxEvent::kStartTrial) continue;
    EXPECT_EQ(sim.log[i + 1].wmax_now, 170u);
    EXPECT_EQ(sim.log[i + 1].event, WmaxEvent::kRevert);
    EXPECT_EQ(sim.log[i + 1].wmax_next, 140u);
  }
}

TEST(WmaxBandit, WithoutCanaryTheTrialRunsWholeAndComparesWithTheBaseline) {
  WmaxSettings s = Canary();
  s.canary = false;
  s.candidates[0] = 160;
  s.num_candidates = 1;
  Sim sim(s, 140);
  sim.truth = {{140, 900000}, {160, 950000}};
  sim.Run(12);
  // 5 baseline windows, then 5 candidate windows in a row, then adoption.
  for (int i = 5; i < 10; ++i) EXPECT_EQ(sim.log[i].wmax_now, 160u) << i;
  EXPECT_EQ(sim.log[9].event, WmaxEvent::kAdopt);
  EXPECT_EQ(sim.incumbent(), 160u);
}

TEST(WmaxBandit, FindsTheBestOfSeveralArms) {
  Sim sim(Canary(), 140);  // arms 1.40 (start), 1.60, 1.70
  sim.truth = {{140, 900000}, {160, 930000}, {170, 960000}};
  sim.Run(200, 2000);  // +-0.2% wobble
  EXPECT_EQ(sim.incumbent(), 170u);
}

TEST(WmaxBandit, WindowsWithFewSamplesAreSkippedAndKeepTheArm) {
  WmaxSettings s = Canary();
  WmaxState st = InitialWmaxState(s, 140);
  for (int i = 0; i < 50; ++i) {
    const WmaxStep step = StepWmax(s, st, WindowWithScore(100000, 100));  // 100 < 256
    EXPECT_EQ(step.decision.event, WmaxEvent::kSkip);
    EXPECT_EQ(step.decision.wmax_next, 140u);
    st = step.state;
  }
  EXPECT_EQ(st.counted, 0u);
  EXPECT_EQ(st.phase, WmaxPhase::kBaseline);
}

TEST(WmaxBandit, ExploresLessOnceNothingBetterExists) {
  Sim sim(Canary(), 140);
  sim.truth = {{140, 900000}, {160, 880000}, {170, 885000}};
  sim.Run(1000);
  EXPECT_EQ(sim.incumbent(), 140u);
  int candidate_windows_early = 0;
  int candidate_windows_late = 0;
  for (size_t i = 0; i < sim.log.size(); ++i) {
    if (sim.log[i].wmax_now == 140) continue;
    (i < 200 ? candidate_windows_early : candidate_windows_late) += 1;
  }
  // Back-off: the last 800 windows see far less exploration per window.
  EXPECT_LT(candidate_windows_late * 200, candidate_windows_early * 800 / 2)
      << candidate_windows_early << " " << candidate_windows_late;
  EXPECT_EQ(sim.st.backoff, kMaxBackoff);
}

TEST(WmaxBandit, ASingleArmNeverTrials) {
  WmaxSettings s = Canary();
  s.candidates[0] = 140;
  s.num_candidates = 1;
  Sim sim(s, 140);
  sim.truth = {{140, 900000}};
  sim.Run(50);
  EXPECT_EQ(sim.Count(WmaxEvent::kStartTrial), 0);
}

}  // namespace
}  // namespace hakmem::learner
