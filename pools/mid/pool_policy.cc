#include "pools/mid/pool_policy.h"

#include <atomic>

#include "core/base/config.h"

namespace hakmem::mid {
namespace {

std::atomic<uint32_t> g_cap[kNumClasses];
std::atomic<uint32_t> g_wmax[3];
constexpr uint32_t kL25CapMax = 4096;

int TierIndex(Tier t) { return static_cast<int>(t); }

}  // namespace

void PoolPolicy::Init() {
  const Config& cfg = GetConfig();
  for (int c = 0; c < kNumClasses; ++c) {
    const Tier t = TierOfClass(c);
    const uint32_t cap = t == Tier::kTiny ? 0 : t == Tier::kMid ? cfg.cap_mid : cfg.cap_large;
    g_cap[c].store(cap, std::memory_order_relaxed);
  }
  g_wmax[TierIndex(Tier::kTiny)].store(100, std::memory_order_relaxed);
  g_wmax[TierIndex(Tier::kMid)].store(cfg.wmax_mid, std::memory_order_relaxed);
  g_wmax[TierIndex(Tier::kL25)].store(cfg.wmax_large, std::memory_order_relaxed);
}

uint32_t PoolPolicy::Cap(int c) { return g_cap[c].load(std::memory_order_relaxed); }

uint32_t PoolPolicy::CapMin(Tier t) { return t == Tier::kMid ? GetConfig().cap_min_mid : 0; }

uint32_t PoolPolicy::CapMax(Tier t) {
  return t == Tier::kMid ? GetConfig().cap_max_mid : t == Tier::kL25 ? kL25CapMax : 0;
}

void PoolPolicy::SetCap(int c, uint32_t cap) {
  const Tier t = TierOfClass(c);
  if (t == Tier::kTiny) return;
  if (cap < CapMin(t)) cap = CapMin(t);
  if (cap > CapMax(t)) cap = CapMax(t);
  g_cap[c].store(cap, std::memory_order_relaxed);
}

uint32_t PoolPolicy::WmaxX100(Tier t) {
  return g_wmax[TierIndex(t)].load(std::memory_order_relaxed);
}

void PoolPolicy::SetWmaxX100(Tier t, uint32_t wmax) {
  if (t == Tier::kTiny) return;  // Tiny classes are fine-grained: no borrowing
  if (wmax < 100) wmax = 100;
  if (wmax > 400) wmax = 400;
  g_wmax[TierIndex(t)].store(wmax, std::memory_order_relaxed);
}

}  // namespace hakmem::mid
