// The process's resident memory (RSS) and its huge pages, for tests that check
// memory goes back or onto huge pages.
#ifndef HAKMEM_TESTS_RESIDENT_MEMORY_H_
#define HAKMEM_TESTS_RESIDENT_MEMORY_H_

#include <unistd.h>

#include <cstddef>
#include <cstdio>

namespace hakmem::test {

// Bytes resident now (/proc/self/statm); 0 if it cannot be read.
inline size_t ResidentBytes() {
  FILE* f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr) return 0;
  unsigned long size = 0, resident = 0;
  const int got = std::fscanf(f, "%lu %lu", &size, &resident);
  std::fclose(f);
  return got == 2 ? resident * static_cast<size_t>(sysconf(_SC_PAGESIZE)) : 0;
}

// Bytes of anonymous memory on transparent huge pages now
// (/proc/self/smaps_rollup's AnonHugePages); 0 if it cannot be read.
inline size_t AnonHugeBytes() {
  FILE* f = std::fopen("/proc/self/smaps_rollup", "r");
  if (f == nullptr) return 0;
  char line[256];
  unsigned long kib = 0;
  while (std::fgets(line, sizeof(line), f) != nullptr) {
    if (std::sscanf(line, "AnonHugePages: %lu kB", &kib) == 1) break;
  }
  std::fclose(f);
  return kib * size_t{1024};
}

}  // namespace hakmem::test

#endif  // HAKMEM_TESTS_RESIDENT_MEMORY_H_
