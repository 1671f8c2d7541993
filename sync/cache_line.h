// Cache-line size and a padding wrapper, so that hot atomics written by
// different threads (a lock word, a remote-free list head, a per-shard stack)
// never share a line and ping-pong between cores (false sharing).
#ifndef HAKMEM_SYNC_CACHE_LINE_H_
#define HAKMEM_SYNC_CACHE_LINE_H_

#include <cstddef>

namespace hakmem::sync {

// 64 bytes on every x86-64 and most AArch64 parts. Deliberately a constant and
// not std::hardware_destructive_interference_size: gcc warns that the latter
// may change between compiler versions (-Winterference-size), and a layout
// that depends on compiler flags is an ABI hazard for a preloaded library.
inline constexpr size_t kCacheLineSize = 64;

// Holds one T alone on its own cache line(s): alignment 64 and a size rounded
// up to a multiple of 64, so neighbours in an array or struct are not shared.
template <class T>
struct alignas(kCacheLineSize) CacheLinePadded {
  T value;

  T* operator->() { return &value; }
  const T* operator->() const { return &value; }
  T& operator*() { return value; }
  const T& operator*() const { return value; }
};

}  // namespace hakmem::sync

#endif  // HAKMEM_SYNC_CACHE_LINE_H_
