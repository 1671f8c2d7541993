// Which allocator is this process really using, and how much memory did it take?
// The runner refuses a result whose allocator is not the one it asked for.
#ifndef HAKMEM_BENCH_WORKLOAD_IDENTIFY_H_
#define HAKMEM_BENCH_WORKLOAD_IDENTIFY_H_

#include <cstdint>
#include <string>

namespace hakmem_bench {

struct AllocatorIdentity {
  // Shared object that defines the function each name resolves to, as the
  // dynamic loader sees it (dladdr of the resolved address). For LD_PRELOAD
  // this is the preloaded library's path; for glibc it is libc.so.6.
  std::string malloc_lib;  // dlsym(RTLD_DEFAULT, "malloc")
  std::string free_lib;    // dlsym(RTLD_DEFAULT, "free")
  std::string direct_lib;  // &malloc as this program's own calls bind it
};

AllocatorIdentity IdentifyAllocator();

// Peak resident set of this process (VmHWM), in KiB; 0 if unknown.
uint64_t PeakRssKib();

// Escapes spaces, '%' and control characters as %XX so a value stays one token.
std::string EscapeValue(const std::string& s);

}  // namespace hakmem_bench

#endif  // HAKMEM_BENCH_WORKLOAD_IDENTIFY_H_
