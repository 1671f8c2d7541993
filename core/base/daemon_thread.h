// hakmem's own background threads (the decay thread, the learner): detached,
// a small stack, and every signal blocked, so that the program's signals are
// always delivered to its own threads. Started from an allocation slow path
// with no hakmem lock held (pthread_create allocates).
#ifndef HAKMEM_CORE_BASE_DAEMON_THREAD_H_
#define HAKMEM_CORE_BASE_DAEMON_THREAD_H_

#include <cstddef>

namespace hakmem {

// Starts fn(nullptr) on such a thread. Returns pthread_create's error (0: ok).
int StartDaemonThread(void* (*fn)(void*), size_t stack_size);

}  // namespace hakmem

#endif  // HAKMEM_CORE_BASE_DAEMON_THREAD_H_
