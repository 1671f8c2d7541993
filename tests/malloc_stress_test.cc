// The multi-thread stress (stress_workload.h) through the exported names,
// with //preload:hakmem linked in: malloc, free and realloc are hakmem's.
// Tagged noasan/notsan (a sanitizer runtime would own these names).
#include <stdlib.h>

#include <cstddef>

#include "core/hakmem.h"
#include "gtest/gtest.h"
#include "tests/stress_workload.h"

namespace {

struct LibcAllocator {
  static void* Alloc(size_t n) { return malloc(n); }
  static void Free(void* p) { free(p); }
  static void* Realloc(void* p, size_t n) { return realloc(p, n); }
};

TEST(MallocStress, FourThreadsPassingBlocks) {
  void* probe = malloc(16);
  ASSERT_TRUE(hakmem::hak_owns(probe)) << "malloc is not hakmem's";
  free(probe);
  hakmem_test::StressConfig cfg;
  cfg.threads = 4;
  cfg.rounds = 6;
  cfg.iterations = 40000;
  EXPECT_EQ(hakmem_test::StressWorkload<LibcAllocator>(cfg).Run(), 0);
}

}  // namespace
