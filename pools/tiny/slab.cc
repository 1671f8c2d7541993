#include "pools/tiny/slab.h"

#include <sys/auxv.h>

#include <cstring>

namespace hakmem::tiny {

namespace slab_internal {
constinit std::atomic<uint64_t> g_free_key{0};
}  // namespace slab_internal

void InitFreeKey() {
  if (slab_internal::g_free_key.load(std::memory_order_relaxed) != 0) return;
  // The kernel's 16 random bytes for this process (no syscall, no allocation).
  uint64_t random[2] = {0x9E3779B97F4A7C15ull, 0};
  if (const void* at_random = reinterpret_cast<const void*>(getauxval(AT_RANDOM))) {
    std::memcpy(random, at_random, sizeof(random));
  }
  uint64_t key = random[0] ^ (random[1] * 0xBF58476D1CE4E5B9ull);
  // Bit 63 set: a kernel-half value, so neither a pointer the program holds
  // nor a small count ever equals it; the lowest byte is what the fast paths
  // compare (kFreeKeyByte).
  key = (key & ~uint64_t{0xff}) | (uint64_t{1} << 63) | kFreeKeyByte;
  uint64_t expected = 0;
  slab_internal::g_free_key.compare_exchange_strong(expected, key, std::memory_order_relaxed);
}

}  // namespace hakmem::tiny
