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

#include "core/size_classes.h"
#include "sync/cache_line.h"
#include "sync/mpsc_list.h"

namespace hakmem::tiny {

class ThreadCache;
struct SuperSlab;

enum class SlabQueue : uint8_t { kNone, kPartial, kFull };

struct Slab {
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
  Slab* prev;            // in the owner's per-class queue
  Slab* next;
  SuperSlab* superslab;

  // --- written by other threads: its own line ---
  alignas(sync::kCacheLineSize) sync::RemoteFreeList remote;

  // Index of the block at byte `offset` from `start`, exact for offset < 2 MiB.
  uint32_t BlockIndex(uintptr_t offset) const {
    return static_cast<uint32_t>((offset * div_magic) >> 42);
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
  SuperSlab* next;                       // manager's list
  SuperSlab* prev;
  Slab* slab_of_unit[kUnitsPerSuperSlab];  // unit -> the Slab of its span
  Slab slabs[kUnitsPerSuperSlab];        // indexed by a span's first unit

  // The SuperSlab is 2 MiB aligned, so p's unit comes from p's own bits.
  Slab* SlabOf(const void* p) const {
    return slab_of_unit[(reinterpret_cast<uintptr_t>(p) >> kUnitShift) & (kUnitsPerSuperSlab - 1)];
  }
};

}  // namespace hakmem::tiny

#endif  // HAKMEM_POOLS_TINY_SLAB_H_
