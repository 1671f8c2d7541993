// fork while the learner runs and other threads allocate: the child must get
// a working allocator, must not hang (its own alarm kills it otherwise), runs
// without a learner (and cannot start one), and keeps the learned CAPs; the
// parent's learner goes on.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <thread>
#include <vector>

#include "core/hakmem.h"
#include "gtest/gtest.h"
#include "learner/learner.h"
#include "pools/mid/pool_policy.h"

namespace hakmem::learner {
namespace {

LearnerSettings Fast() {
  LearnerSettings s;
  s.window_ms = 5;  // many windows, so forks land in the middle of passes
  s.idle_samples = 2;
  s.cap.dwell_windows = 1;
  s.cap.min_samples = 16;
  s.wmax_learn = true;  // trials in progress get dropped in the child
  s.wmax.min_samples = 16;
  s.wmax.trial_windows = 2;
  return s;
}

void Hammer(std::atomic<bool>* stop, unsigned seed) {
  std::vector<void*> live(128, nullptr);
  uint64_t x = seed * 2654435761u + 1;
  while (!stop->load(std::memory_order_relaxed)) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    void*& slot = live[x % live.size()];
    hak_free(slot);
    slot = hak_alloc(1024 + (x >> 20) % 40000);
    if (slot != nullptr) static_cast<char*>(slot)[0] = 1;
  }
  for (void* p : live) hak_free(p);
}

// The child's checks; 0 if all held.
int ChildWork(uint32_t wmax_incumbent) {
  alarm(20);
  if (GetLearnerStatus().running) return 2;
  if (StartLearner(Fast())) return 3;
  // W_MAX is the incumbent's, not a candidate's left over from a trial.
  if (wmax_incumbent != 0 && mid::PoolPolicy::WmaxX100(Tier::kMid) != wmax_incumbent) return 4;
  // Plenty of refills: core asks the learner to start after 256 of them; in
  // a child it must decline.
  std::vector<void*> blocks;
  for (int i = 0; i < 3000; ++i) {
    const size_t size = 16 + static_cast<size_t>(i) * 131 % 60000;
    void* p = hak_alloc(size);
    if (p == nullptr) return 5;
    memset(p, i & 0xff, size < 64 ? size : 64);
    blocks.push_back(p);
  }
  for (void* p : blocks) hak_free(p);
  if (GetLearnerStatus().running) return 6;
  return 0;
}

TEST(LearnerFork, ChildOfALearningParentWorksWithoutALearner) {
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  for (unsigned t = 0; t < 2; ++t) threads.emplace_back(Hammer, &stop, t + 1);
  ASSERT_TRUE(StartLearner(Fast()));
  for (int i = 0; i < 25; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(3));
    const pid_t pid = fork();
    ASSERT_NE(pid, -1);
    if (pid == 0) _exit(ChildWork(GetLearnerStatus().wmax_incumbent));
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status)) << "child " << i << " killed by signal " << WTERMSIG(status)
                                   << (WTERMSIG(status) == SIGALRM ? " (hung)" : "");
    ASSERT_EQ(WEXITSTATUS(status), 0) << "child " << i;
  }
  // The parent's learner is still at work.
  const uint64_t windows = GetLearnerStatus().windows;
  EXPECT_TRUE(GetLearnerStatus().running);
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (GetLearnerStatus().windows < windows + 3 && std::chrono::steady_clock::now() < end) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_GE(GetLearnerStatus().windows, windows + 3);
  stop.store(true);
  for (auto& t : threads) t.join();
  EXPECT_TRUE(StopLearner());
}

}  // namespace
}  // namespace hakmem::learner
