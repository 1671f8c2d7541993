// fork against stdio, through the exported malloc (//preload:hakmem linked
// in; tagged noasan/notsan). glibc's fork runs the pthread_atfork prepare
// handlers (hakmem's takes every hakmem lock) and only then takes stdio's
// list lock. Without care this closes a cycle:
//   forking thread:      holds hakmem's locks, waits for the list lock
//   fflush(NULL) thread: holds the list lock, waits for a FILE's lock
//   getline thread:      holds that FILE's lock, reallocs its line buffer
//                        (> 1 MiB: the Large tier's lock), waits for hakmem
// hakmem's prepare handler takes the list lock first (core/thread_heap.cc).
//
// The scenario runs in a child process for kRunSeconds; its main thread
// watches every worker's progress and exits with kExitHang when one stalls.
// The test process waits with a deadline of its own and kills a child that
// did not even manage that.
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include "core/hakmem.h"
#include "gtest/gtest.h"

namespace {

constexpr size_t kLineBytes = 3 << 20;  // above 1 MiB: the Large tier
constexpr int kLines = 2;
constexpr int kRunSeconds = 8;
constexpr int kStallSeconds = 4;   // a worker without progress this long hangs
constexpr int kDeadlineSeconds = 40;  // the test process's own limit

constexpr int kExitHang = 3;
constexpr int kExitForkChildFailed = 4;
constexpr int kExitReadFailed = 5;
constexpr int kExitSetUp = 6;

std::string DataPath() {
  const char* dir = getenv("TEST_TMPDIR");
  return std::string(dir != nullptr ? dir : "/tmp") + "/fork_stdio_lines.txt";
}

void WriteDataFile(const std::string& path) {
  FILE* f = fopen(path.c_str(), "w");
  ASSERT_NE(f, nullptr) << path;
  std::vector<char> line(kLineBytes, 'x');
  line.back() = '\n';
  for (int i = 0; i < kLines; ++i) {
    ASSERT_EQ(fwrite(line.data(), 1, line.size(), f), line.size());
  }
  ASSERT_EQ(fclose(f), 0);
}

uint64_t NowMs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000 + static_cast<uint64_t>(ts.tv_nsec) / 1000000;
}

// No stdio in the scenario process's reports: stdio's locks are what may be stuck.
void Say(const char* msg) {
  ssize_t ignored = write(2, msg, strlen(msg));
  (void)ignored;
}

struct Scenario {
  const char* path;
  std::atomic<bool> stop{false};
  std::atomic<int> failure{0};
  std::atomic<int> finished{0};  // workers that saw `stop` and returned
  static constexpr int kWorkers = 4;
  static constexpr const char* kNames[kWorkers] = {"forker", "getline 1", "getline 2",
                                                   "fflush(NULL)+fopen"};
  std::atomic<uint64_t> progress[kWorkers] = {};
  std::atomic<bool> done[kWorkers] = {};

  void Finish(int id) {
    done[id].store(true);
    finished.fetch_add(1);
  }
};

// Forks in a loop; each child mallocs 3 MiB (the Large tier's lock, which the
// prepare handler took and the child handler reset) and exits.
void Forker(Scenario* s, int id) {
  while (!s->stop.load(std::memory_order_relaxed)) {
    const pid_t pid = fork();
    if (pid == 0) {
      alarm(10);  // a child that deadlocks dies and is reported
      auto* p = static_cast<char*>(malloc(kLineBytes));
      if (p == nullptr) _exit(1);
      memset(p, 1, kLineBytes);
      free(p);
      _exit(0);
    }
    int status = 0;
    if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
        WEXITSTATUS(status) != 0) {
      s->failure.store(kExitForkChildFailed);
    }
    s->progress[id].fetch_add(1, std::memory_order_relaxed);
  }
  s->Finish(id);
}

// getline grows its buffer with realloc while it holds the FILE's lock.
void Reader(Scenario* s, int id) {
  while (!s->stop.load(std::memory_order_relaxed)) {
    FILE* f = fopen(s->path, "r");
    if (f == nullptr) {
      s->failure.store(kExitReadFailed);
      break;
    }
    char* line = nullptr;
    size_t cap = 0;
    int lines = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, f)) > 0) {
      if (static_cast<size_t>(n) != kLineBytes) s->failure.store(kExitReadFailed);
      ++lines;
      s->progress[id].fetch_add(1, std::memory_order_relaxed);
    }
    if (lines != kLines) s->failure.store(kExitReadFailed);
    free(line);
    fclose(f);
  }
  s->Finish(id);
}

