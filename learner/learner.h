// The learner: a background thread that, once per HAKMEM_LEARN_WINDOW_MS,
// reads ACE (ace.h), asks the pure controllers what to do (cap_controller.h
// for every Mid class's CAP, wmax_bandit.h for the Mid W_MAX when
// HAKMEM_WMAX_LEARN=1), applies the answers through core's PoolPolicy, and
// logs them (HAKMEM_LEARN_LOG, learn_log.h).
//
// Life cycle (docs/ARCHITECTURE.md, "The learner"):
//  - Start: lazily, only with HAKMEM_LEARN=1, from core's allocation slow
//    path (core/background.h): the first thread-cache refill that core lets
//    ask (every 16th) at least 250 ms after libhakmem was loaded starts it.
//    Never from a constructor: the loader holds its locks there, and a thread
//    started then could run before the program's own initialisation. A
//    program that ends within 250 ms, or stops refilling, never gets one
//    (nothing to learn). The refill that triggers it holds no hakmem lock,
//    so pthread_create may allocate (it does, for the thread's TLS). If that
//    refill happens inside the loader (a dlopen'd library's constructor
//    calling malloc), pthread_create still cannot deadlock: the loader's
//    locks are recursive for the thread holding them, and the new thread
//    never needs them (libhakmem.so binds every symbol at load, -z now, and
//    the learner calls nothing in the loader).
//  - Its own allocations: none. It reads counters, calls hakmem's internal
//    functions (PoolPolicy, the idle-span stacks, the SuperSlab manager) and
//    writes with write(2). All signals are blocked in it, so a program's
//    signal handler never runs on it.
//  - fork: the prepare handler waits for a window pass in progress to end (its
//    lock is taken before core's), so the child sees consistent state. The
//    child of a threaded parent runs WITHOUT a learner: only the forking
//    thread exists there, a POSIX child of a threaded process should not
//    create threads before exec (ThreadSanitizer even kills it), and most
//    children exec soon anyway. It keeps the CAP values learned so far; a
//    W_MAX trial in progress is dropped (the incumbent comes back). The child
//    of a parent of one thread (no learner thread yet) is a whole process:
//    core calls no fork hook there (core/thread_heap.cc).
//  - Exit: core's destructor asks the thread to stop and waits for it a short
//    while (never a join: a thread stuck anywhere must not hang exit).
#ifndef HAKMEM_LEARNER_LEARNER_H_
#define HAKMEM_LEARNER_LEARNER_H_

#include <cstdint>

#include "learner/settings.h"

namespace hakmem::learner {

// Starts the thread with these settings (tests use short windows). False if
// it already runs, this process is a threaded parent's fork child, or the
// thread cannot start.
bool StartLearner(const LearnerSettings& s);
// Asks the thread to stop and waits up to `wait_ms` for it to end. True if it
// ended (or none ran); the learner may then be started again.
bool StopLearner(uint32_t wait_ms = 2000);

struct LearnerStatus {
  bool running;
  uint64_t windows;       // windows processed
  uint64_t cap_changes;   // CAP changes applied (all classes)
  uint64_t spans_released;  // idle spans handed back above a lowered CAP
  uint64_t wmax_changes;  // W_MAX changes applied (trials, reverts, adoptions)
  uint32_t wmax_incumbent;  // x100, 0 if W_MAX learning is off
};
LearnerStatus GetLearnerStatus();

}  // namespace hakmem::learner

#endif  // HAKMEM_LEARNER_LEARNER_H_
