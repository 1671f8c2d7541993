#include "pools/tiny/span_source.h"

#include <atomic>

namespace hakmem::tiny {
namespace {

constinit std::atomic<const SpanSource*> g_sources[3] = {};
constinit std::atomic<IdleReclaimer> g_reclaimer{nullptr};
constinit std::atomic<IdleOwnerReclaimer> g_owner_reclaimer{nullptr};

}  // namespace

void InstallSpanSource(Tier tier, const SpanSource* source) {
  g_sources[static_cast<int>(tier)].store(source, std::memory_order_release);
}

const SpanSource* SpanSourceFor(int c) {
  return g_sources[static_cast<int>(TierOfClass(c))].load(std::memory_order_acquire);
}

void InstallIdleReclaimer(IdleReclaimer reclaimer) {
  g_reclaimer.store(reclaimer, std::memory_order_release);
}

uint32_t ReclaimIdleSpans(int c, uint32_t units) {
  const IdleReclaimer r = g_reclaimer.load(std::memory_order_acquire);
  return r != nullptr ? r(c, units) : 0;
}

void InstallIdleOwnerReclaimer(IdleOwnerReclaimer reclaimer) {
  g_owner_reclaimer.store(reclaimer, std::memory_order_release);
}

void ReclaimIdleOwnersSpans() {
  if (const IdleOwnerReclaimer r = g_owner_reclaimer.load(std::memory_order_acquire)) r();
}

}  // namespace hakmem::tiny
