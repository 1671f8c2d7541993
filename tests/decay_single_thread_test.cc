// A program of one thread stays one while hakmem maps less than 32 MiB for
// its blocks: the decay thread would end glibc's single-threaded fast paths
// for good (stdio's locks, the cancellation points around read and write)
// and make unshare(CLONE_NEWUSER) fail. One that starts a thread of its own
// gets the decay thread at its next refill (core/decay.cc). A binary of its
// own: no other test may have started a thread first.
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <thread>
#include <vector>

#include "core/base/os.h"
#include "core/base/range_map.h"
#include "core/hakmem.h"
#include "core/stats.h"
#include "gtest/gtest.h"
#include "tests/process_tasks.h"

namespace hakmem {
namespace {

bool DecayThreadRunning() { return hakmem_test::TaskNamed("hakmem-decay"); }

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
  if (!OsSingleThreaded()) GTEST_SKIP() << "the process has threads already";
  AllocateAndFree(1);
  usleep(300 * 1000);  // past the start delay: a threaded program's next refill starts it
  AllocateAndFree(2);
  EXPECT_FALSE(DecayThreadRunning());
  EXPECT_TRUE(OsSingleThreaded());

  // A thread of the program's own, alive meanwhile (glibc's flag would stay
  // false after it ends too, but nothing here depends on that).
  std::atomic<bool> done{false};
  std::thread other([&done] {
    while (!done.load()) usleep(1000);
  });
  AllocateAndFree(3);
  const bool running = hakmem_test::TaskAppears("hakmem-decay", 10000);
  done.store(true);
  other.join();
  // Started for the thread, not for the size.
  EXPECT_LT(MappedBeyondTheTable(), uint64_t{32} << 20);
  EXPECT_TRUE(running);
}

}  // namespace
}  // namespace hakmem
