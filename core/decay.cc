#include "core/decay.h"

#include <atomic>
#include <cstdint>

#include "core/base/clock.h"
#include "core/base/config.h"
#include "pools/mid/idle_spans.h"
#include "pools/tiny/superslab_manager.h"

namespace hakmem {
namespace {

std::atomic<uint64_t> g_next_pass_ms{0};

size_t Pass(uint64_t now) {
  const uint64_t decay = GetConfig().decay_ms;
  mid::DecayIdleSpans(now, decay);  // their units join the manager's free units
  return tiny::DecaySuperSlabs(now, decay);
}

}  // namespace

void MaybeDecay() {
  const uint64_t now = NowMs();
  uint64_t due = g_next_pass_ms.load(std::memory_order_relaxed);
  if (now < due) return;
  const uint64_t next = now + GetConfig().decay_ms / 4 + 1;
  if (!g_next_pass_ms.compare_exchange_strong(due, next, std::memory_order_relaxed)) return;
  Pass(now);
}

size_t DecayNow() { return Pass(NowMs()); }

}  // namespace hakmem
