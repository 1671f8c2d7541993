// The address-range map: for every 2 MiB chunk of the address space, which
// hakmem structure (if any) owns it. free(p) reads one entry to learn the tier
// and the metadata of p, without a per-block header.
//
// Two levels: a static top array of 8192 leaf pointers, each leaf (64 KiB,
// mapped on first use) holding 8192 entries; together they cover the 47-bit
// user address space at 2 MiB granularity. Lookups are two dependent loads and
// take no lock; leaves are installed with a CAS and never freed.
//
// An entry is the address of the owning metadata object with the tier in its
// low bits (metadata objects are at least 8-byte aligned). 0 means "not ours".
#ifndef HAKMEM_CORE_BASE_RANGE_MAP_H_
#define HAKMEM_CORE_BASE_RANGE_MAP_H_

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "absl/base/attributes.h"
#include "core/base/size_classes.h"

namespace hakmem {

enum class RangeKind : uintptr_t {
  kNone = 0,
  kSuperSlab = 1,  // metadata is a SuperSlab (slab pool)
  kLarge = 2,      // metadata is a LargeBlock
};

class RangeMap {
 public:
  static constexpr int kAddressBits = 47;
  static constexpr int kLeafBits = 13;
  static constexpr int kTopBits = kAddressBits - kSuperSlabShift - kLeafBits;
  static constexpr uintptr_t kKindMask = 7;

  // Records that [base, base + size) belongs to `meta` of kind `kind`. base and
  // size are multiples of 2 MiB. Returns false if a leaf cannot be mapped or the
  // range lies outside the 47-bit space (the caller then gives the memory back).
  static bool Register(void* base, size_t size, RangeKind kind, const void* meta);
  static void Unregister(void* base, size_t size);

  ABSL_ATTRIBUTE_ALWAYS_INLINE static uintptr_t Lookup(const void* p) {
    const uintptr_t a = reinterpret_cast<uintptr_t>(p);
    if (ABSL_PREDICT_FALSE((a >> kAddressBits) != 0)) return 0;
    const Entry* leaf = top_[a >> (kSuperSlabShift + kLeafBits)].load(std::memory_order_acquire);
    if (ABSL_PREDICT_FALSE(leaf == nullptr)) return 0;
    return leaf[(a >> kSuperSlabShift) & ((1u << kLeafBits) - 1)].load(std::memory_order_acquire);
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
