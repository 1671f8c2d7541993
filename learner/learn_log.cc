#include "learner/learn_log.h"

#include <fcntl.h>
#include <unistd.h>

#include "core/base/log.h"

namespace hakmem::learner {
namespace {

void PutRate(LogLine& line, int32_t bp) {
  if (bp >= 0) line.Fixed(static_cast<uint64_t>(bp), 4);
}

void PutPpm(LogLine& line, int64_t ppm) {
  if (ppm < 0) {
    line.Str("-");
    ppm = -ppm;
  }
  line.Fixed(static_cast<uint64_t>(ppm), 6);
}

}  // namespace

bool LearnLog::Open(const char* path) {
  Close();
  fd_ = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
  if (fd_ < 0) return false;
  LogLine(fd_).Str("time_ms,kind,class,class_size,cap,new_cap,wmax,hit_rate,evidence_hit,"
                   "requests,refills,spans_reused,spans_new,idle_max,idle_end,borrowed,"
                   "waste_bytes,score,decision");
  return true;
}

void LearnLog::Close() {
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
}

void LearnLog::CapRow(uint64_t time_ms, int c, const AceClass& w, uint64_t idle_max,
                      uint32_t wmax_x100, const CapDecision& d) {
  if (fd_ < 0) return;
  LogLine line(fd_);
  line.Dec(time_ms).Str(",cap,").Dec(static_cast<uint64_t>(c)).Str(",").Dec(ClassSize(c));
  line.Str(",").Dec(d.old_cap).Str(",").Dec(d.new_cap).Str(",").Fixed(wmax_x100, 2).Str(",");
  PutRate(line, CapHitBp(w));
  line.Str(",");
  PutRate(line, d.hit_bp);
  line.Str(",").Dec(w.requests).Str(",").Dec(w.refills).Str(",").Dec(w.spans_reused);
  line.Str(",").Dec(w.spans_new).Str(",").Dec(idle_max).Str(",").Dec(w.idle_spans);
  line.Str(",").Dec(w.borrowed).Str(",").Dec(w.borrowed_waste).Str(",,");
  line.Str(CapReasonName(d.reason));
}

void LearnLog::WmaxRow(uint64_t time_ms, const WmaxWindow& w, const WmaxDecision& d) {
  if (fd_ < 0) return;
  LogLine line(fd_);
  line.Dec(time_ms).Str(",wmax,,,,,").Fixed(d.wmax_now, 2).Str(",,,");
  line.Dec(w.requests).Str(",").Dec(w.refills).Str(",,").Dec(w.spans_new).Str(",,,,");
  line.Dec(w.borrowed_waste).Str(",");
  PutPpm(line, d.score_ppm);
  line.Str(",").Str(WmaxEventName(d.event));
  if (d.arm_wmax != 0) line.Str(" candidate=").Fixed(d.arm_wmax, 2);
  line.Str(" next=").Fixed(d.wmax_next, 2);
}

}  // namespace hakmem::learner
