#include "learner/wmax_bandit.h"

#include "learner/plain_math.h"

namespace hakmem::learner {
namespace {

int64_t Mean(int64_t sum, uint32_t n) { return n > 0 ? sum / static_cast<int64_t>(n) : 0; }

int64_t Abs(int64_t v) { return v < 0 ? -v : v; }

// The adoption margin in score units: adopt_bp relative to the reference.
int64_t Margin(const WmaxSettings& s, int64_t ref) {
  int64_t m = Abs(ref) * static_cast<int64_t>(s.adopt_bp) / 10000;
  return m > 0 ? m : 1;
}

// UCB1 over the arms other than the incumbent: untried arms first (list
// order), then the best mean advantage plus an exploration bonus that shrinks
// as an arm is tried more. The bonus is scaled to twice the adoption margin:
// advantages are a few percent at most, so the classic [0,1] scale would
// make the choice pure exploration.
uint32_t ChooseArm(const WmaxSettings& s, const WmaxState& st) {
  for (uint32_t i = 0; i < st.num_arms; ++i) {
    if (i != st.incumbent && st.arms[i].trials == 0) return i;
  }
  const double scale = 2.0 * s.adopt_bp * 100.0;  // ppm
  const double log_n = NaturalLog(static_cast<double>(st.total_trials > 1 ? st.total_trials : 2));
  uint32_t best = st.incumbent == 0 ? 1 : 0;
  double best_value = -1e300;
  for (uint32_t i = 0; i < st.num_arms; ++i) {
    if (i == st.incumbent) continue;
    const WmaxArm& a = st.arms[i];
    const double mean = static_cast<double>(a.adv_sum_ppm) / a.trials;
    const double value = mean + scale * SquareRoot(2.0 * log_n / a.trials);
    if (value > best_value) {
      best_value = value;
      best = i;
    }
  }
  return best;
}

void StartBaseline(const WmaxSettings& s, WmaxState* st) {
  st->phase = WmaxPhase::kBaseline;
  st->candidate_on = false;
  st->counted = 0;
  st->inc_sum = 0;
  st->inc_n = 0;
  const uint32_t len = s.trial_windows > 2 ? s.trial_windows : 2;
  st->baseline_len = len * st->backoff;
}

// Ends the trial; `adopted` makes the candidate the incumbent.
void EndTrial(const WmaxSettings& s, WmaxState* st, bool adopted, int64_t adv_ppm) {
  WmaxArm& arm = st->arms[st->trial_arm];
  ++arm.trials;
  arm.adv_sum_ppm += adv_ppm;
  ++st->total_trials;
  if (adopted) {
    st->incumbent = st->trial_arm;
    st->backoff = 1;
    st->round_left = st->num_arms - 1;
  } else if (--st->round_left == 0) {
    // A whole round of arms and nothing better: explore half as often.
    st->backoff = st->backoff * 2 < kMaxBackoff ? st->backoff * 2 : kMaxBackoff;
    st->round_left = st->num_arms - 1;
  }
  StartBaseline(s, st);
}

}  // namespace

int64_t WmaxScorePpm(const WmaxWindow& w) {
  if (w.requests == 0) return 0;
  const double miss = static_cast<double>(w.refills + 2 * w.spans_new) / w.requests;
  const double waste = w.bytes_out > 0 ? static_cast<double>(w.borrowed_waste) / w.bytes_out : 0;
  return static_cast<int64_t>(RoundToInt64((1.0 - miss - waste) * 1e6));
}

const char* WmaxEventName(WmaxEvent e) {
  switch (e) {
    case WmaxEvent::kNone: return "none";
    case WmaxEvent::kSkip: return "few-samples";
    case WmaxEvent::kStartTrial: return "trial";
    case WmaxEvent::kAdopt: return "adopt";
    case WmaxEvent::kReject: return "reject";
    case WmaxEvent::kRevert: return "revert";
  }
  return "?";
}

WmaxState InitialWmaxState(const WmaxSettings& s, uint32_t start_wmax) {
  WmaxState st = {};
  st.arms[0].wmax = start_wmax;
  st.num_arms = 1;
  for (uint32_t i = 0; i < s.num_candidates && st.num_arms < kMaxArms; ++i) {
    bool seen = false;
    for (uint32_t j = 0; j < st.num_arms; ++j) seen |= st.arms[j].wmax == s.candidates[i];
    if (!seen) st.arms[st.num_arms++].wmax = s.candidates[i];
  }
  st.incumbent = 0;
  st.backoff = 1;
  st.round_left = st.num_arms > 1 ? st.num_arms - 1 : 1;
  StartBaseline(s, &st);
  return st;
}

uint32_t WmaxInForce(const WmaxState& st) {
  const bool candidate = st.phase == WmaxPhase::kTrial && st.candidate_on;
  return st.arms[candidate ? st.trial_arm : st.incumbent].wmax;
}

WmaxStep StepWmax(const WmaxSettings& s, const WmaxState& in, const WmaxWindow& w) {
  WmaxState st = in;
  WmaxDecision d = {};
  d.wmax_now = WmaxInForce(st);
  d.score_ppm = WmaxScorePpm(w);
  d.event = WmaxEvent::kNone;
  if (w.requests < s.min_samples) {
    d.event = WmaxEvent::kSkip;  // and the same arm serves the next window
  } else if (st.phase == WmaxPhase::kBaseline) {
    st.inc_sum += d.score_ppm;
    ++st.inc_n;
    if (++st.counted >= st.baseline_len && st.num_arms > 1) {
      st.base_mean = Mean(st.inc_sum, st.inc_n);
      st.have_base = true;
      st.phase = WmaxPhase::kTrial;
      st.trial_arm = ChooseArm(s, st);
      st.candidate_on = true;
      st.counted = 0;
      st.inc_sum = 0;
      st.inc_n = 0;
      st.cand_sum = 0;
      st.cand_n = 0;
      d.event = WmaxEvent::kStartTrial;
      d.arm_wmax = st.arms[st.trial_arm].wmax;
    }
  } else {
    d.arm_wmax = st.arms[st.trial_arm].wmax;
    if (st.candidate_on) {
      st.cand_sum += d.score_ppm;
      ++st.cand_n;
    } else {
      st.inc_sum += d.score_ppm;
      ++st.inc_n;
    }
    ++st.counted;
    const int64_t ref = s.canary && st.inc_n > 0 ? Mean(st.inc_sum, st.inc_n) : st.base_mean;
    const int64_t cand = Mean(st.cand_sum, st.cand_n);
    d.cand_ppm = cand;
    d.ref_ppm = ref;
    const int64_t margin = Margin(s, ref);
    const int64_t adv_ppm = (cand - ref) * 1000000 / (Abs(ref) > 0 ? Abs(ref) : 1);
    const uint32_t len = s.trial_windows > 2 ? s.trial_windows : 2;
    if (st.cand_n > 0 && ref - cand > kRevertFactor * margin) {
      d.event = WmaxEvent::kRevert;
      EndTrial(s, &st, false, adv_ppm);
    } else if (st.counted >= len && st.cand_n > 0 && (!s.canary || st.inc_n > 0)) {
      const bool adopt = cand - ref > margin;
      d.event = adopt ? WmaxEvent::kAdopt : WmaxEvent::kReject;
      EndTrial(s, &st, adopt, adv_ppm);
    } else {
      st.candidate_on = s.canary ? !st.candidate_on : true;
    }
  }
  d.wmax_next = WmaxInForce(st);
  return {st, d};
}

}  // namespace hakmem::learner
