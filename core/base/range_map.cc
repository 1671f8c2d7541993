#include "core/base/range_map.h"

#include "core/base/os.h"

namespace hakmem {

constinit std::atomic<uintptr_t> RangeMap::top_[size_t{1} << RangeMap::kTopBits] = {};
// Zero-initialised, never written: in .bss, so it costs no memory until read
// (and then only the kernel's shared zero page).
alignas(kPageSize) constinit RangeMap::Entry RangeMap::empty_leaf_[size_t{1} << RangeMap::kLeafBits] = {};

RangeMap::Entry* RangeMap::LeafFor(uintptr_t address, bool create) {
  std::atomic<uintptr_t>& slot = top_[address >> (kGranuleShift + kLeafBits)];
  const uintptr_t base = reinterpret_cast<uintptr_t>(empty_leaf_);
  uintptr_t offset = slot.load(std::memory_order_acquire);
  if (offset != 0) return reinterpret_cast<Entry*>(base + offset);
  if (!create) return nullptr;
  constexpr size_t kLeafBytes = sizeof(Entry) << kLeafBits;
  auto* fresh = static_cast<Entry*>(OsMapAligned(kLeafBytes, kPageSize));
  if (fresh == nullptr) return nullptr;  // zero-filled: every entry reads kNone
  if (slot.compare_exchange_strong(offset, reinterpret_cast<uintptr_t>(fresh) - base,
                                   std::memory_order_acq_rel)) {
    return fresh;
  }
  OsUnmap(fresh, kLeafBytes);  // another thread installed the leaf first
  return reinterpret_cast<Entry*>(base + offset);
}

bool RangeMap::Register(void* base, size_t size, RangeKind kind, const void* meta) {
  const uintptr_t start = reinterpret_cast<uintptr_t>(base);
  const uintptr_t end = start + size;
  if (end < start || (end - 1) >> kAddressBits != 0) return false;
  const uintptr_t entry = reinterpret_cast<uintptr_t>(meta) | static_cast<uintptr_t>(kind);
  for (uintptr_t a = start; a < end; a += size_t{1} << kGranuleShift) {
    Entry* leaf = LeafFor(a, /*create=*/true);
    if (leaf == nullptr) {
      Unregister(base, a - start);
      return false;
    }
    leaf[(a >> kGranuleShift) & ((uintptr_t{1} << kLeafBits) - 1)].store(entry,
                                                                        std::memory_order_release);
  }
  return true;
}

void RangeMap::Unregister(void* base, size_t size) {
  const uintptr_t start = reinterpret_cast<uintptr_t>(base);
  for (uintptr_t a = start; a < start + size; a += size_t{1} << kGranuleShift) {
    Entry* leaf = LeafFor(a, /*create=*/false);
    if (leaf != nullptr) {
      leaf[(a >> kGranuleShift) & ((uintptr_t{1} << kLeafBits) - 1)].store(
          0, std::memory_order_release);
    }
  }
}

}  // namespace hakmem
