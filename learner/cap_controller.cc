#include "learner/cap_controller.h"

namespace hakmem::learner {
namespace {

void ResetEvidence(CapState* st) {
  st->ev_reused = 0;
  st->ev_new = 0;
  st->ev_windows = 0;
  st->idle_max = 0;
}

// Idle spans reached CAP at some point since the last change, so spans were
// (very likely) handed back to the SuperSlab manager for lack of room. The
// sampled maximum can miss the true peak by a little: allow a quarter of CAP.
bool CapWasBinding(const CapState& st) {
  const uint64_t slack = st.cap / 4 > 2 ? st.cap / 4 : 2;
  return st.idle_max + slack >= st.cap;
}

void ForgetDirection(CapState* st) {
  st->last_dir = 0;
  st->step_now = 0;
  st->same_dir_run = 0;
  st->refine = false;
}

// The size of the next move in direction `dir` (+1 or -1), before the
// halve/double limit; updates the direction bookkeeping.
uint64_t NextStep(const CapSettings& s, CapState* st, int32_t dir) {
  const uint64_t base = s.step > 0 ? s.step : 1;
  const uint64_t largest = base * kMaxStepMult;
  uint64_t step;
  if (st->last_dir == dir) {
    ++st->same_dir_run;
    if (st->same_dir_run >= 3) {  // the target moved: search again
      st->refine = false;
      st->wide = false;
    }
    step = st->refine ? st->step_now : 2 * uint64_t{st->step_now};
  } else if (st->last_dir == -dir) {
    if (st->step_now <= base) st->wide = true;  // the band lies between two adjacent steps
    step = st->step_now / 2;
    st->refine = true;
    st->same_dir_run = 1;
  } else {
    step = base;
    st->same_dir_run = 1;
  }
  st->last_dir = dir;
  if (step < base) step = base;
  if (step > largest) step = largest;
  return step;
}

}  // namespace

CapState InitialCapState(uint32_t cap) {
  CapState st = {};
  st.cap = cap;
  return st;
}

const char* CapReasonName(CapReason r) {
  switch (r) {
    case CapReason::kDwell: return "dwell";
    case CapReason::kFewSamples: return "few-samples";
    case CapReason::kNoSpanTraffic: return "no-span-traffic";
    case CapReason::kInBand: return "in-band";
    case CapReason::kNotBinding: return "not-binding";
    case CapReason::kAtBound: return "at-bound";
    case CapReason::kRaise: return "raise";
    case CapReason::kLower: return "lower";
    case CapReason::kRelease: return "release";
  }
  return "?";
}

CapStep StepCap(const CapSettings& s, const CapState& in, const CapWindow& w) {
  CapState st = in;
  CapDecision d = {st.cap, st.cap, -1, CapReason::kDwell};
  ++st.since_decision;
  if (w.idle_max > st.idle_max) st.idle_max = w.idle_max;
  if (w.requests >= s.min_samples) {
    st.quiet = 0;
    st.ev_reused += w.spans_reused;
    st.ev_new += w.spans_new;
    ++st.ev_windows;
  } else {
    ++st.quiet;
  }
  const uint32_t dwell = s.dwell_windows > 0 ? s.dwell_windows : 1;
  const uint64_t events = st.ev_reused + st.ev_new;
  if (events > 0) d.hit_bp = static_cast<int32_t>(st.ev_reused * 10000 / events);
  if (st.since_decision < dwell) return {st, d};

  int32_t dir = 0;
  uint32_t target_cap = st.cap;
  const int32_t band = static_cast<int32_t>(s.band_bp * (st.wide ? 2 : 1));
  const int32_t target = static_cast<int32_t>(s.target_bp);
  if (st.quiet >= dwell) {
    // No demand: release what the class holds beyond the minimum.
    if (st.cap > s.cap_min && w.idle_end > s.cap_min) {
      target_cap = s.cap_min;
      d.reason = CapReason::kRelease;
    } else {
      d.reason = CapReason::kFewSamples;
    }
  } else if (st.ev_windows == 0) {
    d.reason = CapReason::kFewSamples;
  } else if (events < kMinSpanEvents) {
    d.reason = CapReason::kNoSpanTraffic;
    if (st.ev_windows >= kStaleEvidenceDwells * dwell) ResetEvidence(&st);
    return {st, d};
  } else if (d.hit_bp < target - band) {
    if (CapWasBinding(st)) {
      dir = 1;
    } else {
      d.reason = CapReason::kNotBinding;
    }
  } else if (d.hit_bp > target + band) {
    dir = -1;
  } else {
    d.reason = CapReason::kInBand;
  }

  if (dir != 0) {
    CapState moved = st;
    uint64_t step = NextStep(s, &moved, dir);
    // At most halve or double CAP in one move.
    const uint64_t limit = dir > 0 ? (st.cap > s.step ? st.cap : s.step) : st.cap / 2;
    if (step > limit && limit > 0) step = limit;
    moved.step_now = static_cast<uint32_t>(step);
    uint64_t next = dir > 0 ? uint64_t{st.cap} + step : (st.cap > step ? st.cap - step : 0);
    if (next < s.cap_min) next = s.cap_min;
    if (next > s.cap_max) next = s.cap_max;
    if (next == st.cap) {
      d.reason = CapReason::kAtBound;
      ForgetDirection(&st);
    } else {
      st = moved;
      target_cap = static_cast<uint32_t>(next);
      d.reason = dir > 0 ? CapReason::kRaise : CapReason::kLower;
    }
  } else if (d.reason == CapReason::kRelease) {
    ForgetDirection(&st);
    st.wide = false;
  } else if (d.reason == CapReason::kInBand || d.reason == CapReason::kNotBinding) {
    ForgetDirection(&st);  // keeps `wide`: the band stays where it settled
  }

  st.cap = target_cap;
  d.new_cap = st.cap;
  // A judgement was made: the next one waits a dwell period and looks only at
  // evidence gathered from now on, under the CAP now in force.
  if (d.reason != CapReason::kFewSamples) {
    ResetEvidence(&st);
    st.since_decision = 0;
  }
  return {st, d};
}

}  // namespace hakmem::learner
