#include "bench/workload/identify.h"

#include <dlfcn.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace hakmem_bench {
namespace {

std::string ObjectOf(void* addr) {
  if (addr == nullptr) return "unresolved";
  Dl_info info;
  if (dladdr(addr, &info) == 0 || info.dli_fname == nullptr) return "unknown";
  // The main program shows up with an empty name on some loaders.
  if (info.dli_fname[0] == '\0') return "main-program";
  return info.dli_fname;
}

// Kept out of line so the compiler cannot fold the address into a constant:
// it reads the GOT entry this program's malloc calls go through.
__attribute__((noinline)) void* DirectMallocAddress() {
  void* (*volatile fn)(size_t) = &malloc;
  return reinterpret_cast<void*>(fn);
}

}  // namespace

AllocatorIdentity IdentifyAllocator() {
  AllocatorIdentity id;
  id.malloc_lib = ObjectOf(dlsym(RTLD_DEFAULT, "malloc"));
  id.free_lib = ObjectOf(dlsym(RTLD_DEFAULT, "free"));
  id.direct_lib = ObjectOf(DirectMallocAddress());
  return id;
}

uint64_t PeakRssKib() {
  FILE* f = fopen("/proc/self/status", "r");
  if (f == nullptr) return 0;
  char line[256];
  uint64_t kib = 0;
  while (fgets(line, sizeof line, f) != nullptr) {
    if (strncmp(line, "VmHWM:", 6) == 0) {
      kib = strtoull(line + 6, nullptr, 10);
      break;
    }
  }
  fclose(f);
  return kib;
}

std::string EscapeValue(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (c <= ' ' || c == '%' || c >= 0x7f) {
      char buf[4];
      snprintf(buf, sizeof buf, "%%%02X", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

}  // namespace hakmem_bench
