// A slab: one span of 1..32 64 KiB units inside a SuperSlab, cut into blocks of
// one size class. Its metadata lives out of band, in the SuperSlab header; the
// range map (core/base/range_map.h) points each unit of the span at it, and
// each unit's entry carries a digest of the fields free(p) checks (start,
// owner, carved, size_class; PublishDigest keeps it in step), so the free
// fast path reads one metadata line, not two. Block memory holds nothing while a block is
// in use; a free block holds two words:
//   word 0: the free-list link (whichever list it is on: a bin, the slab's
//           local list, its remote list, a pending chain);
//   word 1: the free key, a per-process random value (FreeKey()). Every free
//           path checks it before linking the block and sets it; handing a
//           block out clears it. So a second free of a block that is free
//           anywhere (any bin, any thread, any list) is caught before it is
//           linked twice, at the cost of one load and one store in a line the
//           free writes anyway. Blocks are carved with the key set, so a block
//           start that was never handed out reads as free too; and a pointer
//           past the carved part of the slab is refused by its offset.
//
// Ownership: a slab belongs to one thread cache (its owner). Only the owner
// touches the owner-side fields, without atomics, under its cache's slab lock
// (which a decay pass also takes, to give back an idle owner's emptied spans:
// ThreadCache::ReleaseEmptiedSpansForIdleOwner). Any other thread that frees
// a block pushes it onto `remote`, an MPSC list the owner drains.
//
// Full slabs: when the owner finds a slab with no free block it parks it
// (`parked_full` = true) and stops looking at it. The first remote free into a
// parked slab (the push that finds `remote` empty) un-parks it, names it in
// one of the owner's revived entries (or, all taken, marks its class as
// overflowed) and sets the slab's class bit in the owner's revived mask, so
// the owner re-queues it on its next refill of that class; it walks its full
// slabs only after an overflow. No list link is kept in the slab for this: a
// slab can be released and reused by another owner while a late notifier
// still holds a stale pointer to it, so an entry is a pointer the owner checks.
// Both sides use seq_cst on the flag and the list head, so the owner's "park,
// then re-check remote" and the freer's "push, then check flag" cannot both
// miss each other.
#ifndef HAKMEM_POOLS_TINY_SLAB_H_
#define HAKMEM_POOLS_TINY_SLAB_H_

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>

#include "absl/base/attributes.h"
#include "core/base/hidden.h"
#include "core/base/range_map.h"
#include "core/base/size_classes.h"
#include "sync/cache_line.h"
#include "sync/counted_word.h"
#include "sync/mpsc_list.h"

