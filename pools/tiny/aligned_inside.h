// Aligned pointers handed out inside a block. An alignment beyond what a
// class's blocks keep is served from a block with room for it, at the
// aligned address q inside (core/alloc.cc: AllocAlignedInside). The 16 bytes
// below q, which belong to the block but not to the program, hold a marker:
// the free key xor q, and q's distance from the block's start. free(q) finds
// the block from the marker and clears it, so a second free of q, or a free
// of any other interior pointer, finds none and is reported as an interior
// pointer. Two plain stores in the line the allocation touches anyway and,
// at free, a load and a store: a per-slab bitmap of such blocks cost an
// atomic read-modify-write at each end (any thread may free the block) and
// a range-map lookup at the allocation.
//
// Blocks start at multiples of 16 (size_classes.h), so q != p leaves at
// least 16 bytes below q.
#ifndef HAKMEM_POOLS_TINY_ALIGNED_INSIDE_H_
#define HAKMEM_POOLS_TINY_ALIGNED_INSIDE_H_

#include <cstddef>
#include <cstdint>

#include "pools/tiny/slab.h"

namespace hakmem::tiny {

inline constexpr size_t kAlignedMarkerBytes = 16;

// Marks q, at least kAlignedMarkerBytes past `block`'s start and inside it,
// as handed out inside that block.
inline void MarkAlignedInside(void* block, void* q) {
  auto* m = reinterpret_cast<uint64_t*>(static_cast<char*>(q) - kAlignedMarkerBytes);
  __atomic_store_n(&m[0], FreeKey() ^ reinterpret_cast<uintptr_t>(q), __ATOMIC_RELAXED);
  __atomic_store_n(&m[1], static_cast<uint64_t>(static_cast<char*>(q) - static_cast<char*>(block)),
                   __ATOMIC_RELAXED);
}

// The start of the block of `slab` that q was handed out inside, or nullptr
// if q carries no marker (never read outside the slab's carved part). With
// kTake the marker is cleared: q is being freed.
enum class Marker : bool { kKeep, kTake };
inline void* AlignedInsideBase(const Slab& slab, const void* q, Marker marker) {
  const uintptr_t off = reinterpret_cast<uintptr_t>(q) - reinterpret_cast<uintptr_t>(slab.start);
  if (off < kAlignedMarkerBytes || off >= slab.Carved()) return nullptr;
  auto* m = reinterpret_cast<uint64_t*>(const_cast<char*>(static_cast<const char*>(q)) -
                                        kAlignedMarkerBytes);
  if (__atomic_load_n(&m[0], __ATOMIC_RELAXED) != (FreeKey() ^ reinterpret_cast<uintptr_t>(q))) {
    return nullptr;
  }
  const uint64_t distance = __atomic_load_n(&m[1], __ATOMIC_RELAXED);
  char* base = const_cast<char*>(static_cast<const char*>(q)) - distance;
  if (distance < kAlignedMarkerBytes || distance >= slab.block_size || !slab.IsCarvedBlockStart(base)) {
    return nullptr;
  }
  if (marker == Marker::kTake) __atomic_store_n(&m[0], uint64_t{0}, __ATOMIC_RELAXED);
  return base;
}

}  // namespace hakmem::tiny

#endif  // HAKMEM_POOLS_TINY_ALIGNED_INSIDE_H_
