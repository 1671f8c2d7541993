// SpinLock: a one-word lock for the allocator's short critical sections
// (refilling a class, registering a region). It never allocates, never calls
// into the kernel on the uncontended path, and is constant-initialised with
// zero meaning unlocked, so a global SpinLock is usable before any constructor
// has run (the first malloc can come from the dynamic loader) and one in
// zeroed mmap'd metadata needs no set-up.
//
// Algorithm: spin briefly, then sleep in the kernel on a futex. The word has
// three states: 0 unlocked, 1 locked, 2 locked and a waiter may be asleep.
// Lock() tries one compare-exchange 0 -> 1. On failure the slow path waits by
// *reading* the word (the line stays shared in every waiter's cache instead of
// bouncing on each write attempt), with the CPU's pause hint and exponential
// backoff, for a bounded number of rounds: most holders are done by then, and
// a short wait costs no system call. Then it marks the word 2 and sleeps
// (FUTEX_WAIT_PRIVATE) until the word changes, retrying the exchange to 2
// each time it wakes. Unlock() exchanges the word to 0 and, only if it was 2,
// wakes one sleeper (FUTEX_WAKE_PRIVATE): an uncontended unlock makes no call.
//
// Why not spin and sched_yield(), as this lock once did: yielding only hands
// the CPU to another runnable thread of the same or higher priority. A
// waiter under SCHED_FIFO on one CPU whose lower-priority holder was preempted
// yields straight back to itself and never lets the holder run (a livelock),
// and under the normal scheduler with more threads than cores (2 here) a
// yielding waiter still burns CPU the holder needs. A futex waiter is off the
// run queue until the holder lets go.
//
// The futex calls never change errno as callers see it (free() must not):
// they save and restore it.
#ifndef HAKMEM_SYNC_SPIN_LOCK_H_
#define HAKMEM_SYNC_SPIN_LOCK_H_

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>

#include "absl/base/optimization.h"
#include "absl/base/thread_annotations.h"

namespace hakmem::sync {

// One "I am busy-waiting" hint to the CPU: lets the sibling hyper-thread run
// and avoids the memory-order mis-speculation penalty when the spin ends.
inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ __volatile__("yield" ::: "memory");
#else
  std::atomic_signal_fence(std::memory_order_seq_cst);  // compiler barrier
#endif
}

class ABSL_LOCKABLE SpinLock {
 public:
  // constexpr + zero state == unlocked: a global or a field in zeroed
  // (mmap'd) metadata is a valid unlocked lock with no constructor run.
  constexpr SpinLock() = default;
  SpinLock(const SpinLock&) = delete;
  SpinLock& operator=(const SpinLock&) = delete;

  void Lock() ABSL_EXCLUSIVE_LOCK_FUNCTION() ABSL_NO_THREAD_SAFETY_ANALYSIS {
    if (ABSL_PREDICT_TRUE(TryLock())) return;
    LockSlow();
  }

  bool TryLock() ABSL_EXCLUSIVE_TRYLOCK_FUNCTION(true) {
    // A compare-exchange, not an exchange to 1: that would turn a held 2
    // into 1 and the holder's Unlock would not wake the sleepers.
    uint32_t expected = kUnlocked;
    return state_.compare_exchange_strong(expected, kLocked, std::memory_order_acquire,
                                          std::memory_order_relaxed);
  }

  void Unlock() ABSL_UNLOCK_FUNCTION() {
    if (ABSL_PREDICT_FALSE(state_.exchange(kUnlocked, std::memory_order_release) ==
                           kLockedWaiters)) {
      WakeOne();
    }
  }

  // For assertions only: racy by nature.
  bool IsLocked() const {
    return state_.load(std::memory_order_relaxed) != kUnlocked;
  }

  // In a fork child only one thread exists; a lock some other parent thread
  // held will never be released, so the child forces it open (the parent's
  // sleepers did not come along). Callers that took the lock in a prefork
  // handler may use this or Unlock().
  void ResetAfterFork() { state_.store(kUnlocked, std::memory_order_relaxed); }

 private:
  static constexpr uint32_t kUnlocked = 0;
  static constexpr uint32_t kLocked = 1;
  static constexpr uint32_t kLockedWaiters = 2;
  // Backoff doubles up to this many pauses per spin round...
  static constexpr uint32_t kMaxPauses = 64;
  // ...for this many rounds (about 500 pauses, a few microseconds), then the
  // waiter sleeps.
  static constexpr uint32_t kSpinRounds = 12;

  // Out of line: keeps Lock() a few instructions wherever it is inlined. The
  // retry loop is beyond clang's analysis, hence the opt-out.
  __attribute__((noinline)) void LockSlow()
      ABSL_EXCLUSIVE_LOCK_FUNCTION() ABSL_NO_THREAD_SAFETY_ANALYSIS {
    uint32_t pauses = 1;
    for (uint32_t round = 0; round < kSpinRounds; ++round) {
      for (uint32_t i = 0; i < pauses; ++i) CpuRelax();
      if (pauses < kMaxPauses) pauses <<= 1;
      // Test, then test-and-set: may still lose the race to another waiter.
      // (A spinner that wins while others sleep leaves the word at 1; the
      // sleeper that wakes sets 2 again before it sleeps on.)
      if (state_.load(std::memory_order_relaxed) == kUnlocked && TryLock()) return;
    }
    // Mark "waiters" whenever we take the lock from here on: we cannot know
    // whether other sleepers remain, so our Unlock must wake one. Costs a
    // spare wake when none is left.
    while (state_.exchange(kLockedWaiters, std::memory_order_acquire) != kUnlocked) {
      WaitWhileLockedWaiters();
    }
  }

  // Sleeps unless the word has changed from 2 already (then returns at once);
  // a signal or a spurious wake also returns: the caller re-checks.
  __attribute__((noinline)) void WaitWhileLockedWaiters() {
    const int saved = errno;
    syscall(SYS_futex, Word(), FUTEX_WAIT_PRIVATE, kLockedWaiters, nullptr, nullptr, 0);
    errno = saved;
  }

  __attribute__((noinline)) void WakeOne() {
    const int saved = errno;
    syscall(SYS_futex, Word(), FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr, 0);
    errno = saved;
  }

  uint32_t* Word() { return reinterpret_cast<uint32_t*>(&state_); }

  static_assert(sizeof(std::atomic<uint32_t>) == sizeof(uint32_t) &&
                    std::atomic<uint32_t>::is_always_lock_free,
                "the futex word must be the atomic's own storage");

  std::atomic<uint32_t> state_{kUnlocked};
};

// RAII holder: locks in the constructor, unlocks in the destructor.
class ABSL_SCOPED_LOCKABLE SpinLockHolder {
 public:
  explicit SpinLockHolder(SpinLock* lock) ABSL_EXCLUSIVE_LOCK_FUNCTION(lock)
      : lock_(lock) {
    lock_->Lock();
  }
  ~SpinLockHolder() ABSL_UNLOCK_FUNCTION() { lock_->Unlock(); }
  SpinLockHolder(const SpinLockHolder&) = delete;
  SpinLockHolder& operator=(const SpinLockHolder&) = delete;

 private:
  SpinLock* const lock_;
};

}  // namespace hakmem::sync

#endif  // HAKMEM_SYNC_SPIN_LOCK_H_
