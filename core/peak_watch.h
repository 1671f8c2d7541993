// The decision behind giving free memory back while the program grows
// elsewhere (core/decay.cc): from looks at the process's resident memory and
// at the bytes hakmem has ever mapped, whether the footprint is climbing in
// memory hakmem did not map (Python's object arenas, V8's heap, a compiler's
// GC pages). Free memory hakmem keeps then adds to the program's peak, and
// what has been unused for a moment should go back. A class of its own,
// with the clock and the readings passed in, so that tests can drive it with
// made-up numbers; the decay thread owns its one instance.
#ifndef HAKMEM_CORE_PEAK_WATCH_H_
#define HAKMEM_CORE_PEAK_WATCH_H_

#include <algorithm>
#include <cstdint>

namespace hakmem {

class PeakWatch {
 public:
  enum class Verdict {
    kNone,       // the footprint stood still, or rose by what hakmem mapped
    kLookOften,  // a first rise elsewhere: look again soon
    kGiveBack,   // a second rise elsewhere in a row: give back what is idle
  };

  // A look at `now_ms`: `resident` bytes of the process, `mapped_ever` bytes
  // hakmem has mapped or committed since start-up (never falls: memory it
  // gave back does not count against later mappings). `window_ms` is how
  // long a rise elsewhere keeps the looks frequent and another can follow
  // it in a row, and how long a credit lasts (below).
  //
  // Only a new high counts, by kMinStep or a 128th of the high, whichever
  // is more (a big server whose peak creeps by a MiB is not growing). Of a
  // rise, what hakmem mapped since the last counted one is its own (less
  // what refilled a dip below the high); what it mapped and the program has
  // not written yet (a SuperSlab's spans carved later, a big buffer filled
  // slowly) is a credit later rises use up first, good until the end of the
  // window after the one it was earned in. What remains, a
  // step or more, is a rise elsewhere; the first makes the looks frequent,
  // the second in a row, within the window, gives back: a program growing
  // elsewhere does so for a while, and a single rise is as often hakmem's
  // own mapping written beyond its credit. A rise that is hakmem's own ends
  // the row. Pages hakmem faults in again in memory it mapped long ago
  // (decommitted free units carved anew) count as elsewhere.
  static constexpr uint64_t kMinStep = uint64_t{1} << 20;

  Verdict Look(uint64_t now_ms, uint64_t resident, uint64_t mapped_ever, uint64_t window_ms) {
    low_ = std::min(low_, resident);
    if (resident < high_ + Step(high_)) return Verdict::kNone;
    const bool first = high_ == 0;
    uint64_t rise = resident - high_;
    uint64_t own = mapped_ever - std::min(mapped_ever, mapped_at_high_);
    // What hakmem mapped to fill a dip below the high (memory it gave back and
    // took again, written at once) is no credit for the rise beyond it.
    own -= std::min(own, high_ - std::min(high_, low_));
    const uint64_t step = Step(high_);
    high_ = resident;
    low_ = resident;
    mapped_at_high_ = mapped_ever;
    if (first) return Verdict::kNone;  // a baseline: what was mapped before is no credit
    if (now_ms >= epoch_end_ms_) {  // epochs of one window, back to back
      const bool next = now_ms < epoch_end_ms_ + window_ms;
      older_credit_ = next ? credit_ : 0;
      credit_ = 0;
      epoch_end_ms_ = next ? epoch_end_ms_ + window_ms : now_ms + window_ms;
    }
    Spend(&rise, &own);
    Spend(&rise, &older_credit_);
    Spend(&rise, &credit_);
    credit_ += own;
    if (rise < step) {
      last_elsewhere_ = false;
      return Verdict::kNone;
    }
    const bool in_row = last_elsewhere_ && now_ms < rising_until_ms_;
    last_elsewhere_ = true;
    rising_until_ms_ = now_ms + window_ms;
    return in_row ? Verdict::kGiveBack : Verdict::kLookOften;
  }

  // Whether looks should come often now (within a window of a rise elsewhere).
  bool Rising(uint64_t now_ms) const { return now_ms < rising_until_ms_; }

 private:
  static uint64_t Step(uint64_t high) { return std::max(kMinStep, high / 128); }
  // Takes what it can of *amount from *source.
  static void Spend(uint64_t* amount, uint64_t* source) {
    const uint64_t taken = std::min(*amount, *source);
    *amount -= taken;
    *source -= taken;
  }

  uint64_t high_ = 0;            // the highest resident counted
  uint64_t low_ = UINT64_MAX;    // the lowest resident seen since
  uint64_t mapped_at_high_ = 0;  // mapped_ever then
  uint64_t credit_ = 0;          // mapped, not yet written: earned this epoch
  uint64_t older_credit_ = 0;    // ... and in the one before
  uint64_t epoch_end_ms_ = 0;
  uint64_t rising_until_ms_ = 0;
  bool last_elsewhere_ = false;  // the last counted rise was elsewhere
};

}  // namespace hakmem

#endif  // HAKMEM_CORE_PEAK_WATCH_H_