namespace hakmem::tiny {

class ThreadCache;
struct SuperSlab;

enum class SlabQueue : uint8_t { kNone, kPartial, kFull };

namespace slab_internal {
extern HAKMEM_HIDDEN std::atomic<uint64_t> g_free_key;
}  // namespace slab_internal

// The free key (word 1 of every free block): random per process, never a
// valid pointer or a small number; its lowest byte is kFreeKeyByte. Set once
// by the first ThreadCache::Init, before any block exists.
ABSL_ATTRIBUTE_ALWAYS_INLINE inline uint64_t FreeKey() {
  return slab_internal::g_free_key.load(std::memory_order_relaxed);
}
void InitFreeKey();

ABSL_ATTRIBUTE_ALWAYS_INLINE inline uint64_t& KeyWord(void* block) {
  return static_cast<uint64_t*>(block)[1];
}

// The free key's lowest byte, which is all of the key word the fast paths
// read (KeyByte): a load of one byte is always forwarded from the store
// that last wrote it, where the word's load waited for the stores to reach
// the cache whenever the program had just written part of it with narrower
// ones (a 16-byte block whose last byte was written right before its free:
// 11.6 against 6.7 ns per malloc and free on AMD EPYC, 5.6 with CountPop's
// like change in malloc). 0xC1 is never in UTF-8 text, never the low byte
// of an aligned pointer, nor of a count below 128; a block in use whose
// byte happens to match (binary data: 1 in 256) only takes the slow path,
// which compares the whole word.
inline constexpr uint8_t kFreeKeyByte = 0xC1;
ABSL_ATTRIBUTE_ALWAYS_INLINE inline uint8_t KeyByte(const void* block) {
  return static_cast<const uint8_t*>(block)[sizeof(uint64_t)];  // KeyWord's lowest byte
}

// The slow paths' test of a carved block start: free if its whole key word
// is the free key (the fast paths' IsSurelyInUse reads the byte only).
inline bool HoldsFreeKey(const void* block) {
  return KeyWord(const_cast<void*>(block)) == FreeKey();
}

// The key word of a block in use that an aligned pointer was handed out
// inside (aligned_inside.h): the free key's lowest byte, so that a free of
// the block's own start (never handed out) takes the slow path, which tells
// it from a free block and from an ordinary block in use by the whole word
// and reports it; any other word, so that it is no free block.
inline uint64_t HostKey() { return FreeKey() ^ (uint64_t{1} << 8); }
inline bool HoldsHostKey(const void* block) {
  return KeyWord(const_cast<void*>(block)) == HostKey();
}

// What free's block test needs of a class, kDigestClassScale bytes per class
// so that a digest's class_offset indexes the table as it is (BlockTestAt).
// div_c is ceil(2^64 / block size): one multiply gives an offset's block
// index and whether the offset is a block start (exact for offsets and sizes
// below 2^32; Lemire, Kaser and Kurz, "Faster remainder by direct
// computation").
struct alignas(kDigestClassScale) BlockTest {
  uint64_t div_c;
  uint64_t size;
};
static_assert(sizeof(BlockTest) == kDigestClassScale);
inline constexpr std::array<BlockTest, kNumClasses> kBlockTests = [] {
  std::array<BlockTest, kNumClasses> t{};
  for (int c = 0; c < kNumClasses; ++c) {
    t[c] = BlockTest{~uint64_t{0} / kClassInfo[c].size + 1, kClassInfo[c].size};
  }
  return t;
}();
ABSL_ATTRIBUTE_ALWAYS_INLINE inline const BlockTest& BlockTestAt(uint32_t class_offset) {
  return *reinterpret_cast<const BlockTest*>(reinterpret_cast<const char*>(kBlockTests.data()) +
                                             class_offset);
}

// True if byte `off` from a span's first block starts one of its first
// `carved` bytes' blocks, for blocks of ceil(2^64 / div_c) bytes: one compare
// and one multiply (off % size == 0 exactly when off * div_c wraps below div_c).
ABSL_ATTRIBUTE_ALWAYS_INLINE inline bool IsCarvedBlockOffset(uintptr_t off, uint32_t carved,
                                                           uint64_t div_c) {
  return off < carved && off * div_c < div_c;
}

// The free fast path's check of p against the span a digest describes, whose
// class_offset is `class_offset`.
ABSL_ATTRIBUTE_ALWAYS_INLINE inline bool IsCarvedBlockStart(const SlabDigest& d,
                                                          uint32_t class_offset, const void* p) {
  const uintptr_t off =
      reinterpret_cast<uintptr_t>(p) + d.neg_start.load(std::memory_order_relaxed);
  return IsCarvedBlockOffset(off, d.carved.load(std::memory_order_relaxed),
                             BlockTestAt(class_offset).div_c);
}

// True if p is surely a block in use (a carved block start whose key byte
// is not the free key's), judged from its unit's digest: the fast paths of
// free, malloc_usable_size and realloc. False for everything else, and for
// the few blocks in use whose key byte matches: the slow paths judge those
// by the whole key word.
ABSL_ATTRIBUTE_ALWAYS_INLINE inline bool IsSurelyInUse(const SlabDigest& d, uint32_t class_offset,
                                                     const void* p) {
  return IsCarvedBlockStart(d, class_offset, p) && KeyByte(p) != kFreeKeyByte;
}

struct Slab {
  // First word: link in the idle-span stacks (pools/mid; TaggedStack keeps
  // its link in the first word of each element).
  void* idle_link;
  // --- read by any thread (first cache line; the free fast path reads the
  // copies in its unit's digest instead) ---
  char* start;           // first block
  uint32_t block_size;
  // Bytes from `start` carved into blocks so far (owner writes; any freeing
  // thread reads it: a block it may free was carved before it was handed out).
  std::atomic<uint32_t> carved;
  uint32_t capacity;
  uint8_t size_class;
  uint8_t first_unit;
  uint8_t units;
  SlabQueue queue;       // owner side
  std::atomic<bool> parked_full;
  std::atomic<ThreadCache*> owner;

  // --- owner side ---
  void* local_free;      // free blocks known to the owner
  uint32_t used;         // blocks out of the slab (in a thread cache or the program)
  uint32_t local_count;  // blocks on local_free
  Slab* prev;            // in the owner's per-class queue
  Slab* next;
  SuperSlab* superslab;
  uint64_t idle_since_ms;  // while idle in a tier's span source: since when
  // The range-map entries of the span's units, whose digests copy start,
  // owner, carved and size_class for the free fast path (PublishDigest).
  UnitEntry* unit_entries;

  // --- written by other threads: its own line ---
  // Blocks other threads freed, and how many (its count: for the bin's count
  // when the owner takes the list whole without walking it).
  alignas(sync::kCacheLineSize) sync::RemoteFreeList remote;
  static_assert(RangeMap::kAddressBits <= sync::CountedWord::kCountShift,
                "the remote list's count needs block addresses below 2^48");

