// The address-range map: for every 64 KiB unit of the address space, which
// hakmem structure (if any) owns it; a Large range has entries at its two ends
// only (pools/large/large_tier.cc, RegisterEnds). free(p) reads one entry to
// learn the tier and the metadata of p (for a slab block: its Slab record),
// without a per-block header, and a pointer hakmem never handed out reads
// "not ours" or "a free unit" instead of leading anywhere.
//
// Two levels: a static top array of 32768 leaves, each leaf (2 MiB, mapped on
// first use) holding 65536 entries of 64 KiB units; together they cover the
// 47-bit user address space. A lookup is two dependent loads (the top array is
// small and hot), no branch and no lock: the top array holds each leaf as its
// offset from a shared empty leaf (zero pages in .bss that are never written),
// so an absent leaf reads as "not ours" without a null test. Leaves are
// installed with a CAS and never freed, so a lookup of any address is safe.
// The slab arena's leaves are one array at the arena's own start (the
// window), so the free path reads an arena address's entry with one load
// and no bounds test (UnitForFree).
//
// An entry's word is the address of the owning metadata object with its kind
// in the low bits (metadata objects are at least 8-byte aligned). 0 means "not
// ours", or inside a Large range away from its ends. The kinds are one bit
// each, so "a slab block?" is a single bit test. A slab unit's entry also
// carries its span's digest (SlabDigest).
#ifndef HAKMEM_CORE_BASE_RANGE_MAP_H_
#define HAKMEM_CORE_BASE_RANGE_MAP_H_

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "absl/base/attributes.h"
#include "absl/base/optimization.h"
#include "core/base/hidden.h"
#include "core/base/size_classes.h"

namespace hakmem {

enum class RangeKind : uintptr_t {
  kNone = 0,
  kSlab = 1,      // a unit of a slab-pool span; metadata: its Slab
  kFreeUnit = 2,  // a SuperSlab unit not carved into a span; metadata: the SuperSlab
  kLarge = 4,     // a Large range's first or last unit (pools/large); metadata: its LargeBlock
};

// What free() needs to know of a slab-pool span, copied into the entry of
// each of its units (pools/tiny/slab.h keeps the copies in step with its Slab
// record): the fast path reads them from the entry's own cache line instead
// of waiting for the entry before it can load the Slab record (one dependent
// load fewer; tiny_1t and mid_1t spent a third of free's time there).
// Invariant: in the entry of a unit that is not a slab's, `carved` is 0 (a
// span publishes 0 before its units change kind, and registering any other
// kind or unregistering clears it: a Large range's units away from its ends
// are unregistered), so no pointer passes free's block test there: the fast
// path reads the digest without the entry's kind.
struct SlabDigest {
  // Minus the address of the span's first block (mod 2^64): p + neg_start is
  // p's offset in the span with no copy of p to subtract from (free: one
  // instruction fewer than p - start).
  std::atomic<uintptr_t> neg_start;
  std::atomic<const void*> owner;     // the owning thread cache, or nullptr
  std::atomic<uint32_t> carved;       // bytes from the first block carved into blocks
  // The span's size class times kDigestClassScale: the byte offset of the
  // class's entry in the tables free indexes by class (the thread cache's
  // bins, the block tests of pools/tiny/slab.h), which then need no scaling
  // (free: one instruction fewer).
  std::atomic<uint16_t> class_offset;
};
inline constexpr uint32_t kDigestClassScale = 16;

// One 64 KiB unit's entry: the owner's metadata and kind (`word`), and for a
// slab unit the digest of its span.
struct UnitEntry {
  std::atomic<uintptr_t> word;
  SlabDigest slab;
};
static_assert(sizeof(UnitEntry) == 32, "two units to a cache line, never split");

class RangeMap {
 public:
  static constexpr int kAddressBits = 47;
  static constexpr int kGranuleShift = kUnitShift;  // 64 KiB
  static constexpr int kLeafBits = 16;
  static constexpr int kTopBits = kAddressBits - kGranuleShift - kLeafBits;
  static constexpr uintptr_t kKindMask = 7;

