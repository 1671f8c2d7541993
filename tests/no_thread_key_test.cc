// A process that used up every pthread key before hakmem started: hakmem's
// thread-exit key cannot be created, and each thread's heap must still go
// back when the thread exits (hakmem falls back to glibc's thread_local
// destructor hook). The keys are taken by a constructor that runs before
// hakmem's start-up. No GoogleTest here: it needs keys of its own during
// static initialisation.
#include <pthread.h>
#include <stdio.h>

#include <thread>
#include <vector>

#include "core/hakmem.h"
#include "core/thread_heap.h"

namespace {

size_t g_keys_taken = 0;

__attribute__((constructor(101))) void TakeEveryKey() {
  pthread_key_t k;
  while (pthread_key_create(&k, nullptr) == 0) ++g_keys_taken;
}

int Fail(const char* what, unsigned long long got, unsigned long long want) {
  printf("FAIL: %s: got %llu, want %llu\n", what, got, want);
  return 1;
}

}  // namespace

int main() {
  if (g_keys_taken < 100) return Fail("keys taken before hakmem started", g_keys_taken, 100);
  const hakmem::HeapCounts before = hakmem::GetHeapCounts();
  for (int i = 0; i < 40; ++i) {
    std::thread([] {
      std::vector<void*> v;
      for (int j = 0; j < 100; ++j) v.push_back(hakmem::hak_alloc(16 + j * 40));
      for (void* p : v) hakmem::hak_free(p);
    }).join();
  }
  const hakmem::HeapCounts after = hakmem::GetHeapCounts();
  int failed = 0;
  if (after.created - before.created != 40) failed |= Fail("heaps set up", after.created - before.created, 40);
  if (after.exited - before.exited != 40) failed |= Fail("heaps returned at thread exit", after.exited - before.exited, 40);
  if (after.records - before.records > 2) failed |= Fail("new heap records (at most)", after.records - before.records, 2);
  if (!failed) printf("PASS: %zu keys were taken; 40 threads' heaps all came back\n", g_keys_taken);
  return failed;
}
