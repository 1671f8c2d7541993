// The address-range map: for every 64 KiB unit of the address space, which
// hakmem structure (if any) owns it. free(p) reads one entry to learn the tier
// and the metadata of p (for a slab block: its Slab record), without a
// per-block header, and a pointer hakmem never handed out reads "not ours" or
// "a free unit" instead of leading anywhere.
//
// Two levels: a static top array of 32768 leaves, each leaf (512 KiB, mapped
// on first use) holding 65536 entries of 64 KiB units; together they cover the
// 47-bit user address space. A lookup is two dependent loads (the top array is
// small and hot), no branch and no lock: the top array holds each leaf as its
// offset from a shared empty leaf (zero pages in .bss that are never written),
// so an absent leaf reads as "not ours" without a null test. Leaves are
// installed with a CAS and never freed, so a lookup of any address is safe.
//
// An entry is the address of the owning metadata object with its kind in the
// low bits (metadata objects are at least 8-byte aligned). 0 means "not ours".
// The kinds are one bit each, so "a slab block?" is a single bit test.
#ifndef HAKMEM_CORE_BASE_RANGE_MAP_H_
#define HAKMEM_CORE_BASE_RANGE_MAP_H_

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "absl/base/attributes.h"
#include "absl/base/optimization.h"
#include "core/base/size_classes.h"

namespace hakmem {

enum class RangeKind : uintptr_t {
  kNone = 0,
  kSlab = 1,      // a unit of a slab-pool span; metadata: its Slab
  kFreeUnit = 2,  // a SuperSlab unit not carved into a span; metadata: the SuperSlab
  kLarge = 4,     // part of a Large mapping; metadata: its LargeBlock
};

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
    return LookupAliased(p);
  }
  // The free fast path's lookup: no test of the top address bits, so an
  // address above the 47-bit space reads the entry of the address with those
  // bits cleared. Only for a caller that then checks p against the metadata
  // it gets (a slab's carved range, a Large block's base), which such an
  // address never passes.
  ABSL_ATTRIBUTE_ALWAYS_INLINE static uintptr_t LookupAliased(const void* p) {
    const uintptr_t a = reinterpret_cast<uintptr_t>(p);
    const uintptr_t leaf_offset =
        top_[(a >> (kGranuleShift + kLeafBits)) & kTopMask].load(std::memory_order_acquire);
    const Entry* leaf = reinterpret_cast<const Entry*>(
        reinterpret_cast<uintptr_t>(empty_leaf_) + leaf_offset);
    return leaf[(a >> kGranuleShift) & kLeafMask].load(std::memory_order_acquire);
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
  using Entry = std::atomic<uintptr_t>;
  static constexpr uintptr_t kTopMask = (uintptr_t{1} << kTopBits) - 1;
  static constexpr uintptr_t kLeafMask = (uintptr_t{1} << kLeafBits) - 1;
  static Entry* LeafFor(uintptr_t address, bool create);
  // Leaf address minus empty_leaf_'s (0: no leaf yet).
  static std::atomic<uintptr_t> top_[size_t{1} << kTopBits];
  static Entry empty_leaf_[size_t{1} << kLeafBits];
};

}  // namespace hakmem

#endif  // HAKMEM_CORE_BASE_RANGE_MAP_H_
