// The runtime parameters of the Mid and L2.5 tiers, behind one interface so the
// learner (learner/) can move them while the program runs:
//  - CAP(c): how many idle spans ("pages") class c keeps for reuse; an emptied
//    span beyond it goes back to the SuperSlab manager (and, past the retain
//    limit, to the OS). A refill never takes more spans at once than CAP.
//  - W_MAX(tier): on a thread-cache miss for a request of n bytes, a block of a
//    larger class c' may be taken instead when ClassSize(c') <= W_MAX * n.
// Tiny classes have neither (CAP 0, W_MAX 1.00): the Tiny tier takes its spans
// straight from the SuperSlab manager (pools/tiny/span_source.h).
// Each value is one relaxed atomic: a reader always sees a whole value, and a
// decision reads each value once, so no reader ever acts on a torn policy.
#ifndef HAKMEM_POOLS_MID_POOL_POLICY_H_
#define HAKMEM_POOLS_MID_POOL_POLICY_H_

#include <cstdint>

#include "core/base/size_classes.h"

namespace hakmem::mid {

class PoolPolicy {
 public:
  // Sets every value from the configuration (called once at start-up).
  static void Init();

  static uint32_t Cap(int c);
  // Clamped to the tier's configured range (HAKMEM_CAP_MIN_MID..MAX for Mid).
  // Ignored for Tiny classes.
  static void SetCap(int c, uint32_t cap);
  static uint32_t CapMin(Tier t);
  static uint32_t CapMax(Tier t);

  // W_MAX x 100 (140 means 1.40); 100 turns borrowing off.
  static uint32_t WmaxX100(Tier t);
  static void SetWmaxX100(Tier t, uint32_t wmax);
};

}  // namespace hakmem::mid

#endif  // HAKMEM_POOLS_MID_POOL_POLICY_H_
