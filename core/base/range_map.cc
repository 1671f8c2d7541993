#include "core/base/range_map.h"

#include "core/base/os.h"

namespace hakmem {

constinit std::atomic<RangeMap::Entry*> RangeMap::top_[size_t{1} << RangeMap::kTopBits] = {};

RangeMap::Entry* RangeMap::LeafFor(uintptr_t address, bool create) {
  std::atomic<Entry*>& slot = top_[address >> (kGranuleShift + kLeafBits)];
  Entry* leaf = slot.load(std::memory_order_acquire);
  if (leaf != nullptr || !create) return leaf;
  constexpr size_t kLeafBytes = sizeof(Entry) << kLeafBits;
  auto* fresh = static_cast<Entry*>(OsMapAligned(kLeafBytes, kPageSize));
  if (fresh == nullptr) return nullptr;  // zero-filled: every entry reads kNone
  if (slot.compare_exchange_strong(leaf, fresh, std::memory_order_acq_rel)) return fresh;
  OsUnmap(fresh, kLeafBytes);  // another thread installed the leaf first
  return leaf;
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
