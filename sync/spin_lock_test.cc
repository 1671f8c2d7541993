#include "sync/spin_lock.h"

#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
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

// More threads than the 2 cores, so holders get preempted and the yield path
// runs. A plain counter loses increments unless the lock excludes; the
// `inside` flag catches overlap directly.
TEST(SpinLock, MutualExclusion) {
#if defined(__SANITIZE_THREAD__)
  constexpr int kIters = 20000;
#else
  constexpr int kIters = 100000;
#endif
  constexpr int kThreads = 8;
  SpinLock lock;
  long counter = 0;
  std::atomic<int> inside{0};
  std::atomic<bool> overlap{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kIters; ++i) {
        SpinLockHolder h(&lock);
        if (inside.fetch_add(1, std::memory_order_relaxed) != 0) {
          overlap.store(true);
        }
        ++counter;
        inside.fetch_sub(1, std::memory_order_relaxed);
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_FALSE(overlap.load());
  EXPECT_EQ(counter, long{kThreads} * kIters);
}

}  // namespace
}  // namespace hakmem::sync
