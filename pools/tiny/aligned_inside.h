// Aligned pointers handed out inside a block. An alignment beyond what a
// class's blocks keep, where no span of the class laid out at colour 0 can
// serve it (core/alloc.cc: AllocColourZeroClass; a thread whose heap is
// gone, no span to be had), is served from a block with room for it, at the
// first aligned address q past the block's start. The block's first word,
// which belongs to the block but not to the program, holds a marker: the
// free key xor q. free(q) finds the block containing q by its offset in the
// span (one multiply), checks the marker and clears it, so a second free of
// q, or a free of any other interior pointer, finds none and is reported as
// an interior pointer.
//
// Two choices keep it cheap:
//  - The marker shares the line of the block's link and free key, which the
//    allocation's pop and the free's push touch anyway. Kept in the 16 bytes
//    below q with q's distance from the block's start, it was a third line
//    touched at both ends.
//  - q is never the block's start, even in a block that starts aligned:
//    whether the fast path of free or FreeOther took a block, and whether
//    the allocation marked it, then no longer depends on which span it came
//    from (a coloured span's blocks start at 64-byte multiples), where it
//    was a branch mispredicted about every other time. It costs 16 bytes
//    more of block (AlignedInsideBlockBytes).
// (posix_memalign + free, one thread, 1024 blocks replaced at random, on the
// Intel Xeon of docs/BENCHMARKS.md, ns per pair, medians of 3: alignment 128
// with 200 bytes 17.8 -> 10.9, tcmalloc 6.0; 4096 with 16 .. 256 bytes
// 25.7 -> 16.8, tcmalloc 10.1.) A per-slab bitmap of such blocks cost an atomic
// read-modify-write at each end (any thread may free the block) and a
// range-map lookup at the allocation.
#ifndef HAKMEM_POOLS_TINY_ALIGNED_INSIDE_H_
#define HAKMEM_POOLS_TINY_ALIGNED_INSIDE_H_

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "core/base/range_map.h"
#include "pools/tiny/slab.h"

namespace hakmem::tiny {

// The bytes a block needs to hold `size` bytes at the first multiple of
// `alignment` past its start (at most `alignment` bytes in). A request of 0
// bytes counts as 1: the aligned address must lie inside the block, not at
// the next one's start.
inline size_t AlignedInsideBlockBytes(size_t size, size_t alignment) {
  return (size == 0 ? 1 : size) + alignment;
}

// The first aligned address past the start of `block`, a block in use of
// at least AlignedInsideBlockBytes, marked. Blocks start at multiples of 16,
// so the marker never reaches q, and the block holds q's first 16 bytes.
// q's second word is cleared: where a freed block of the memory's last use
// started at q, it still held the free key, and realloc(q, n) copies q's
// bytes, unwritten ones too, into its new block, which then read as free
// (malloc_usable_size 0, its free reported as a double free): a block of 2
// bytes at 32 KiB alignment, in memory whose 96 KiB blocks had started on
// such boundaries.
// The block's own key word becomes the host key (slab.h): free, realloc and
// malloc_usable_size of the block's start, which the program never got,
// are reported rather than freeing the block under q.
inline void* PlaceAlignedInside(void* block, size_t alignment) {
  const uintptr_t q = (reinterpret_cast<uintptr_t>(block) + alignment) & ~(alignment - 1);
  __atomic_store_n(static_cast<uint64_t*>(block), FreeKey() ^ q, __ATOMIC_RELAXED);
  KeyWord(block) = HostKey();
  KeyWord(reinterpret_cast<void*>(q)) = 0;
  return reinterpret_cast<void*>(q);
}

// The start of the block that q was handed out inside, or nullptr if q is
// not such a pointer, for a span whose first block is at `start`, with
// `carved` bytes carved into blocks of `block_size` (`div_c`: BlockTest);
// nothing outside the carved part is read. With kTake the marker and the
// host key are cleared: q is being freed, as its block (an ordinary block in
// use now).
enum class Marker : bool { kKeep, kTake };
inline void* AlignedInsideBaseIn(uintptr_t start, uint32_t carved, uint64_t block_size,
                                 uint64_t div_c, const void* q, Marker marker) {
  const uintptr_t off = reinterpret_cast<uintptr_t>(q) - start;
  if (off >= carved) return nullptr;
  // off % block_size from the fraction off * div_c (Lemire, Kaser and Kurz:
  // exact for offsets and sizes below 2^32).
  const uint64_t inside =
      static_cast<uint64_t>((static_cast<unsigned __int128>(off * div_c) * block_size) >> 64);
  if (inside == 0) return nullptr;
  auto* base = const_cast<char*>(static_cast<const char*>(q)) - inside;
  auto* mark = reinterpret_cast<uint64_t*>(base);
  if (__atomic_load_n(mark, __ATOMIC_RELAXED) != (FreeKey() ^ reinterpret_cast<uintptr_t>(q))) {
    return nullptr;
  }
  if (marker == Marker::kTake) {
    __atomic_store_n(mark, uint64_t{0}, __ATOMIC_RELAXED);
    __atomic_store_n(&KeyWord(base), uint64_t{0}, __ATOMIC_RELAXED);
  }
  return base;
}

// The same for a pointer into `slab`.
inline void* AlignedInsideBase(const Slab& slab, const void* q, Marker marker) {
  return AlignedInsideBaseIn(reinterpret_cast<uintptr_t>(slab.start), slab.Carved(),
                             slab.block_size, kBlockTests[slab.size_class].div_c, q, marker);
}

// The same from the digest of q's unit (core/base/range_map.h), as free's
// fast path read it: free(q) finds its block with no two-level lookup and no
// Slab record. A unit that is no slab's has nothing carved in its digest,
// and an entry read for an address outside the arena's window describes a
// span too far away: nullptr for both.
inline void* AlignedInsideBase(const SlabDigest& d, const void* q, Marker marker) {
  const BlockTest& t = BlockTestAt(d.class_offset.load(std::memory_order_relaxed));
  return AlignedInsideBaseIn(-d.neg_start.load(std::memory_order_relaxed),
                             d.carved.load(std::memory_order_relaxed), t.size, t.div_c, q, marker);
}

}  // namespace hakmem::tiny

#endif  // HAKMEM_POOLS_TINY_ALIGNED_INSIDE_H_