// fflush(NULL) holds the list lock while it takes each FILE's lock in turn.
void Flusher(Scenario* s, int id) {
  while (!s->stop.load(std::memory_order_relaxed)) {
    fflush(nullptr);
    FILE* f = fopen(s->path, "r");
    if (f != nullptr) fclose(f);
    s->progress[id].fetch_add(1, std::memory_order_relaxed);
  }
  s->Finish(id);
}

// The scenario process: returns its exit code.
int RunScenario(const char* path) {
  static Scenario s;  // threads may still be stuck on it when we _exit
  s.path = path;
  std::vector<std::thread> threads;
  threads.emplace_back(Forker, &s, 0);
  threads.emplace_back(Reader, &s, 1);
  threads.emplace_back(Reader, &s, 2);
  threads.emplace_back(Flusher, &s, 3);

  uint64_t last[Scenario::kWorkers] = {};
  const uint64_t start = NowMs();
  uint64_t changed[Scenario::kWorkers];
  for (uint64_t& c : changed) c = start;
  for (;;) {
    usleep(100 * 1000);
    const uint64_t now = NowMs();
    const bool stopping = now - start >= kRunSeconds * 1000;
    if (stopping) s.stop.store(true);
    if (s.finished.load() == Scenario::kWorkers) break;
    for (int i = 0; i < Scenario::kWorkers; ++i) {
      const uint64_t p = s.progress[i].load(std::memory_order_relaxed);
      if (s.done[i].load()) continue;
      if (p != last[i]) {
        last[i] = p;
        changed[i] = now;
      } else if (now - changed[i] >= kStallSeconds * 1000) {
        Say("fork_stdio_test: no progress for 4 s in the ");
        Say(Scenario::kNames[i]);
        Say(" thread: deadlock\n");
        _exit(kExitHang);
      }
    }
  }
  for (auto& t : threads) t.join();
  for (const auto& p : s.progress) {
    if (p.load() == 0) return kExitSetUp;  // a worker never got going
  }
  return s.failure.load();
}

// The premise: libc's own allocations (getline's buffer) come from hakmem.
TEST(ForkStdio, GetlineBufferIsHakmems) {
  const std::string path = DataPath();
  WriteDataFile(path);
  FILE* f = fopen(path.c_str(), "r");
  ASSERT_NE(f, nullptr);
  char* line = nullptr;
  size_t cap = 0;
  ASSERT_EQ(getline(&line, &cap, f), static_cast<ssize_t>(kLineBytes));
  EXPECT_TRUE(hakmem::hak_owns(line)) << "getline's buffer is not hakmem's";
  free(line);
  fclose(f);
}

TEST(ForkStdio, ForkWhileGetlineReallocsAndFflushAllRuns) {
  const std::string path = DataPath();
  WriteDataFile(path);
  fflush(nullptr);  // nothing buffered for the child to write twice
  const pid_t pid = fork();
  ASSERT_NE(pid, -1);
  if (pid == 0) _exit(RunScenario(path.c_str()));

  const uint64_t deadline = NowMs() + kDeadlineSeconds * 1000;
  int status = 0;
  pid_t got = 0;
  while ((got = waitpid(pid, &status, WNOHANG)) == 0 && NowMs() < deadline) {
    usleep(50 * 1000);
  }
  if (got == 0) {
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    FAIL() << "the scenario process hung for " << kDeadlineSeconds << " s (deadlock)";
  }
  ASSERT_EQ(got, pid);
  ASSERT_TRUE(WIFEXITED(status)) << "scenario killed by signal " << WTERMSIG(status);
  switch (WEXITSTATUS(status)) {
    case 0:
      break;
    case kExitHang:
      FAIL() << "deadlock: a thread stopped making progress (fork vs stdio's locks)";
    case kExitForkChildFailed:
      FAIL() << "a fork child failed or deadlocked in malloc";
    case kExitReadFailed:
      FAIL() << "getline read wrong lines";
    case kExitSetUp:
      FAIL() << "a worker thread never made progress";
    default:
      FAIL() << "scenario exited with " << WEXITSTATUS(status);
  }
}

}  // namespace
