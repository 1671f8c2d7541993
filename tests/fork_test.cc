// fork in a multi-threaded program: while other threads hammer the allocator
// (any of its locks may be held at the moment of the fork), the child must
// find a working, unlocked allocator. A child that deadlocks is killed by its
// own alarm and the test fails instead of hanging. First, while the process
// still has one thread: a parent of one thread takes no lock around its
// forks, and its child is a whole process (core/thread_heap.cc).
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <thread>
#include <vector>

#include "core/base/os.h"
#include "core/hakmem.h"
#include "gtest/gtest.h"
#include "tests/process_tasks.h"

namespace {

using hakmem::hak_alloc;
using hakmem::hak_alloc_aligned;
using hakmem::hak_free;
using hakmem::hak_realloc;

// Allocates, frees and reallocs across every tier until told to stop; some
// blocks are handed to the other hammer threads through `shared`.
void Hammer(std::atomic<bool>* stop, std::atomic<void*>* shared, size_t nshared,
            unsigned seed) {
  std::vector<void*> mine(64, nullptr);
  uint64_t x = seed * 2654435761u + 1;
  while (!stop->load(std::memory_order_relaxed)) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    void*& slot = mine[x % mine.size()];
    const size_t size = (x >> 8) % 100 == 0 ? (1u << 20) + (x >> 20) % 65536
                                             : 16 + (x >> 8) % 20000;
    switch ((x >> 40) % 4) {
      case 0:
        hak_free(slot);
        slot = hak_alloc(size);
        if (slot) static_cast<char*>(slot)[0] = 1;
        break;
      case 1:
        slot = hak_realloc(slot, size);
        break;
      case 2:
        slot = shared[(x >> 24) % nshared].exchange(slot, std::memory_order_acq_rel);
        break;
      default:
        hak_free(slot);
        slot = nullptr;
    }
  }
  for (void* p : mine) hak_free(p);
}

// Every tier, an aligned block, a realloc chain; 0 if all blocks held what
// was written.
int Work() {
  std::vector<void*> blocks;
  for (int i = 0; i < 2000; ++i) {
    const size_t size = 1 + static_cast<size_t>(i) * 97 % 40000;
    auto* p = static_cast<unsigned char*>(hak_alloc(size));
    if (p == nullptr) return 2;
    memset(p, i & 0xff, size);
    blocks.push_back(p);
  }
  for (size_t i = 0; i < blocks.size(); ++i) {
    const size_t size = 1 + i * 97 % 40000;
    auto* p = static_cast<unsigned char*>(blocks[i]);
    if (p[0] != (i & 0xff) || p[size - 1] != (i & 0xff)) return 3;
    hak_free(p);
  }
  void* big = hak_alloc(4 << 20);
  void* aligned = hak_alloc_aligned(1 << 16, 1000);
  if (big == nullptr || aligned == nullptr) return 4;
  memset(big, 1, 4 << 20);
  hak_free(big);
  hak_free(aligned);
  void* r = nullptr;
  for (size_t n = 8; n < (2u << 20); n *= 3) r = hak_realloc(r, n);
  hak_free(r);
  return 0;
}

// Waits for child `i`: it must have exited with 0, not been killed (by its
// own alarm: it deadlocked).
::testing::AssertionResult ReapedCleanly(pid_t pid, int i) {
  int status = 0;
  if (waitpid(pid, &status, 0) != pid) return ::testing::AssertionFailure() << "child " << i << " lost";
  if (!WIFEXITED(status)) {
    return ::testing::AssertionFailure()
           << "child " << i << " killed by signal " << WTERMSIG(status)
           << (WTERMSIG(status) == SIGALRM ? " (deadlocked)" : "");
  }
  if (WEXITSTATUS(status) != 0) {
    return ::testing::AssertionFailure() << "child " << i << " exited with " << WEXITSTATUS(status);
  }
  return ::testing::AssertionSuccess();
}

// A child's work, killed by its own alarm if it deadlocks.
int ChildWork() {
  alarm(20);
  return Work();
}

// Declared first: gtest runs a file's tests in order, and the next one starts
// threads, which the process then has for good.
TEST(Fork, ChildOfSingleThreadedParentIsAWholeProcess) {
  if (!hakmem::OsSingleThreaded()) GTEST_SKIP() << "the process has threads already";
  // Blocks of every tier the parent holds across the forks (children free
  // some), less than the 32 MiB that would start its decay thread.
  std::vector<void*> held;
  for (size_t size : {size_t{24}, size_t{3000}, size_t{200000}, size_t{3} << 19}) {
    for (int i = 0; i < 4; ++i) held.push_back(hak_alloc(size));
  }
  ASSERT_TRUE(hakmem::OsSingleThreaded());
  for (int i = 0; i < 20; ++i) {
    const bool last = i == 19;
    const pid_t pid = fork();
    ASSERT_NE(pid, -1);
    if (pid == 0) {
      alarm(20);
      for (size_t j = static_cast<size_t>(i) % 2; j < held.size(); j += 2) hak_free(held[j]);
      if (!last) {
        void* p = hak_alloc(100);
        void* q = hak_alloc(5000);
        hak_free(p);
        hak_free(q);
        _exit(p != nullptr && q != nullptr ? 0 : 1);
      }
      // The last child works in a thread of its own past the start delay: its
      // refills start the decay thread, as in any program (Work also maps over
      // 32 MiB, which does it too), where a threaded parent's child never
      // gets one.
      usleep(300 * 1000);
      int worker = -1;
      std::thread([&worker] { worker = Work(); }).join();
      if (worker != 0) _exit(20 + worker);
      _exit(hakmem_test::TaskAppears("hakmem-decay", 10000) ? 0 : 30);
    }
    ASSERT_TRUE(ReapedCleanly(pid, i));
  }
  // The handlers started nothing in the parent, which allocates on.
  EXPECT_TRUE(hakmem::OsSingleThreaded());
  EXPECT_EQ(Work(), 0);
  for (void* p : held) hak_free(p);
}

TEST(Fork, ChildOfBusyMultiThreadedParentAllocates) {
  std::atomic<bool> stop{false};
  std::vector<std::atomic<void*>> shared(32);
  for (auto& s : shared) s.store(nullptr);
  std::vector<std::thread> threads;
  for (unsigned t = 0; t < 3; ++t) {
    threads.emplace_back(Hammer, &stop, shared.data(), shared.size(), t + 1);
  }
  for (int i = 0; i < 30; ++i) {
    usleep(2000);
    const pid_t pid = fork();
    ASSERT_NE(pid, -1);
    if (pid == 0) _exit(ChildWork());
    ASSERT_TRUE(ReapedCleanly(pid, i));
    // The parent keeps allocating after every fork too.
    void* p = hak_alloc(1000);
    ASSERT_NE(p, nullptr);
    hak_free(p);
  }
  stop.store(true);
  for (auto& t : threads) t.join();
  for (auto& s : shared) hak_free(s.exchange(nullptr));
}

// A child that forks again (the atfork state must be reusable in the child).
TEST(Fork, GrandchildAllocates) {
  const pid_t pid = fork();
  ASSERT_NE(pid, -1);
  if (pid == 0) {
    alarm(20);
    void* p = hak_alloc(100);
    const pid_t inner = fork();
    if (inner == 0) _exit(ChildWork());
    int status = 0;
    if (inner < 0 || waitpid(inner, &status, 0) != inner) _exit(10);
    hak_free(p);
    _exit(WIFEXITED(status) ? WEXITSTATUS(status) : 11);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

}  // namespace
