#include "core/base/invalid_free.h"

#include <atomic>
#include <cstdlib>
#include <cstring>

#include "core/base/config.h"
#include "core/base/log.h"

namespace hakmem {
namespace {
std::atomic<uint64_t> g_invalid_frees{0};
}  // namespace

void ReportInvalidPointer(const void* p, BadFree why, const char* fn) {
  g_invalid_frees.fetch_add(1, std::memory_order_relaxed);
  const auto mode = static_cast<InvalidFreeMode>(GetConfig().invalid_free);
  if (mode == InvalidFreeMode::kQuiet) return;
  const char* what = "pointer to memory that was never allocated";
  switch (why) {
    case BadFree::kForeign:
      what = "pointer not allocated by hakmem";
      break;
    case BadFree::kInterior:
      what = "pointer into the middle of a block";
      break;
    case BadFree::kDouble:
      what = std::strcmp(fn, "free") == 0 ? "double free" : "block is free already (use after free)";
      break;
    case BadFree::kNeverAllocated:
      break;
    case BadFree::kFreeMemory:
      what = "pointer to free memory (freed already, or never allocated)";
      break;
  }
  const bool abort_now = mode == InvalidFreeMode::kAbort;
  LogLine().Str("hakmem: ").Str(fn).Str("(").Ptr(p).Str("): ").Str(what).Str(
      abort_now ? "; aborting (HAKMEM_INVALID_FREE=abort)" : "; ignored");
  if (abort_now) abort();
}

uint64_t InvalidFreeCount() { return g_invalid_frees.load(std::memory_order_relaxed); }

}  // namespace hakmem
