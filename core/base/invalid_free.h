// What happens when a program frees something hakmem cannot take back: a
// pointer it never handed out, an interior pointer, or a block already free.
// The block is never written into a free list; the event is counted and, per
// HAKMEM_INVALID_FREE, reported on stderr (warn, the default), fatal (abort)
// or silent (quiet).
#ifndef HAKMEM_CORE_BASE_INVALID_FREE_H_
#define HAKMEM_CORE_BASE_INVALID_FREE_H_

#include <cstdint>

namespace hakmem {

enum class BadFree {
  kForeign,         // not in memory hakmem mapped
  kInterior,        // inside a block, not where it starts
  kDouble,          // a block that is free already
  kNeverAllocated,  // hakmem's memory, but not a block ever handed out
  kFreeMemory,      // a unit no span holds: freed already with its span, or never carved
};

// Counts and reports (per HAKMEM_INVALID_FREE) a bad pointer passed to `fn`.
void ReportInvalidPointer(const void* p, BadFree why, const char* fn);
inline void ReportInvalidFree(const void* p, BadFree why) { ReportInvalidPointer(p, why, "free"); }
uint64_t InvalidFreeCount();

}  // namespace hakmem

#endif  // HAKMEM_CORE_BASE_INVALID_FREE_H_
