// The address-range map: for every 64 KiB unit of the address space, which
// hakmem structure (if any) owns it. free(p) reads one entry to learn the tier
// and the metadata of p (for a slab block: its Slab record), without a
// per-block header, and a pointer hakmem never handed out reads "not ours" or
// "a free unit" instead of leading anywhere.
//
// Two levels: a static top array of 32768 leaf pointers, each leaf (512 KiB,
// mapped on first use) holding 65536 entries of 64 KiB units; together they
// cover the 47-bit user address space. A lookup is two dependent loads (the
// top array is small and hot) and takes no lock; leaves are installed with a
// CAS and never freed, so a lookup of any address is always safe.
//
// An entry is the address of the owning metadata object with its kind in the
// low bits (metadata objects are at least 8-byte aligned). 0 means "not ours".
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
  kLarge = 3,     // part of a Large mapping; metadata: its LargeBlock
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

  ABSL_ATTRIBUTE_ALWAYS_INLINE static uintptr_t Lookup(const void* p) {
    const uintptr_t a = reinterpret_cast<uintptr_t>(p);
    if (ABSL_PREDICT_FALSE((a >> kAddressBits) != 0)) return 0;
    const Entry* leaf = top_[a >> (kGranuleShift + kLeafBits)].load(std::memory_order_acquire);
    if (ABSL_PREDICT_FALSE(leaf == nullptr)) return 0;
    return leaf[(a >> kGranuleShift) & ((uintptr_t{1} << kLeafBits) - 1)].load(
        std::memory_order_acquire);
  }
  static RangeKind KindOf(uintptr_t entry) { return static_cast<RangeKind>(entry & kKindMask); }
  template <class T>
  static T* MetaOf(uintptr_t entry) {
    return reinterpret_cast<T*>(entry & ~kKindMask);
  }

 private:
  using Entry = std::atomic<uintptr_t>;
  static Entry* LeafFor(uintptr_t address, bool create);
  static std::atomic<Entry*> top_[size_t{1} << kTopBits];
};

}  // namespace hakmem

#endif  // HAKMEM_CORE_BASE_RANGE_MAP_H_
