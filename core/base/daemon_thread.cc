#include "core/base/daemon_thread.h"

#include <pthread.h>
#include <signal.h>

namespace hakmem {

int StartDaemonThread(void* (*fn)(void*), size_t stack_size) {
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_attr_setstacksize(&attr, stack_size);
  // The new thread inherits this mask: every signal blocked.
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  pthread_t tid;
  const int err = pthread_create(&tid, &attr, fn, nullptr);
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  pthread_attr_destroy(&attr);
  return err;
}

}  // namespace hakmem
