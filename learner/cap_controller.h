// CAP control for one Mid class: a pure function from (the class's window of
// ACE counters, the controller's state, the settings) to the next state and a
// decision record. No clock, no thread, no global: the learner thread calls it
// once per window and applies the result; tests feed it synthetic windows.
//
// The rule (HAKMEM_TARGET_HIT_MID, HAKMEM_CAP_STEP_MID, HAKMEM_CAP_DWELL_SEC_MID):
//   CAP hit rate h = spans_reused / (spans_reused + spans_new), measured over
//   the windows since the class's CAP last changed, counting only windows with
//   at least HAKMEM_LEARN_MIN_SAMPLES requests, and only once those windows saw
//   kMinSpanEvents span acquisitions (with fewer, CAP did not matter).
//   - Dwell: a class is judged at most once per dwell period (so its CAP
//     changes at most that often), each time on the evidence gathered since
//     the previous judgement, i.e. under the CAP now in force.
//   - h < target - band, and the idle stack filled up to CAP since the last
//     change ("binding"): CAP goes up. If idle spans never came near CAP the
//     misses come from a growing live set, which no CAP can serve: hold.
//   - h > target + band: CAP goes down (the class keeps more idle memory than
//     the target asks for). The learner releases the idle spans above it.
//   - Inside the band: hold. The band (+-0.03, as in the C version) keeps the
//     controller from chasing noise.
//   - No demand (fewer than min samples in every window of a dwell period)
//     while holding idle spans: CAP drops to HAKMEM_CAP_MIN_MID and the idle
//     spans above it go back to the SuperSlab manager, where any class can
//     reuse their units. Without this, spans of a class a program stopped
//     using stay stranded: the hit-rate rule never sees a sample there.
//   Step size: HAKMEM_CAP_STEP_MID first, doubled on each further move in the
//   same direction (up to kMaxStepMult times the step) so a far target is
//   reached in a logarithmic number of moves; halved on a reversal, after
//   which it stops doubling (a bisection) until three moves in a row go the
//   same way (the target has moved). One move at most halves or doubles CAP
//   (a blind descent from a high CAP, where h stays 1, must not crash to the
//   floor). Always within HAKMEM_CAP_MIN_MID..HAKMEM_CAP_MAX_MID.
//   If the band is narrower than one step (0.06 x the spans a class cycles <
//   HAKMEM_CAP_STEP_MID), no CAP lands in it and CAP would bounce between two
//   values a step apart; a reversal at the smallest step therefore doubles
//   the band for that class until the target moves (three moves the same way).
#ifndef HAKMEM_LEARNER_CAP_CONTROLLER_H_
#define HAKMEM_LEARNER_CAP_CONTROLLER_H_

#include <cstdint>

namespace hakmem::learner {

inline constexpr uint32_t kHitBandBp = 300;       // +-0.03 around the target (x10000)
inline constexpr uint64_t kMinSpanEvents = 16;    // span acquisitions for a meaningful h
inline constexpr uint32_t kMaxStepMult = 64;      // largest step: 64 x HAKMEM_CAP_STEP_MID
inline constexpr uint32_t kStaleEvidenceDwells = 4;  // evidence without a decision expires

struct CapSettings {
  uint32_t target_bp = 6500;    // hit-rate target x10000
  uint32_t band_bp = kHitBandBp;
  uint32_t step = 4;
  uint32_t dwell_windows = 3;   // >= 1
  uint32_t cap_min = 8;
  uint32_t cap_max = 2048;
  uint64_t min_samples = 256;   // requests in a window for it to count
};

// One class's window as the controller sees it (ACE deltas and gauges).
struct CapWindow {
  uint64_t requests;      // allocations of the class during the window
  uint64_t spans_reused;  // CAP hits
  uint64_t spans_new;     // CAP misses
  uint64_t idle_max;      // most idle spans seen during the window
  uint64_t idle_end;      // idle spans at its end
};

// What the controller carries from one window to the next for one class.
struct CapState {
  uint32_t cap;
  uint32_t since_decision;  // windows since the last decision taken on evidence
  uint32_t quiet;         // consecutive windows below min samples
  uint32_t step_now;      // size of the last move (0: none yet)
  int32_t last_dir;       // -1, 0, +1: direction of the last move
  uint32_t same_dir_run;  // moves in a row in last_dir
  bool refine;            // after a reversal: no doubling
  bool wide;              // bounced at the smallest step: the band is doubled
  // Evidence since the last change (windows with enough requests only).
  uint64_t ev_reused;
  uint64_t ev_new;
  uint32_t ev_windows;
  uint64_t idle_max;      // over every window since the last change
};

CapState InitialCapState(uint32_t cap);

enum class CapReason : uint8_t {
  kDwell,          // judged less than a dwell period ago
  kFewSamples,     // no window with enough requests since the last change
  kNoSpanTraffic,  // fewer than kMinSpanEvents span acquisitions: CAP did not matter
  kInBand,         // hit rate within target +- band
  kNotBinding,     // below the band, but idle spans never reached CAP
  kAtBound,        // the move would leave HAKMEM_CAP_MIN_MID..MAX_MID
  kRaise,
  kLower,
  kRelease,        // no demand for a dwell period: CAP to the minimum
};
const char* CapReasonName(CapReason r);

struct CapDecision {
  uint32_t old_cap;
  uint32_t new_cap;
  int32_t hit_bp;  // the hit rate the decision used (x10000), -1 if none
  CapReason reason;
  bool changed() const { return new_cap != old_cap; }
};

struct CapStep {
  CapState state;
  CapDecision decision;
};

CapStep StepCap(const CapSettings& s, const CapState& state, const CapWindow& w);

}  // namespace hakmem::learner

#endif  // HAKMEM_LEARNER_CAP_CONTROLLER_H_
