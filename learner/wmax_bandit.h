// W_MAX learning for the Mid tier (HAKMEM_WMAX_LEARN=1): a pure function from
// (the tier's window of ACE counters, the bandit's state, the settings) to the
// W_MAX for the next window, the next state and a decision record.
//
// Score of a window (higher is better), over every Mid class:
//   score = 1 - (refills + 2 x spans_new) / requests - borrowed_waste / bytes_out
// The first part is the throughput proxy: the share of requests served without
// a thread-cache refill, a CAP miss costing double (it takes the SuperSlab
// manager's lock and formats a span). The second is ACE's borrowed waste: bytes
// beyond the request in blocks that W_MAX let a larger class lend, as a share
// of all bytes handed out. (Rounding waste inside a class is fixed by the
// class table, so W_MAX only moves the borrowed part.)
//
// Arms: the starting W_MAX (HAKMEM_WMAX_MID) and each HAKMEM_WMAX_CANDIDATES_MID
// value. The arm in force is the incumbent. After a baseline period a trial
// runs one other arm, chosen by UCB1 over the arms' past advantages (untried
// arms first, in list order), for HAKMEM_WMAX_TRIAL_SEC worth of windows:
//  - Canary (HAKMEM_WMAX_CANARY=1): the trial runs on part of the traffic
//    only, by time: the candidate serves every other counted window of the
//    trial and the incumbent the windows in between. The two interleaved sets
//    are compared, so a change in the program during the trial hits both alike
//    (as the benchmark runner interleaves allocators).
//  - Without canary the candidate serves the whole trial and is compared with
//    the incumbent's score over the baseline period just before it.
//  - Adopt: the candidate's mean score beats the reference by more than
//    HAKMEM_WMAX_ADOPT_PCT (relative). Otherwise the incumbent stays.
//  - Revert: as soon as the candidate's mean falls more than kRevertFactor x
//    HAKMEM_WMAX_ADOPT_PCT below the reference, the trial ends and the
//    incumbent comes back for the next window.
// Windows with fewer than HAKMEM_LEARN_MIN_SAMPLES Mid requests do not count.
// The baseline between trials lasts one trial length, doubled after every
// full round of arms that adopted nothing (up to kMaxBackoff trial lengths),
// so a settled program spends little time exploring.
#ifndef HAKMEM_LEARNER_WMAX_BANDIT_H_
#define HAKMEM_LEARNER_WMAX_BANDIT_H_

#include <cstdint>

namespace hakmem::learner {

inline constexpr int kMaxArms = 9;            // 8 candidates + the starting value
inline constexpr int64_t kRevertFactor = 5;   // revert at 5 x the adoption margin
inline constexpr uint32_t kMaxBackoff = 16;

struct WmaxSettings {
  uint32_t candidates[kMaxArms - 1] = {140, 160, 170};  // x100
  uint32_t num_candidates = 3;
  bool canary = true;
  uint32_t trial_windows = 5;   // >= 2
  uint32_t adopt_bp = 100;      // relative margin x10000 (100 = 1%)
  uint64_t min_samples = 256;   // Mid requests for a window to count
};

// The tier's window (sums over the Mid classes).
struct WmaxWindow {
  uint64_t requests;
  uint64_t refills;
  uint64_t spans_new;
  uint64_t borrowed_waste;  // bytes
  uint64_t bytes_out;       // sum of requests x class size
};

// Score of a window in millionths (1000000 = every request a cache hit, no waste).
int64_t WmaxScorePpm(const WmaxWindow& w);

enum class WmaxPhase : uint8_t { kBaseline, kTrial };

struct WmaxArm {
  uint32_t wmax;        // x100
  uint32_t trials;
  int64_t adv_sum_ppm;  // sum of relative advantages over the incumbent (ppm)
};

struct WmaxState {
  WmaxArm arms[kMaxArms];
  uint32_t num_arms;
  uint32_t incumbent;   // index into arms
  WmaxPhase phase;
  uint32_t trial_arm;   // index into arms, during a trial
  bool candidate_on;    // the candidate served the window being reported
  uint32_t counted;     // counted windows in this phase
  uint32_t baseline_len;  // windows the current baseline lasts
  uint32_t backoff;     // baseline length in trial lengths
  uint32_t round_left;  // trials left in this round of arms
  bool round_adopted;   // a trial of this round adopted its arm
  uint32_t total_trials;
  // Sums of counted scores: the incumbent's (baseline, or its canary
  // windows) and the candidate's.
  int64_t inc_sum;
  uint32_t inc_n;
  int64_t base_mean;    // the last baseline's mean (reference without canary)
  bool have_base;
  int64_t cand_sum;
  uint32_t cand_n;
};

WmaxState InitialWmaxState(const WmaxSettings& s, uint32_t start_wmax);

enum class WmaxEvent : uint8_t {
  kNone,        // nothing decided (baseline or a trial going on)
  kSkip,        // window not counted (few samples)
  kStartTrial,  // the next window runs a candidate
  kAdopt,       // the candidate became the incumbent
  kReject,      // the trial ended, the incumbent stays
  kRevert,      // the trial hurt: stopped early, the incumbent is back
};
const char* WmaxEventName(WmaxEvent e);

struct WmaxDecision {
  uint32_t wmax_now;    // what served the window just reported (x100)
  uint32_t wmax_next;   // what serves the next window (x100)
  uint32_t arm_wmax;    // the trial's candidate, if any
  WmaxEvent event;
  int64_t score_ppm;    // this window's score
  int64_t cand_ppm;     // candidate's mean so far (trial), or 0
  int64_t ref_ppm;      // the reference it is compared with, or 0
};

struct WmaxStep {
  WmaxState state;
  WmaxDecision decision;
};

WmaxStep StepWmax(const WmaxSettings& s, const WmaxState& state, const WmaxWindow& w);

// The W_MAX that should be in force given the state (the candidate during a
// canary window or a trial, else the incumbent).
uint32_t WmaxInForce(const WmaxState& st);

}  // namespace hakmem::learner

#endif  // HAKMEM_LEARNER_WMAX_BANDIT_H_
