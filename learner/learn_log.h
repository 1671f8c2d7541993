// HAKMEM_LEARN_LOG: every window's decisions as CSV, written with open(2) and
// write(2) through core's LogLine formatting (stdio would allocate). One row
// per active Mid class ("cap" rows) and one per window for W_MAX ("wmax" rows);
// tools/plot_learner.py draws the CAP and hit-rate trajectories from it.
//
// Columns:
//   time_ms      since the learner started (end of the window)
//   kind         cap | wmax
//   class, class_size
//   cap, new_cap CAP during the window and after the decision (cap rows)
//   wmax         W_MAX during the window (x.xx)
//   hit_rate     the window's CAP hit rate (0..1; empty without span traffic)
//   evidence_hit the hit rate the decision used (since the last judgement)
//   requests, refills, spans_reused, spans_new, idle_max, idle_end,
//   borrowed, waste_bytes   ACE counters of the window
//   score        wmax rows: the window's score (1 = no miss, no waste)
//   decision     cap rows: the controller's reason; wmax rows: the bandit's
//                event, with the trial's candidate and the next W_MAX
#ifndef HAKMEM_LEARNER_LEARN_LOG_H_
#define HAKMEM_LEARNER_LEARN_LOG_H_

#include <cstdint>

#include "learner/ace.h"
#include "learner/cap_controller.h"
#include "learner/wmax_bandit.h"

namespace hakmem::learner {

class LearnLog {
 public:
  // Creates (truncates) the file and writes the header; false if it cannot.
  bool Open(const char* path);
  void Close();
  bool is_open() const { return fd_ >= 0; }

  void CapRow(uint64_t time_ms, int c, const AceClass& window, uint64_t idle_max,
              uint32_t wmax_x100, const CapDecision& d);
  void WmaxRow(uint64_t time_ms, const WmaxWindow& w, const WmaxDecision& d);

 private:
  int fd_ = -1;
};

}  // namespace hakmem::learner

#endif  // HAKMEM_LEARNER_LEARN_LOG_H_
