// Byte patterns the API tests write into blocks and check afterwards.
#ifndef HAKMEM_TESTS_BYTE_PATTERNS_H_
#define HAKMEM_TESTS_BYTE_PATTERNS_H_

#include <cstddef>

namespace hakmem::test {

// Writes a pattern derived from `seed` into n bytes at p.
inline void FillPattern(void* p, size_t n, unsigned seed) {
  auto* b = static_cast<unsigned char*>(p);
  for (size_t i = 0; i < n; ++i) b[i] = static_cast<unsigned char>(seed + i * 7);
}

// True if the n bytes at p still hold FillPattern(seed).
inline bool HasPattern(const void* p, size_t n, unsigned seed) {
  const auto* b = static_cast<const unsigned char*>(p);
  for (size_t i = 0; i < n; ++i) {
    if (b[i] != static_cast<unsigned char>(seed + i * 7)) return false;
  }
  return true;
}

inline bool AllZero(const void* p, size_t n) {
  const auto* b = static_cast<const unsigned char*>(p);
  for (size_t i = 0; i < n; ++i) {
    if (b[i] != 0) return false;
  }
  return true;
}

}  // namespace hakmem::test

#endif  // HAKMEM_TESTS_BYTE_PATTERNS_H_
