#include "core/base/invalid_free.h"

#include <atomic>
#include <cstdlib>

#include "core/base/config.h"
#include "core/base/log.h"

namespace hakmem {
namespace {
std::atomic<uint64_t> g_invalid_frees{0};
}  // namespace

void ReportInvalidFree(const void* p, BadFree why) {
  g_invalid_frees.fetch_add(1, std::memory_order_relaxed);
  const auto mode = static_cast<InvalidFreeMode>(GetConfig().invalid_free);
  if (mode == InvalidFreeMode::kQuiet) return;
  const char* what = why == BadFree::kForeign    ? "pointer not allocated by hakmem"
                     : why == BadFree::kInterior ? "pointer into the middle of a block"
                                                 : "double free";
  LogLine().Str("hakmem: free(").Ptr(p).Str("): ").Str(what).Str("; ignored");
  if (mode == InvalidFreeMode::kAbort) abort();
}

uint64_t InvalidFreeCount() { return g_invalid_frees.load(std::memory_order_relaxed); }

}  // namespace hakmem
