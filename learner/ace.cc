#include "learner/ace.h"

#include "core/base/log.h"
#include "core/stats.h"

namespace hakmem::learner {
namespace {

uint64_t Sub(uint64_t later, uint64_t earlier) { return later > earlier ? later - earlier : 0; }

const char* TierName(Tier t) {
  return t == Tier::kTiny ? "tiny" : t == Tier::kMid ? "mid" : "l2.5";
}

// A rate x10000 as "12.34%", or "-" when undefined.
void PutPercent(LogLine& line, int32_t bp) {
  if (bp < 0) {
    line.Str("-");
  } else {
    line.Fixed(static_cast<uint64_t>(bp), 2).Str("%");
  }
}

}  // namespace

void ReadAceClass(int c, AceClass* out) {
  ClassStats s;
  GetClassStats(c, &s);
  out->requests = s.allocs;
  out->refills = s.refills;
  out->spans_reused = s.spans_reused;
  out->spans_new = s.spans_new;
  out->borrowed = s.borrowed;
  out->borrowed_waste = s.borrowed_waste;
  out->idle_spans = s.idle_spans;
  out->cap = s.cap;
}

void ReadAce(AceSnapshot* out) {
  for (int c = 0; c < kNumClasses; ++c) ReadAceClass(c, &out->cls[c]);
}

void AceWindowOf(const AceSnapshot& earlier, const AceSnapshot& later, AceSnapshot* window) {
  for (int c = 0; c < kNumClasses; ++c) {
    const AceClass& a = earlier.cls[c];
    const AceClass& b = later.cls[c];
    AceClass& w = window->cls[c];
    // Counters only grow; Sub guards against a heap adopted between reads.
    w.requests = Sub(b.requests, a.requests);
    w.refills = Sub(b.refills, a.refills);
    w.spans_reused = Sub(b.spans_reused, a.spans_reused);
    w.spans_new = Sub(b.spans_new, a.spans_new);
    w.borrowed = Sub(b.borrowed, a.borrowed);
    w.borrowed_waste = Sub(b.borrowed_waste, a.borrowed_waste);
    w.idle_spans = b.idle_spans;
    w.cap = b.cap;
  }
}

int32_t CapHitBp(const AceClass& a) {
  const uint64_t spans = a.spans_reused + a.spans_new;
  return spans == 0 ? -1 : static_cast<int32_t>(a.spans_reused * 10000 / spans);
}

int32_t CacheHitBp(const AceClass& a) {
  if (a.requests == 0) return -1;
  const uint64_t hits = a.requests > a.refills ? a.requests - a.refills : 0;
  return static_cast<int32_t>(hits * 10000 / a.requests);
}

uint64_t BytesOut(int c, const AceClass& a) { return a.requests * ClassSize(c); }

int32_t WasteBp(int c, const AceClass& a) {
  const uint64_t out = BytesOut(c, a);
  return out == 0 ? -1 : static_cast<int32_t>(a.borrowed_waste * 10000 / out);
}

AceClass AceTierSum(const AceSnapshot& s, Tier t, uint64_t* bytes_out) {
  AceClass sum = {};
  uint64_t bytes = 0;
  for (int c = 0; c < kNumClasses; ++c) {
    if (TierOfClass(c) != t) continue;
    const AceClass& a = s.cls[c];
    sum.requests += a.requests;
    sum.refills += a.refills;
    sum.spans_reused += a.spans_reused;
    sum.spans_new += a.spans_new;
    sum.borrowed += a.borrowed;
    sum.borrowed_waste += a.borrowed_waste;
    sum.idle_spans += a.idle_spans;
    sum.cap += a.cap;
    bytes += BytesOut(c, a);
  }
  if (bytes_out != nullptr) *bytes_out = bytes;
  return sum;
}

void PrintAce(int fd) {
  LogLine(fd).Str("hakmem ace (per size class with requests)");
  for (int c = 0; c < kNumClasses; ++c) {
    AceClass a;
    ReadAceClass(c, &a);
    if (a.requests == 0) continue;
    LogLine line(fd);
    line.Str("  class ").Dec(static_cast<uint64_t>(c)).Str(" (").Dec(ClassSize(c)).Str(" B, ");
    line.Str(TierName(TierOfClass(c))).Str("): requests ").Dec(a.requests).Str(", cache hits ");
    PutPercent(line, CacheHitBp(a));
    line.Str(" (").Dec(a.refills).Str(" refills), CAP hits ");
    PutPercent(line, CapHitBp(a));
    line.Str(" (").Dec(a.spans_reused).Str(" reused/").Dec(a.spans_new).Str(" new spans), idle ");
    line.Dec(a.idle_spans).Str("/CAP ").Dec(a.cap);
    if (a.borrowed > 0) {
      line.Str(", lent ").Dec(a.borrowed).Str(" wasting ").Dec(a.borrowed_waste).Str(" B (");
      PutPercent(line, WasteBp(c, a));
      line.Str(")");
    }
  }
}

}  // namespace hakmem::learner
