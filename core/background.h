// The one place where an optional background component (the learner, in
// learner/) plugs into core. Core must not depend on it: the component
// registers a table of functions, and core calls them at four moments:
//
//  - start: from an allocation slow path (a thread-cache refill), at the
//    kStartAfterRefills-th refill since registration and, for as long as it
//    answers "not yet" (false), again every kStartAfterRefills refills. The
//    calling thread holds no hakmem lock and allocation works, so the hook may
//    create a thread (pthread_create allocates). Never from a constructor:
//    the loader holds its locks there. The hook decides when start-up is over
//    (the learner waits for a delay after load, learner/learner.h).
//  - fork: prepare before core takes its own locks (so a component lock is
//    always taken before core's), parent/child after core released or reset
//    them.
//  - exit: from core's destructor, before the HAKMEM_STATS report.
//  - stats: appended to the HAKMEM_STATS report.
//
// Cost when nothing is registered, or once the start hook has said "done": one
// relaxed load of a read-mostly flag per refill (the slow path only).
#ifndef HAKMEM_CORE_BACKGROUND_H_
#define HAKMEM_CORE_BACKGROUND_H_

#include <atomic>
#include <cstdint>

#include "absl/base/attributes.h"
#include "absl/base/optimization.h"

namespace hakmem {

struct BackgroundHooks {
  bool (*start)();  // true: done, never call again; false: ask again later
  void (*prepare_fork)();
  void (*parent_after_fork)();
  void (*child_after_fork)();
  void (*at_exit)();
  void (*print_stats)(int fd);
};

// Refills between registration and the first call of `start` (and between
// calls while it answers "not yet"): asking costs the hook a clock read, so
// not on every refill, but often enough that a program with few refills (a
// python3 process makes about 40 in its start-up) is still asked.
inline constexpr int32_t kStartAfterRefills = 16;

// Registers the component (one at most; a second call replaces the first). The
// table must outlive the process. Only stores pointers: safe in a constructor.
void RegisterBackground(const BackgroundHooks* hooks);
// The registered table, or nullptr.
const BackgroundHooks* Background();

namespace background_internal {
extern std::atomic<bool> g_armed;
ABSL_ATTRIBUTE_NOINLINE void CountRefill();
}  // namespace background_internal

// Called after every thread-cache refill (core/alloc.cc).
ABSL_ATTRIBUTE_ALWAYS_INLINE inline void NoteRefillForBackground() {
  if (ABSL_PREDICT_FALSE(background_internal::g_armed.load(std::memory_order_relaxed))) {
    background_internal::CountRefill();
  }
}

}  // namespace hakmem

#endif  // HAKMEM_CORE_BACKGROUND_H_
