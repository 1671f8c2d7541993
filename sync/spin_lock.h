// SpinLock: a one-word lock for the allocator's short critical sections
// (refilling a class, registering a region). It never allocates, never calls
// into the kernel on the uncontended path, and is constant-initialised, so a
// global SpinLock is usable before any constructor has run (the first malloc
// can come from the dynamic loader).
//
// Algorithm: test-and-test-and-set. Lock() tries one atomic exchange; on
// failure the slow path waits by *reading* the word (the line stays shared in
// every waiter's cache instead of bouncing on each write attempt) and retries
// the exchange only once it reads "unlocked". Waiting uses exponential backoff
// with the CPU's pause hint, then sched_yield(): with more threads than cores
// (2 cores here) the holder may be descheduled, and spinning would only burn
// the quantum it needs.
#ifndef HAKMEM_SYNC_SPIN_LOCK_H_
#define HAKMEM_SYNC_SPIN_LOCK_H_

#include <sched.h>

#include <atomic>
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
    // A plain load first would save a write on a held lock, but the common
    // case is uncontended, where it only adds a load.
    return state_.exchange(kLocked, std::memory_order_acquire) == kUnlocked;
  }

  void Unlock() ABSL_UNLOCK_FUNCTION() {
    state_.store(kUnlocked, std::memory_order_release);
  }

  // For assertions only: racy by nature.
  bool IsLocked() const {
    return state_.load(std::memory_order_relaxed) != kUnlocked;
  }

  // In a fork child only one thread exists; a lock some other parent thread
  // held will never be released, so the child forces it open. Callers that
  // took the lock in a prefork handler may use this or Unlock().
  void ResetAfterFork() { state_.store(kUnlocked, std::memory_order_relaxed); }

 private:
  static constexpr uint32_t kUnlocked = 0;
  static constexpr uint32_t kLocked = 1;
  // Backoff doubles up to this many pauses per wait round (~a few µs)...
  static constexpr uint32_t kMaxPauses = 64;
  // ...and after this many rounds each round also yields the CPU.
  static constexpr uint32_t kRoundsBeforeYield = 32;

  // Out of line: keeps Lock() a few instructions wherever it is inlined. The
  // retry loop is beyond clang's analysis, hence the opt-out.
  __attribute__((noinline)) void LockSlow()
      ABSL_EXCLUSIVE_LOCK_FUNCTION() ABSL_NO_THREAD_SAFETY_ANALYSIS {
    uint32_t pauses = 1;
    uint32_t rounds = 0;
    for (;;) {
      // Test: wait with loads only until the lock looks free.
      while (state_.load(std::memory_order_relaxed) != kUnlocked) {
        if (rounds < kRoundsBeforeYield) {
          ++rounds;
          for (uint32_t i = 0; i < pauses; ++i) CpuRelax();
          if (pauses < kMaxPauses) pauses <<= 1;
        } else {
          sched_yield();
        }
      }
      // Test-and-set: may still lose the race to another waiter.
      if (TryLock()) return;
    }
  }

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
