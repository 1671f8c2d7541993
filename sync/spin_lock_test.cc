#include "sync/spin_lock.h"

#include <errno.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace hakmem::sync {
namespace {

// Guards the claim that a global needs no dynamic initialisation.
constinit SpinLock g_lock;

TEST(SpinLock, ZeroInitialisedIsUnlocked) {
  EXPECT_FALSE(g_lock.IsLocked());
  alignas(SpinLock) unsigned char raw[sizeof(SpinLock)] = {};
  auto* zeroed = reinterpret_cast<SpinLock*>(raw);  // as in mmap'd metadata
  EXPECT_TRUE(zeroed->TryLock());
  zeroed->Unlock();
}

TEST(SpinLock, TryLockFailsWhileHeld) {
  SpinLock lock;
  ASSERT_TRUE(lock.TryLock());
  EXPECT_TRUE(lock.IsLocked());
  EXPECT_FALSE(lock.TryLock());
  lock.Unlock();
  EXPECT_FALSE(lock.IsLocked());
  EXPECT_TRUE(lock.TryLock());
  lock.Unlock();
}

TEST(SpinLock, HolderUnlocksAtScopeExit) {
  SpinLock lock;
  {
    SpinLockHolder h(&lock);
    EXPECT_TRUE(lock.IsLocked());
  }
  EXPECT_FALSE(lock.IsLocked());
}

TEST(SpinLock, ResetAfterForkOpensALockHeldInTheParent) {
  g_lock.Lock();  // as if another parent thread held it at fork time
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    g_lock.ResetAfterFork();
    if (!g_lock.TryLock()) _exit(1);
    g_lock.Unlock();
    _exit(0);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  g_lock.Unlock();
}

#if defined(__SANITIZE_THREAD__)
constexpr int kScale = 5;  // TSan runs the loops ~5x slower
#else
constexpr int kScale = 1;
#endif

// Threads hammering one lock, checking that it excludes: a plain counter loses
// increments unless it does, and the `inside` flag catches overlap directly.
// `hold_pauses` lengthens the critical section so waiters exhaust the spin
// and sleep in the kernel. Returns the threads' voluntary context switches
// (sleeps; a sched_yield is not one).
long Contend(int threads, int iters, int hold_pauses) {
  SpinLock lock;
  long counter = 0;
  std::atomic<int> inside{0};
  std::atomic<bool> overlap{false};
  std::atomic<long> sleeps{0};
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&] {
      rusage before;
      getrusage(RUSAGE_THREAD, &before);
      for (int i = 0; i < iters; ++i) {
        SpinLockHolder h(&lock);
        if (inside.fetch_add(1, std::memory_order_relaxed) != 0) {
          overlap.store(true);
        }
        ++counter;
        for (int p = 0; p < hold_pauses; ++p) CpuRelax();
        inside.fetch_sub(1, std::memory_order_relaxed);
      }
      rusage after;
      getrusage(RUSAGE_THREAD, &after);
      sleeps.fetch_add(after.ru_nvcsw - before.ru_nvcsw);
    });
  }
  for (auto& th : pool) th.join();
  EXPECT_FALSE(overlap.load());
  EXPECT_EQ(counter, long{threads} * iters);
  EXPECT_FALSE(lock.IsLocked());
  return sleeps.load();
}

// More threads than the 2 cores, so holders get preempted while others wait.
TEST(SpinLock, MutualExclusion) { Contend(8, 100000 / kScale, 0); }

// Long holds: most waiters run out of spin rounds and sleep on the futex, so
// the wake path (state 2) runs all the time.
TEST(SpinLock, MutualExclusionWithSleepingWaiters) {
  EXPECT_GT(Contend(6, 2000 / kScale, 1500), 0) << "no waiter ever slept";
}

uint64_t Nanos(clockid_t clock) {
  timespec ts;
  clock_gettime(clock, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000 + static_cast<uint64_t>(ts.tv_nsec);
}

// Global: if a broken lock never wakes the waiter, the test fails and leaves
// the thread behind without it pointing at a dead stack frame.
constinit SpinLock g_sleep_lock;

// A waiter for a lock held ~200 ms must sleep in the kernel, not spin or
// yield: its CPU time stays far below the time it waited. (A sched_yield
// loop burns the whole wait on an idle core.) A TryLock meanwhile must not
// hide the sleeper from the Unlock that follows.
TEST(SpinLock, WaiterSleepsInTheKernel) {
  g_sleep_lock.Lock();
  std::atomic<bool> started{false};
  std::atomic<bool> done{false};
  uint64_t wall_ns = 0;
  uint64_t cpu_ns = 0;
  std::thread waiter([&] {
    const uint64_t wall0 = Nanos(CLOCK_MONOTONIC);
    const uint64_t cpu0 = Nanos(CLOCK_THREAD_CPUTIME_ID);
    started.store(true);
    g_sleep_lock.Lock();
    cpu_ns = Nanos(CLOCK_THREAD_CPUTIME_ID) - cpu0;
    wall_ns = Nanos(CLOCK_MONOTONIC) - wall0;
    g_sleep_lock.Unlock();
    done.store(true);
  });
  while (!started.load()) usleep(1000);
  usleep(100 * 1000);
  EXPECT_FALSE(g_sleep_lock.TryLock());  // held: fails, and keeps the waiters mark
  usleep(100 * 1000);
  g_sleep_lock.Unlock();
  for (int i = 0; i < 10000 && !done.load(); ++i) usleep(1000);
  if (!done.load()) {
    waiter.detach();
    FAIL() << "the waiter was never woken";
  }
  waiter.join();
  EXPECT_GE(wall_ns, 150u * 1000 * 1000);
  EXPECT_LT(cpu_ns * 10, wall_ns) << "waited " << wall_ns / 1000000 << " ms, on CPU "
                                  << cpu_ns / 1000000 << " ms";
}

// The futex calls must not leak their errno (EAGAIN when the word changed
// first, EINTR) to callers: free() never changes errno. Each thread keeps
// its own sentinel in errno across contended Lock and Unlock.
TEST(SpinLock, ErrnoSurvivesContendedLockAndUnlock) {
  SpinLock lock;
  long counter = 0;
  std::atomic<bool> changed{false};
  std::vector<std::thread> pool;
  for (int t = 0; t < 4; ++t) {
    pool.emplace_back([&, t] {
      const int sentinel = 1000 + t;
      for (int i = 0; i < 5000 / kScale; ++i) {
        errno = sentinel;
        lock.Lock();
        if (errno != sentinel) changed.store(true);
        ++counter;
        for (int p = 0; p < 500; ++p) CpuRelax();  // holds long enough to make waiters sleep
        lock.Unlock();
        if (errno != sentinel) changed.store(true);
      }
    });
  }
  for (auto& th : pool) th.join();
  EXPECT_FALSE(changed.load());
  EXPECT_EQ(counter, 4L * (5000 / kScale));

  // And one deterministic round: a waiter surely asleep, woken by our Unlock.
  lock.Lock();
  std::atomic<int> waiter_errno{0};
  std::thread waiter([&] {
    errno = 4242;
    lock.Lock();
    waiter_errno.store(errno);
    lock.Unlock();
  });
  usleep(100 * 1000);  // the waiter is asleep on the futex by now
  errno = 2424;
  lock.Unlock();  // wakes it
  EXPECT_EQ(errno, 2424);
  waiter.join();
  EXPECT_EQ(waiter_errno.load(), 4242);
}

}  // namespace
}  // namespace hakmem::sync
