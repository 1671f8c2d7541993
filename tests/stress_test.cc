// The multi-thread stress (tests/stress_workload.h) on the internal API; runs in
// the plain, ASan and TSan builds, where TSan checks hakmem's cross-thread frees.
#include <cstddef>

#include "core/hakmem.h"
#include "gtest/gtest.h"
#include "tests/stress_workload.h"

namespace {

struct HakAllocator {
  static void* Alloc(size_t n) { return hakmem::hak_alloc(n); }
  static void Free(void* p) { hakmem::hak_free(p); }
  static void* Realloc(void* p, size_t n) { return hakmem::hak_realloc(p, n); }
};

#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
constexpr int kIterations = 8000;
#else
constexpr int kIterations = 40000;
#endif

TEST(Stress, FourThreadsPassingBlocks) {
  hakmem_test::StressConfig cfg;
  cfg.threads = 4;
  cfg.rounds = 6;
  cfg.iterations = kIterations;
  hakmem_test::StressWorkload<HakAllocator> workload(cfg);
  EXPECT_EQ(workload.Run(), 0);
}

// Few slots and a small transfer array: blocks change hands constantly and
// most frees are remote.
TEST(Stress, MostlyRemoteFrees) {
  hakmem_test::StressConfig cfg;
  cfg.threads = 3;
  cfg.rounds = 4;
  cfg.iterations = kIterations;
  cfg.slots = 8;
  cfg.transfer_slots = 16;
  cfg.large_per_mille = 0;
  hakmem_test::StressWorkload<HakAllocator> workload(cfg);
  EXPECT_EQ(workload.Run(), 0);
}

}  // namespace
