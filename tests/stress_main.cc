// The stress workload (stress_workload.h) on plain malloc/free/realloc, as a
// program: run under LD_PRELOAD=libhakmem.so by preload_stress_test. Prints
// "stress ok" and exits 0 when no block was corrupted.
#include <stdio.h>
#include <stdlib.h>

#include <cstddef>

#include "tests/stress_workload.h"

namespace {

struct LibcAllocator {
  static void* Alloc(size_t n) { return malloc(n); }
  static void Free(void* p) { free(p); }
  static void* Realloc(void* p, size_t n) { return realloc(p, n); }
};

}  // namespace

int main() {
  hakmem_test::StressConfig cfg;
  cfg.threads = 4;
  cfg.rounds = 6;
  cfg.iterations = 40000;
  const long errors = hakmem_test::StressWorkload<LibcAllocator>(cfg).Run();
  if (errors != 0) {
    printf("stress: %ld corrupt blocks\n", errors);
    return 1;
  }
  printf("stress ok\n");
  return 0;
}