  // Records that [base, base + size) belongs to `meta` of kind `kind`. base and
  // size are multiples of 64 KiB. Returns false if a leaf cannot be mapped or
  // the range lies outside the 47-bit space (the caller then gives the memory
  // back). Re-registering a range (a SuperSlab's units as they are carved into
  // spans and given back) overwrites its entries.
  static bool Register(void* base, size_t size, RangeKind kind, const void* meta);
  static void Unregister(void* base, size_t size);

  // The entry of p's unit; 0 for addresses above the 47-bit user space.
  ABSL_ATTRIBUTE_ALWAYS_INLINE static uintptr_t Lookup(const void* p) {
    if (ABSL_PREDICT_FALSE((reinterpret_cast<uintptr_t>(p) >> kAddressBits) != 0)) return 0;
    return UnitAliased(p).word.load(std::memory_order_acquire);
  }
  // The free fast path's lookup: no test of the top address bits, so an
  // address above the 47-bit space reads the unit of the address with those
  // bits cleared. Only for a caller that then checks p against what it reads
  // (a slab's carved range, a Large block's base), which such an address
  // never passes.
  ABSL_ATTRIBUTE_ALWAYS_INLINE static const UnitEntry& UnitAliased(const void* p) {
    const uintptr_t a = reinterpret_cast<uintptr_t>(p);
    const uintptr_t leaf_offset =
        top_[(a >> (kGranuleShift + kLeafBits)) & kTopMask].load(std::memory_order_acquire);
    const UnitEntry* leaf = reinterpret_cast<const UnitEntry*>(
        reinterpret_cast<uintptr_t>(empty_leaf_) + leaf_offset);
    return leaf[(a >> kGranuleShift) & kLeafMask];
  }
  // The free fast path's lookup: one load of the window's base, 32 bytes
  // per unit, with no test of where p lies. The window's table holds the
  // entry of unit u (address >> 16) at index u modulo kWindowUnits: the
  // window's units (at most kWindowUnits, contiguous) fall on distinct
  // indices, and the index needs no subtraction of the window's start, so
  // it does not wait for the base's load (free: an instruction fewer than
  // indexing from the window's start). Any other address reads the entry of
  // another unit with the same index, or before the arena exists an entry of
  // the all-zero empty_leaf_. Only for a caller that then checks p against
  // the digest it reads (free's block test, slab.h), which such an address
  // never passes: passing needs p inside [start, start + carved), a range of
  // the span the entry describes, which lies in the window (or is empty).
  // No bounds test: a load and a branch fewer.
  ABSL_ATTRIBUTE_ALWAYS_INLINE static const UnitEntry& UnitForFree(const void* p) {
    const auto* base = window_.base.load(std::memory_order_acquire);
    return base[WindowIndex(p)];
  }
  // Makes [base, base + bytes) the window: its first kWindowTableBytes hold
  // the entries of all the units the window reaches, one contiguous array
  // indexed by unit modulo kWindowUnits (WindowIndex), whose leaf-sized
  // parts for the range's units become the two-level map's leaves of the
  // range (the rest, for addresses beyond it, stay zero). base and
  // bytes are multiples of a leaf's reach (kLeafReach), bytes at most the
  // window's reach, and the caller holds the whole range reserved
  // (inaccessible), so nothing is registered in it yet; the table is
  // committed here, and the caller uses only what follows it. Once, before
  // any Register in the range; false if the table cannot be committed (no
  // window then).
  static constexpr size_t kLeafReach = size_t{1} << (kGranuleShift + kLeafBits);  // 4 GiB
  static constexpr size_t kLeafBytes = sizeof(UnitEntry) << kLeafBits;             // 2 MiB
  static constexpr size_t kWindowUnits = size_t{1} << 20;                          // 64 GiB
  static constexpr size_t kWindowTableBytes = kWindowUnits * sizeof(UnitEntry);    // 32 MiB
  static bool InstallWindow(void* base, size_t bytes);
  static bool InWindow(const void* p) {
    // units first (0 until the window is installed, and set last).
    const uintptr_t units = window_.units.load(std::memory_order_acquire);
    const uintptr_t start = reinterpret_cast<uintptr_t>(window_.base.load(std::memory_order_relaxed));
    return (reinterpret_cast<uintptr_t>(p) - start) >> kGranuleShift < units;
  }

