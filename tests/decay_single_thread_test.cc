// A program of one thread stays one while hakmem maps less than 32 MiB for
// its blocks: the decay thread would end glibc's single-threaded fast paths
// for good (stdio's locks, the cancellation points around read and write)
// and make unshare(CLONE_NEWUSER) fail. One that starts a thread of its own
// gets the decay thread at its next refill (core/decay.cc). A binary of its
// own: no other test may have started a thread first.
#include <dirent.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "core/base/range_map.h"
#include "core/hakmem.h"
#include "core/stats.h"
#include "gtest/gtest.h"

extern "C" char __libc_single_threaded __attribute__((weak));

namespace hakmem {
namespace {

bool GlibcSaysSingleThreaded() {
  return &__libc_single_threaded != nullptr && __libc_single_threaded != 0;
}

// Whether a task of this process is named "hakmem-decay".
bool DecayThreadRunning() {
  DIR* tasks = opendir("/proc/self/task");
  if (tasks == nullptr) return false;
  bool found = false;
  while (dirent* e = readdir(tasks)) {
    if (e->d_name[0] == '.') continue;
    const std::string path = std::string("/proc/self/task/") + e->d_name + "/comm";
    if (FILE* f = fopen(path.c_str(), "r")) {
      char name[32] = {};
      if (fgets(name, sizeof name, f) != nullptr) found |= strncmp(name, "hakmem-decay", 12) == 0;
      fclose(f);
    }
  }
  closedir(tasks);
  return found;
}

// What hakmem has mapped but the range map's window table (core/decay.cc).
uint64_t MappedBeyondTheTable() {
  Stats s;
  GetStats(&s);
  return s.bytes_mapped - (s.arena_bytes != 0 ? RangeMap::kWindowTableBytes : 0);
}

// Blocks of many classes, written and freed: refills (each may start the
// decay thread; more blocks of a class than its bin holds from the round
// before) and a few MiB of slabs, far below 32 MiB.
void AllocateAndFree(int round) {
  std::vector<void*> blocks;
  for (int i = 0; i < 4000 * round; ++i) {
    const size_t size = 16 + static_cast<size_t>(i % 97) * 8;
    char* p = static_cast<char*>(hak_alloc(size));
    ASSERT_NE(p, nullptr);
    memset(p, 1, size);
    blocks.push_back(p);
  }
  for (void* p : blocks) hak_free(p);
}

TEST(DecaySingleThread, AProgramOfOneThreadStaysOneUntilItStartsAThread) {
  if (!GlibcSaysSingleThreaded()) GTEST_SKIP() << "the process has threads already";
  AllocateAndFree(1);
  usleep(300 * 1000);  // past the start delay: a threaded program's next refill starts it
  AllocateAndFree(2);
  EXPECT_FALSE(DecayThreadRunning());
  EXPECT_TRUE(GlibcSaysSingleThreaded());

  // A thread of the program's own, alive meanwhile (glibc's flag would stay
  // false after it ends too, but nothing here depends on that).
  std::atomic<bool> done{false};
  std::thread other([&done] {
    while (!done.load()) usleep(1000);
  });
  AllocateAndFree(3);
  bool running = DecayThreadRunning();
  for (int waited_ms = 0; !running && waited_ms < 2000; waited_ms += 10) {
    usleep(10 * 1000);  // it names itself first thing
    running = DecayThreadRunning();
  }
  done.store(true);
  other.join();
  // Started for the thread, not for the size.
  EXPECT_LT(MappedBeyondTheTable(), uint64_t{32} << 20);
  EXPECT_TRUE(running);
}

}  // namespace
}  // namespace hakmem