  // Copies start (as neg_start), owner, carved and size_class (as
  // class_offset) into the digest of every unit of the span. Whoever changes
  // one of them calls it before any block the change concerns can be freed
  // (Format, a change of owner, Carve, release).
  void PublishDigest() const {
    for (uint32_t u = 0; u < units; ++u) {
      SlabDigest& d = unit_entries[u].slab;
      d.neg_start.store(0 - reinterpret_cast<uintptr_t>(start), std::memory_order_relaxed);
      d.owner.store(owner.load(std::memory_order_relaxed), std::memory_order_relaxed);
      d.carved.store(carved.load(std::memory_order_relaxed), std::memory_order_relaxed);
      d.class_offset.store(static_cast<uint16_t>(size_class * kDigestClassScale),
                           std::memory_order_relaxed);
    }
  }

  // Index of the block at byte `offset` (< 2^32) from `start`.
  uint32_t BlockIndex(uintptr_t offset) const {
    const unsigned __int128 product =
        static_cast<unsigned __int128>(offset) * kBlockTests[size_class].div_c;
    return static_cast<uint32_t>(product >> 64);
  }
  uint32_t Carved() const { return carved.load(std::memory_order_relaxed); }
  // Index of the carved block p lies in, or UINT32_MAX if p is outside the
  // carved part.
  uint32_t CarvedBlockIndex(const void* p) const {
    const uintptr_t off = reinterpret_cast<uintptr_t>(p) - reinterpret_cast<uintptr_t>(start);
    return off < Carved() ? BlockIndex(off) : UINT32_MAX;
  }
  // Blocks at the end of the span not carved yet (owner side).
  uint32_t UncarvedBlocks() const { return capacity - Carved() / block_size; }
  // Whether the blocks start at the span's first byte (colour 0), as every
  // uncoloured class's do: each block is then aligned to the largest power
  // of two its size is a multiple of (size_classes.h: kColourZero).
  bool StartsAtColourZero() const {
    return (reinterpret_cast<uintptr_t>(start) & (kUnitSize - 1)) == 0;
  }
  // True if p is the start of a block of this slab that has been carved
  // (handed out at least once, or sitting free in some list): the slow
  // paths' check (the fast path makes it on the unit's digest).
  ABSL_ATTRIBUTE_ALWAYS_INLINE bool IsCarvedBlockStart(const void* p) const {
    const uintptr_t off = reinterpret_cast<uintptr_t>(p) - reinterpret_cast<uintptr_t>(start);
    return IsCarvedBlockOffset(off, Carved(), kBlockTests[size_class].div_c);
  }
  // Bytes from p to the end of its block, or 0 if p is not inside a carved
  // block (an interior pointer is fine: aligned allocations hand those out).
  size_t UsableFrom(const void* p) const {
    const uint32_t idx = CarvedBlockIndex(p);
    if (idx == UINT32_MAX) return 0;
    return static_cast<size_t>(start + (size_t{idx} + 1) * block_size - static_cast<const char*>(p));
  }
};

// A SuperSlab's place in one of the manager's doubly linked lists.
struct SuperSlabLink {
  SuperSlab* next;
  SuperSlab* prev;
};

// The header of a 2 MiB SuperSlab. Kept in hakmem's metadata pool; the range
// map points each carved unit to its span's Slab and each free unit here.
struct SuperSlab {
  char* base;                            // 2 MiB aligned
  uint32_t free_units;                   // bitmap: bit u set = unit u is free
  uint32_t resident_free;                // free units whose pages are still resident
  // Free units of spans released over the retain limit with hardly a page
  // resident (ReleaseSpan), kept so without a madvise call and not counted
  // against the limit; their pages go at decay and trim.
  uint32_t sparse_free;
  uint64_t released_ms;                  // when a unit last went free and stayed resident (decay)
  SuperSlabLink list;                    // manager's list (with space, or full)
  // In the manager's best-fit index (while it has a resident free run):
  // that run's length (0: not indexed) and its free units, as filed.
  SuperSlabLink fit;
  uint8_t fit_run;
  uint8_t fit_free;
  // In the manager's run index (while it has a free unit): the length of its
  // longest free run, resident or not, as filed (0: not indexed).
  uint8_t free_run;
  SuperSlabLink run;
  // While full (no free unit): the earliest time CollapseFullSuperSlabs may
  // try it, never again once it took (set anew each time it becomes full).
  uint64_t collapse_after_ms;
  Slab slabs[kUnitsPerSuperSlab];        // indexed by a span's first unit
};

static_assert(offsetof(Slab, idle_link) == 0, "idle stacks keep their link in word 0");
static_assert(offsetof(Slab, owner) + sizeof(void*) <= sync::kCacheLineSize,
              "the fields another thread's free reads share one cache line");

}  // namespace hakmem::tiny

#endif  // HAKMEM_POOLS_TINY_SLAB_H_