  // The entries of the units from `base` on (64 KiB aligned, registered, so
  // its leaf exists); a registered range never crosses a leaf (SuperSlabs are
  // 2 MiB aligned, a leaf covers 4 GiB), so the entries of one span are
  // consecutive.
  static UnitEntry* UnitsAt(const void* base);
  // Whether the leaf of p's unit has been mapped (anything was ever
  // registered within its 4 GiB): a walk over units can skip a missing one.
  static bool HasLeaf(const void* p) {
    const uintptr_t a = reinterpret_cast<uintptr_t>(p);
    return top_[(a >> (kGranuleShift + kLeafBits)) & kTopMask].load(std::memory_order_acquire) != 0;
  }
  static RangeKind KindOf(uintptr_t entry) { return static_cast<RangeKind>(entry & kKindMask); }
  static bool IsSlab(uintptr_t entry) { return (entry & static_cast<uintptr_t>(RangeKind::kSlab)) != 0; }
  template <class T>
  static T* MetaOf(uintptr_t entry) {
    return reinterpret_cast<T*>(entry & ~kKindMask);
  }
  // MetaOf for an entry known to be kSlab: a subtraction the loads that follow
  // fold into their displacement.
  template <class T>
  static T* SlabMetaOf(uintptr_t entry) {
    return reinterpret_cast<T*>(entry - static_cast<uintptr_t>(RangeKind::kSlab));
  }

 private:
  static constexpr uintptr_t kTopMask = (uintptr_t{1} << kTopBits) - 1;
  static constexpr uintptr_t kLeafMask = (uintptr_t{1} << kLeafBits) - 1;
  static UnitEntry* LeafFor(uintptr_t address, bool create);
  // Where the window's table keeps p's unit (UnitForFree).
  ABSL_ATTRIBUTE_ALWAYS_INLINE static uintptr_t WindowIndex(const void* p) {
    return (reinterpret_cast<uintptr_t>(p) >> kGranuleShift) & (kWindowUnits - 1);
  }
  // Stores `word` in the entry of every unit from `start` (in steps of a
  // unit) below `end`, looking each leaf up once: a Large mapping of 4 MiB
  // was 64 units when its every unit had an entry, and a lookup per unit was
  // a sixth of large_1t's instructions (SuperSlabs are 32). Without
  // `create`, units whose leaf is missing are skipped (nothing is registered
  // there). Returns `end`, or, with `create`, the
  // first unit whose leaf could not be created.
  static uintptr_t StoreUnits(uintptr_t start, uintptr_t end, uintptr_t word, bool create);
  struct alignas(64) Window {
    // The window's table (UnitForFree), which is also where the window
    // starts once installed; empty_leaf_ before.
    std::atomic<const UnitEntry*> base;
    std::atomic<uintptr_t> units;  // the arena's units (0: no window)
  };
  HAKMEM_HIDDEN static Window window_;
  // Leaf address minus empty_leaf_'s (0: no leaf yet).
  static std::atomic<uintptr_t> top_[size_t{1} << kTopBits];
  // The target of every absent leaf, and the window's entries before the
  // arena exists (so kWindowUnits of them).
  static UnitEntry empty_leaf_[kWindowUnits];
};

}  // namespace hakmem

#endif  // HAKMEM_CORE_BASE_RANGE_MAP_H_
