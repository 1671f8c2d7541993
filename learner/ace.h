// ACE: the accounting the learner reads. Per size class of the slab pool
// (Tiny, Mid and L2.5): requests, thread-cache refills (misses), spans taken
// from the idle stacks (CAP hits) or from the SuperSlab manager (CAP misses),
// idle spans held, CAP, and W_MAX borrowing with its waste.
//
// The counters themselves live in the thread caches (core/stats.h,
// pools/tiny/thread_cache.h): each is written only by its own thread, with a
// relaxed load + store on the bin's own cache line (no atomic read-modify-
// write on the fast path), and summed over every thread heap when read here.
// A read while threads run is approximate but never torn.
//
// Waste: a request of n bytes served by its own class c wastes ClassSize(c) - n
// bytes; that rounding waste is fixed by the class table (under 25% above
// 128 B, size_classes.h) and no parameter moves it. What W_MAX changes is the
// borrowed waste: bytes beyond the request in blocks of a larger class lent to
// it on a thread-cache miss, counted on the lending class. That is the waste
// ACE reports and the learner weighs.
//
// Snapshots are plain arrays filled without allocating: the learner thread,
// tests and the HAKMEM_STATS=1 report all read through here.
#ifndef HAKMEM_LEARNER_ACE_H_
#define HAKMEM_LEARNER_ACE_H_

#include <cstdint>

#include "core/base/size_classes.h"

namespace hakmem::learner {

// One class: cumulative counters in a snapshot, deltas in a window; the
// gauges (idle_spans, cap) are as of the (later) read either way.
struct AceClass {
  uint64_t requests;        // blocks handed out from the class (incl. lent ones)
  uint64_t refills;         // thread-cache misses that refilled the class
  uint64_t spans_reused;    // CAP hits
  uint64_t spans_new;       // CAP misses
  uint64_t borrowed;        // blocks lent to smaller requests (W_MAX)
  uint64_t borrowed_waste;  // their bytes beyond the request
  uint64_t idle_spans;      // gauge
  uint64_t cap;             // gauge
};

struct AceSnapshot {
  AceClass cls[kNumClasses];
};

// Reads every class (takes the heap registry lock once per class).
void ReadAce(AceSnapshot* out);
// One class only.
void ReadAceClass(int c, AceClass* out);
// window = later - earlier for the counters; later's gauges.
void AceWindowOf(const AceSnapshot& earlier, const AceSnapshot& later, AceSnapshot* window);

// Rates x10000, or -1 when there is nothing to divide by.
int32_t CapHitBp(const AceClass& a);    // spans_reused / (spans_reused + spans_new)
int32_t CacheHitBp(const AceClass& a);  // 1 - refills / requests
// Bytes handed out (upper bound of the bytes requested): requests x class size.
uint64_t BytesOut(int c, const AceClass& a);
// Borrowed waste as a share of the bytes handed out, x10000 (-1 if none out).
int32_t WasteBp(int c, const AceClass& a);

// Sums over the classes of a tier.
AceClass AceTierSum(const AceSnapshot& s, Tier t, uint64_t* bytes_out);

// The per-class table of the HAKMEM_STATS=1 report (classes with requests).
void PrintAce(int fd);

}  // namespace hakmem::learner

#endif  // HAKMEM_LEARNER_ACE_H_
