// The CAP controller on synthetic stat streams: a model class whose live set
// cycles through D spans per window. With CAP c, a regrowth finds min(c, D)
// idle spans (CAP hits) and maps the rest (misses); the shrink before it
// filled the idle stack up to min(c, D). So h = min(1, c / D) and the band
// [0.62, 0.68] x D is the target region of CAP.
#include "learner/cap_controller.h"

#include <cstdint>
#include <vector>

#include "gtest/gtest.h"

namespace hakmem::learner {
namespace {

CapSettings Defaults() {
  CapSettings s;  // target 0.65 +- 0.03, step 4, dwell 3, CAP 8..2048, 256 samples
  return s;
}

// One window of the model class for CAP `cap`; `noise_bp` shifts the hit rate.
CapWindow ModelWindow(uint32_t cap, uint64_t spans, int32_t noise_bp = 0) {
  uint64_t reused = cap < spans ? cap : spans;
  int64_t adj = static_cast<int64_t>(reused) + static_cast<int64_t>(spans) * noise_bp / 10000;
  if (adj < 0) adj = 0;
  if (adj > static_cast<int64_t>(spans)) adj = static_cast<int64_t>(spans);
  reused = static_cast<uint64_t>(adj);
  const uint64_t idle = cap < spans ? cap : spans;
  return CapWindow{100000, reused, spans - reused, idle, 0};
}

bool InBand(const CapSettings& s, uint32_t cap, uint64_t spans) {
  const uint64_t reused = cap < spans ? cap : spans;
  const int64_t h = static_cast<int64_t>(reused * 10000 / spans);
  return h >= static_cast<int64_t>(s.target_bp - s.band_bp) &&
         h <= static_cast<int64_t>(s.target_bp + s.band_bp);
}

struct Trace {
  std::vector<uint32_t> caps;           // CAP after each window
  std::vector<CapDecision> decisions;
};

Trace Feed(const CapSettings& s, CapState* st, uint64_t spans, int windows,
          int32_t (*noise)(int) = nullptr) {
  Trace t;
  for (int i = 0; i < windows; ++i) {
    const CapStep step = StepCap(s, *st, ModelWindow(st->cap, spans, noise ? noise(i) : 0));
    *st = step.state;
    t.caps.push_back(st->cap);
    t.decisions.push_back(step.decision);
  }
  return t;
}

// Stated bound: from anywhere in 8..2048 into the band within 60 windows
// (dwell 3: at most 20 judgements), for every model whose band is at least
// one step wide (D >= 67) and reachable below the maximum (0.62 D <= 2048).
// The worst case is a blind descent from 2048 to D ~ 80 (59 windows).
constexpr int kConvergeWindows = 60;

TEST(CapController, ConvergesIntoTheBandFromBelowAndAbove) {
  const CapSettings s = Defaults();
  for (uint64_t spans = 67; spans <= 3300; spans += 7) {
    for (uint32_t start : {8u, 64u, 512u, 2048u}) {
      CapState st = InitialCapState(start);
      const Trace t = Feed(s, &st, spans, 200);
      int entered = -1;
      for (int i = 0; i < 200; ++i) {
        if (InBand(s, t.caps[i], spans)) {
          entered = i;
          break;
        }
      }
      ASSERT_GE(entered, 0) << "D=" << spans << " start=" << start;
      EXPECT_LE(entered, kConvergeWindows) << "D=" << spans << " start=" << start;
      // Once in the band it stays put: no oscillation on a steady stream.
      for (int i = entered; i < 200; ++i) {
        EXPECT_EQ(t.caps[i], t.caps[entered]) << "D=" << spans << " start=" << start << " i=" << i;
      }
    }
  }
}

TEST(CapController, ReachesTheBandInLogarithmicallyManyMoves) {
  const CapSettings s = Defaults();
  CapState st = InitialCapState(8);
  const Trace t = Feed(s, &st, 1000, 100);
  int moves = 0;
  for (const CapDecision& d : t.decisions) {
    if (d.changed()) ++moves;
  }
  EXPECT_TRUE(InBand(s, st.cap, 1000)) << st.cap;
  EXPECT_LE(moves, 12);  // 8 -> ~650 with +4 steps would take 160
}

int32_t Noise(int i) { return (i * 7919 % 401) - 200; }  // deterministic, +-0.02

TEST(CapController, NoiseInsideTheBandCausesNoChange) {
  const CapSettings s = Defaults();
  CapState st = InitialCapState(8);
  Feed(s, &st, 400, 100);
  ASSERT_TRUE(InBand(s, st.cap, 400));
  const uint32_t settled = st.cap;
  const Trace t = Feed(s, &st, 400, 300, Noise);
  for (uint32_t cap : t.caps) EXPECT_EQ(cap, settled);
}

TEST(CapController, ChangesAClassAtMostOncePerDwell) {
  for (uint32_t dwell : {1u, 3u, 5u}) {
    CapSettings s = Defaults();
    s.dwell_windows = dwell;
    CapState st = InitialCapState(2048);
    const Trace t = Feed(s, &st, 120, 300, Noise);
    int last = -1000;
    for (int i = 0; i < 300; ++i) {
      if (!t.decisions[i].changed()) continue;
      EXPECT_GE(i - last, static_cast<int>(dwell)) << "dwell " << dwell << " window " << i;
      last = i;
    }
    // Nothing is judged before a dwell period has passed.
    for (uint32_t i = 0; i + 1 < dwell; ++i) EXPECT_EQ(t.decisions[i].reason, CapReason::kDwell);
  }
}

TEST(CapController, ANarrowBandDoesNotMakeCapBounce) {
  // D = 27: the band [16.7, 18.4] holds no CAP reachable in steps of 4.
  const CapSettings s = Defaults();
  CapState st = InitialCapState(8);
  const Trace t = Feed(s, &st, 27, 300);
  int changes_late = 0;
  for (int i = 100; i < 300; ++i) changes_late += t.decisions[i].changed();
  EXPECT_EQ(changes_late, 0) << "settled at " << st.cap;
}

TEST(CapController, StaysWithinBounds) {
  CapSettings s = Defaults();
  s.cap_min = 16;
  s.cap_max = 300;
  CapState st = InitialCapState(64);
  Trace t = Feed(s, &st, 100000, 200);  // h ~ 0: wants more than the maximum
  for (uint32_t cap : t.caps) EXPECT_LE(cap, 300u);
  EXPECT_EQ(st.cap, 300u);
  CapReason last = CapReason::kDwell;
  for (const CapDecision& d : t.decisions) {
    if (d.reason != CapReason::kDwell) last = d.reason;
  }
  EXPECT_EQ(last, CapReason::kAtBound);
  t = Feed(s, &st, 2, 200);  // h = 1: wants less than the minimum
  for (uint32_t cap : t.caps) EXPECT_GE(cap, 16u);
  EXPECT_EQ(st.cap, 16u);
}

TEST(CapController, WindowsBelowMinSamplesAreNotEvidence) {
  const CapSettings s = Defaults();
  CapState st = InitialCapState(64);
  for (int i = 0; i < 50; ++i) {
    CapWindow w = ModelWindow(st.cap, 1000);  // h = 0.064: far below target
    w.requests = s.min_samples - 1;
    w.idle_end = 0;  // nothing to release either
    const CapStep step = StepCap(s, st, w);
    st = step.state;
    EXPECT_FALSE(step.decision.changed());
    EXPECT_EQ(st.ev_windows, 0u);
  }
  // Interleaved with counted windows, only those count: two counted windows
  // with 8 span events each reach kMinSpanEvents only together.
  st = InitialCapState(64);
  CapWindow counted{100000, 0, 8, 64, 0};
  CapWindow uncounted{10, 0, 500, 64, 0};
  st = StepCap(s, st, counted).state;
  st = StepCap(s, st, uncounted).state;
  CapStep step = StepCap(s, st, counted);  // third window: dwell reached
  EXPECT_EQ(step.decision.reason, CapReason::kRaise);
  EXPECT_EQ(step.decision.hit_bp, 0);
  EXPECT_EQ(step.decision.new_cap, 68u);
}

TEST(CapController, FewSpanAcquisitionsMeanCapDidNotMatter) {
  const CapSettings s = Defaults();
  CapState st = InitialCapState(64);
  for (int i = 0; i < 9; ++i) {
    const CapStep step = StepCap(s, st, CapWindow{100000, 0, 1, 64, 0});
    st = step.state;
    EXPECT_FALSE(step.decision.changed());
    if (i >= 2 && i < 9) EXPECT_EQ(step.decision.reason, CapReason::kNoSpanTraffic);
  }
}

TEST(CapController, MissesFromAGrowingLiveSetDoNotRaiseCap) {
  const CapSettings s = Defaults();
  CapState st = InitialCapState(64);
  for (int i = 0; i < 30; ++i) {
    // Every span is new and the idle stack stays empty: growth, not CAP.
    const CapStep step = StepCap(s, st, CapWindow{100000, 0, 200, 0, 0});
    st = step.state;
    EXPECT_EQ(st.cap, 64u);
    if (i % 3 == 2) EXPECT_EQ(step.decision.reason, CapReason::kNotBinding);
  }
}

TEST(CapController, IdleSpansOfAQuietClassAreReleased) {
  const CapSettings s = Defaults();
  CapState st = InitialCapState(200);
  // A phase ends: the class gets no requests but holds 150 idle spans.
  CapStep step{};
  for (int i = 0; i < 3; ++i) {
    step = StepCap(s, st, CapWindow{3, 0, 0, 150, 150});
    st = step.state;
  }
  EXPECT_EQ(step.decision.reason, CapReason::kRelease);
  EXPECT_EQ(st.cap, s.cap_min);
  // A quiet class without idle spans is left alone.
  st = InitialCapState(200);
  for (int i = 0; i < 10; ++i) {
    step = StepCap(s, st, CapWindow{0, 0, 0, 0, 0});
    st = step.state;
    EXPECT_EQ(st.cap, 200u);
  }
}

TEST(CapController, ATargetThatMovesIsFollowed) {
  const CapSettings s = Defaults();
  CapState st = InitialCapState(8);
  Feed(s, &st, 200, 120);
  ASSERT_TRUE(InBand(s, st.cap, 200));
  Feed(s, &st, 1500, 120);  // the program's cycles got bigger
  EXPECT_TRUE(InBand(s, st.cap, 1500)) << st.cap;
  Feed(s, &st, 300, 120);  // and smaller again
  EXPECT_TRUE(InBand(s, st.cap, 300)) << st.cap;
}

}  // namespace
}  // namespace hakmem::learner
