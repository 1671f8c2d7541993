#include "pools/tiny/span_source.h"

#include <atomic>

namespace hakmem::tiny {
namespace {

constinit std::atomic<const SpanSource*> g_sources[3] = {};

}  // namespace

void InstallSpanSource(Tier tier, const SpanSource* source) {
  g_sources[static_cast<int>(tier)].store(source, std::memory_order_release);
}

const SpanSource* SpanSourceFor(int c) {
  return g_sources[static_cast<int>(TierOfClass(c))].load(std::memory_order_acquire);
}

}  // namespace hakmem::tiny
