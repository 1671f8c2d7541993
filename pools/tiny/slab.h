// A slab: one span of 1..32 64 KiB units inside a SuperSlab, cut into blocks of
// one size class. Its metadata lives out of band, in the SuperSlab header, so
// block memory holds nothing but the free-list link while a block is free.
//
// Ownership: a slab belongs to one thread cache (its owner). Only the owner
// touches the owner-side fields, without atomics. Any other thread that frees
// a block pushes it onto `remote`, an MPSC list the owner drains.
//
// Full slabs: when the owner finds a slab with no free block it parks it
// (`parked_full` = true) and stops looking at it. The first remote free into a
// parked slab (the push that finds `remote` empty) un-parks it and sets the
// slab's class bit in the owner's revived mask, so the owner re-queues it on
// its next refill of that class without ever scanning full slabs otherwise.
// No list link is kept in the slab for this: a slab can be released and reused
// by another owner while a late notifier still holds a stale pointer to it. Both sides use seq_cst on the flag and the list head,
// so the owner's "park, then re-check remote" and the freer's "push, then check
// flag" cannot both miss each other.
#ifndef HAKMEM_POOLS_TINY_SLAB_H_
#define HAKMEM_POOLS_TINY_SLAB_H_

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "core/base/size_classes.h"
#include "sync/cache_line.h"
#include "sync/mpsc_list.h"

namespace hakmem::tiny {

class ThreadCache;
struct SuperSlab;

enum class SlabQueue : uint8_t { kNone, kPartial, kFull };

struct Slab {
  // First word: link in the idle-span stacks (pools/mid; TaggedStack keeps
  // its link in the first word of each element).
  void* idle_link;
  // --- read by every free (first cache line): constant while the slab is live ---
  std::atomic<ThreadCache*> owner;
  char* start;           // first block
  uint64_t div_magic;    // ceil(2^42 / block_size): offset -> block index
  uint32_t capacity;
  uint32_t block_size;
  uint8_t size_class;
  uint8_t first_unit;
  uint8_t units;
  SlabQueue queue;       // owner side
  std::atomic<bool> parked_full;

  // --- owner side ---
  void* local_free;      // free blocks known to the owner
  char* bump;            // next never-used block
  char* bump_end;        // end of the last whole block
  uint32_t used;         // blocks out of the slab (in a thread cache or the program)
  uint32_t local_count;  // blocks on local_free
  // Bit i: block i was handed out at an aligned address inside it (coloured
  // classes only, whose spans hold <= 64 blocks; see AlignedBase).
  std::atomic<uint64_t> aligned_blocks;
  Slab* prev;            // in the owner's per-class queue
  Slab* next;
  SuperSlab* superslab;

  // --- written by other threads: its own line ---
  alignas(sync::kCacheLineSize) sync::RemoteFreeList remote;
  // Blocks pushed on `remote` since the owner last took it: an estimate
  // (added after each push), for the bin's count when the owner takes the
  // list whole without walking it.
  std::atomic<uint32_t> remote_count;

  // Index of the block at byte `offset` from `start`, exact for offset < 2 MiB.
  uint32_t BlockIndex(uintptr_t offset) const {
    return static_cast<uint32_t>((offset * div_magic) >> 42);
  }
  // The start of the block containing p, if p was handed out as an aligned
  // pointer inside it (and forgets that, so a second free is caught); else nullptr.
  void* TakeAlignedBase(const void* p) {
    const uintptr_t off = reinterpret_cast<uintptr_t>(p) - reinterpret_cast<uintptr_t>(start);
    const uint32_t idx = BlockIndex(off);
    if (idx >= capacity || idx >= 64) return nullptr;
    const uint64_t bit = uint64_t{1} << idx;
    if ((aligned_blocks.fetch_and(~bit, std::memory_order_acq_rel) & bit) == 0) return nullptr;
    return start + size_t{idx} * block_size;
  }
  // Marks the block starting at `block` as handed out at an interior address.
  void MarkAligned(const void* block) {
    const uintptr_t off = reinterpret_cast<uintptr_t>(block) - reinterpret_cast<uintptr_t>(start);
    aligned_blocks.fetch_or(uint64_t{1} << BlockIndex(off), std::memory_order_relaxed);
  }
  // Bytes from p to the end of its block.
  size_t UsableFrom(const void* p) const {
    const uintptr_t off = reinterpret_cast<uintptr_t>(p) - reinterpret_cast<uintptr_t>(start);
    return block_size - (off - uintptr_t{BlockIndex(off)} * block_size);
  }
  // True if p is the start of a block of this slab (not interior, not past the end).
  bool IsBlockStart(const void* p) const {
    const uintptr_t off = reinterpret_cast<uintptr_t>(p) - reinterpret_cast<uintptr_t>(start);
    const uint32_t idx = BlockIndex(off);
    return idx < capacity && uintptr_t{idx} * block_size == off;
  }
};

// The header of a 2 MiB SuperSlab. Kept in hakmem's metadata pool; the range
// map points every SuperSlab's address range to it.
struct SuperSlab {
  char* base;                            // 2 MiB aligned
  uint32_t free_units;                   // bitmap: bit u set = unit u is free
  uint32_t resident_free;                // free units whose pages are still resident
  SuperSlab* next;                       // manager's list
  SuperSlab* prev;
  Slab* slab_of_unit[kUnitsPerSuperSlab];  // unit -> the Slab of its span
  Slab slabs[kUnitsPerSuperSlab];        // indexed by a span's first unit

  // The SuperSlab is 2 MiB aligned, so p's unit comes from p's own bits.
  Slab* SlabOf(const void* p) const {
    return slab_of_unit[(reinterpret_cast<uintptr_t>(p) >> kUnitShift) & (kUnitsPerSuperSlab - 1)];
  }
};

static_assert(offsetof(Slab, idle_link) == 0, "idle stacks keep their link in word 0");

}  // namespace hakmem::tiny

#endif  // HAKMEM_POOLS_TINY_SLAB_H_
