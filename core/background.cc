#include "core/background.h"

namespace hakmem {
namespace {

std::atomic<const BackgroundHooks*> g_hooks{nullptr};
// Refills left before `start` is called. Exactly one thread sees it go from
// 1 to 0 and makes the call; refills made meanwhile (including the ones the
// call itself causes: pthread_create allocates) push it below 0 and do nothing.
std::atomic<int32_t> g_countdown{kStartAfterRefills};

}  // namespace

namespace background_internal {

constinit std::atomic<bool> g_armed{false};

void CountRefill() {
  if (g_countdown.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
  const BackgroundHooks* h = g_hooks.load(std::memory_order_acquire);
  if (h == nullptr || h->start == nullptr || h->start()) {
    g_armed.store(false, std::memory_order_relaxed);
    return;
  }
  g_countdown.store(kStartAfterRefills, std::memory_order_release);
}

}  // namespace background_internal

void RegisterBackground(const BackgroundHooks* hooks) {
  g_hooks.store(hooks, std::memory_order_release);
  g_countdown.store(kStartAfterRefills, std::memory_order_relaxed);
  background_internal::g_armed.store(hooks != nullptr && hooks->start != nullptr,
                                     std::memory_order_release);
}

const BackgroundHooks* Background() { return g_hooks.load(std::memory_order_acquire); }

}  // namespace hakmem
