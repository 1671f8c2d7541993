// free never changes errno, even when the kernel refuses to take memory back
// inside it. munmap, madvise and mincore are replaced in this binary (hakmem
// is linked in statically, so its OS layer calls these) to fail on demand, as
// munmap does with ENOMEM when splitting a mapping would exceed
// vm.max_map_count.
#include <errno.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <vector>

#include "core/base/config.h"
#include "core/base/size_classes.h"
#include "core/hakmem.h"
#include "gtest/gtest.h"
#include "pools/mid/pool_policy.h"

namespace {

std::atomic<bool> g_refuse{false};
std::atomic<int> g_refused{0};

}  // namespace

// The SuperSlab manager asks which pages of a span are resident before it
// gives them back (a span with hardly any is kept): refused, they go.
extern "C" int mincore(void* addr, size_t len, unsigned char* vec) {
  if (g_refuse.load()) {
    g_refused.fetch_add(1);
    errno = EAGAIN;
    return -1;
  }
  return static_cast<int>(syscall(SYS_mincore, addr, len, vec));
}

extern "C" int munmap(void* addr, size_t len) {
  if (g_refuse.load()) {
    g_refused.fetch_add(1);
    errno = ENOMEM;  // the mapping stays: only the test's memory leaks
    return -1;
  }
  return static_cast<int>(syscall(SYS_munmap, addr, len));
}

extern "C" int madvise(void* addr, size_t len, int advice) {
  if (g_refuse.load()) {
    g_refused.fetch_add(1);
    errno = EAGAIN;
    return -1;
  }
  return static_cast<int>(syscall(SYS_madvise, addr, len, advice));
}

namespace hakmem {
namespace {

TEST(FreeErrno, IsKeptWhenGivingSpansBackFails) {
  // An L2.5 class that keeps no idle spans: every emptied span goes back to
  // the SuperSlab manager, which decommits beyond its retain limit (3x
  // HAKMEM_POOL_RETAIN_BYTES in use: half of that peak stays resident) and
  // unmaps empty SuperSlabs beyond HAKMEM_SUPERSLAB_CACHE.
  // Written whole: a span with hardly a page resident is kept as it is
  // beyond the limit (no madvise call to refuse).
  const Config saved = GetConfig();
  Config config = saved;
  config.pool_retain_bytes = uint64_t{16} << 20;
  SetConfigForTesting(config);
  const size_t size = 500 * 1024;
  const int c = SizeToClass(size);
  mid::PoolPolicy::SetCap(c, 0);
  std::vector<void*> blocks;
  const size_t count = 3 * GetConfig().pool_retain_bytes / size;
  for (size_t i = 0; i < count; ++i) {
    blocks.push_back(hak_alloc(size));
    std::memset(blocks.back(), 1, size);
  }
  g_refuse = true;
  for (void* p : blocks) {
    errno = 4242;
    hak_free(p);
    ASSERT_EQ(errno, 4242);
  }
  g_refuse = false;
  EXPECT_GT(g_refused.load(), 0) << "no munmap/madvise ran inside free: the test tests nothing";
  SetConfigForTesting(saved);
  mid::PoolPolicy::SetCap(c, GetConfig().cap_large);
}

TEST(FreeErrno, IsKeptWhenUnmappingALargeBlockFails) {
  // Aligned beyond 2 MiB: a mapping of its own, never cached, unmapped on free.
  void* p = hak_alloc_aligned(size_t{4} << 20, size_t{6} << 20);
  ASSERT_NE(p, nullptr);
  const int before = g_refused.load();
  g_refuse = true;
  errno = 4242;
  hak_free(p);
  EXPECT_EQ(errno, 4242);
  g_refuse = false;
  EXPECT_GT(g_refused.load(), before);
}

}  // namespace
}  // namespace hakmem
