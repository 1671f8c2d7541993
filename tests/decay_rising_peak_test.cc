// While a program's peak RSS climbs in memory it maps itself (not through
// hakmem: Python's object arenas, V8's heap), the free memory hakmem keeps
// goes back once it has been unused for a moment instead of after
// HAKMEM_DECAY_MS (core/decay.cc); while the peak stands still it stays for
// reuse. A binary of its own: the decay thread must read the long delay set
// here, and no other test's memory may move the process's footprint. The
// tests run in this order; the second grows past the high the first left.
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <vector>

#include "core/base/clock.h"
#include "core/base/config.h"
#include "core/decay.h"
#include "core/hakmem.h"
#include "gtest/gtest.h"
#include "pools/large/large_tier.h"
#include "pools/tiny/superslab_manager.h"

namespace hakmem {
namespace {

constexpr size_t kMiB = size_t{1} << 20;
constexpr uint64_t kDecayMs = 20000;

void* AllocTouched(size_t size) {
  void* p = hak_alloc(size);
  if (p != nullptr) std::memset(p, 1, size);
  return p;
}

// Every test runs with a delay far beyond it (decay gives nothing back), set
// once before the decay thread starts: it reads the configuration, which must
// not change under it.
void LongDelay() {
  static const bool set = [] {
    Config c = GetConfig();
    c.decay_ms = kDecayMs;
    SetConfigForTesting(c);
    return true;
  }();
  (void)set;
}

// Growth through hakmem is no rise elsewhere, also where the program writes
// its big buffers a while after they were mapped (the credit, and two rises
// in a row): free units stay for reuse while big buffers grow 96 MiB.
TEST(DecayRisingPeak, GrowthThroughHakmemKeepsTheFreeMemory) {
  LongDelay();
  // 40 MiB mapped start the decay thread at once; trimmed, they leave nothing.
  hak_free(AllocTouched(40 * kMiB));
  hak_trim(0);
  std::vector<void*> blocks;
  for (int i = 0; i < 32; ++i) blocks.push_back(AllocTouched(512 * 1024));
  for (void* p : blocks) ASSERT_NE(p, nullptr);
  for (void* p : blocks) hak_free(p);
  ASSERT_GE(tiny::ResidentFreeBytes(), 8 * kMiB);
  usleep(1200 * 1000);  // the decay thread's first look, its baseline
  std::vector<char*> buffers;
  for (int i = 0; i < 4; ++i) {
    char* p = static_cast<char*>(hak_alloc(24 * kMiB));
    ASSERT_NE(p, nullptr);
    buffers.push_back(p);
    for (size_t off = 0; off < 24 * kMiB; off += 4 * kMiB) {
      std::memset(p + off, 1, 4 * kMiB);
      usleep(40 * 1000);
    }
  }
  usleep(1200 * 1000);  // a look after the last write
#if !defined(__SANITIZE_THREAD__)
  EXPECT_GE(tiny::ResidentFreeBytes(), 8 * kMiB);
  EXPECT_EQ(GetRisingGiveBacks().count, 0u);
#endif
  for (char* p : buffers) hak_free(p);
  hak_trim(0);
}

TEST(DecayRisingPeak, FreeMemoryGoesBackWhenTheProgramGrowsElsewhere) {
  LongDelay();
  // Big buffers (the big cache) and 512 KiB blocks (free units of the
  // SuperSlabs), freed.
  std::vector<void*> blocks;
  for (int i = 0; i < 6; ++i) blocks.push_back(AllocTouched(8 * kMiB));
  for (int i = 0; i < 32; ++i) blocks.push_back(AllocTouched(512 * 1024));
  for (void* p : blocks) ASSERT_NE(p, nullptr);
  for (void* p : blocks) hak_free(p);
  const uint64_t freed_ms = NowMs();
  ASSERT_GE(large::GetLargeStats().cached_bytes, 40 * kMiB);
  ASSERT_GE(tiny::ResidentFreeBytes(), 8 * kMiB);

  // A while with the peak standing still (the decay thread looks at it
  // every second here): everything stays for reuse. Under TSan the shadow
  // of what the test touched grows too, which is growth elsewhere.
  usleep(1500 * 1000);
#if !defined(__SANITIZE_THREAD__)
  EXPECT_GE(large::GetLargeStats().cached_bytes, 40 * kMiB);
  EXPECT_GE(tiny::ResidentFreeBytes(), 8 * kMiB);
#endif

  // The program grows in a mapping of its own, 2 MiB every 20 ms, until
  // hakmem has given its free memory back (two looks of the decay thread
  // that see the footprint rise elsewhere; the first may come a second after
  // the growth began, and the footprint must first pass the high the test
  // before left) or a deadline.
  constexpr size_t kGrowth = 1024 * kMiB;
  char* own = static_cast<char*>(mmap(nullptr, kGrowth, PROT_READ | PROT_WRITE,
                                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0));
  ASSERT_NE(own, MAP_FAILED);
  auto given_back = [] {
    return GetRisingGiveBacks().count != 0 && large::GetLargeStats().cached_bytes == 0 &&
           tiny::ResidentFreeBytes() < 4 * kMiB;
  };
  const uint64_t deadline = freed_ms + kDecayMs / 2;
  for (size_t grown = 0; !given_back() && grown < kGrowth && NowMs() < deadline;
       grown += 2 * kMiB) {
    std::memset(own + grown, 1, 2 * kMiB);
    usleep(20 * 1000);
  }
  EXPECT_EQ(large::GetLargeStats().cached_bytes, 0u);
  EXPECT_LT(tiny::ResidentFreeBytes(), 4 * kMiB);
  EXPECT_LT(NowMs(), freed_ms + kDecayMs / 2) << "given back by decay, not by the rise";
  // The decay thread counts a give-back's bytes once they are gone, and the
  // loop may have stopped on an earlier give-back's count (under TSan, its
  // shadow's growth makes some before this one): a moment for the last.
  for (const uint64_t until = NowMs() + 2000;
       GetRisingGiveBacks().bytes < 40 * kMiB && NowMs() < until;) {
    usleep(10 * 1000);
  }
  EXPECT_GE(GetRisingGiveBacks().bytes, 40 * kMiB);
  munmap(own, kGrowth);
}

}  // namespace
}  // namespace hakmem
