#include "core/base/range_map.h"

#include <algorithm>

#include "core/base/os.h"

namespace hakmem {

constinit std::atomic<uintptr_t> RangeMap::top_[size_t{1} << RangeMap::kTopBits] = {};
// Zero-initialised, never written: in .bss, so it costs no memory until read
// (and then only the kernel's shared zero page), 32 MiB of address space.
alignas(kPageSize) constinit UnitEntry RangeMap::empty_leaf_[RangeMap::kWindowUnits] = {};

constinit RangeMap::Window RangeMap::window_ = {empty_leaf_, 0};

UnitEntry* RangeMap::LeafFor(uintptr_t address, bool create) {
  std::atomic<uintptr_t>& slot = top_[address >> (kGranuleShift + kLeafBits)];
  const uintptr_t base = reinterpret_cast<uintptr_t>(empty_leaf_);
  uintptr_t offset = slot.load(std::memory_order_acquire);
  if (offset != 0) return reinterpret_cast<UnitEntry*>(base + offset);
  if (!create) return nullptr;
  auto* fresh = static_cast<UnitEntry*>(OsMapAligned(kLeafBytes, kPageSize));
  if (fresh == nullptr) return nullptr;  // zero-filled: every entry reads kNone
  OsPreferSmallPages(fresh, kLeafBytes);  // a leaf's entries are touched a few at a time
  if (slot.compare_exchange_strong(offset, reinterpret_cast<uintptr_t>(fresh) - base,
                                   std::memory_order_acq_rel)) {
    return fresh;
  }
  OsUnmap(fresh, kLeafBytes);  // another thread installed the leaf first
  return reinterpret_cast<UnitEntry*>(base + offset);
}

bool RangeMap::Register(void* base, size_t size, RangeKind kind, const void* meta) {
  const uintptr_t start = reinterpret_cast<uintptr_t>(base);
  const uintptr_t end = start + size;
  if (end < start || (end - 1) >> kAddressBits != 0) return false;
  const uintptr_t entry = reinterpret_cast<uintptr_t>(meta) | static_cast<uintptr_t>(kind);
  const uintptr_t stop = StoreUnits(start, end, entry, /*create=*/true);
  if (stop < end) {
    Unregister(base, stop - start);
    return false;
  }
  return true;
}

uintptr_t RangeMap::StoreUnits(uintptr_t start, uintptr_t end, uintptr_t word, bool create) {
  constexpr uintptr_t kUnit = uintptr_t{1} << kGranuleShift;
  uintptr_t a = start;
  while (a < end) {
    // The units from a (in steps of a unit) in a's leaf and below end.
    const uintptr_t leaf_end = std::min(end, (a | (kLeafReach - 1)) + 1);
    const size_t units = (leaf_end - a + kUnit - 1) >> kGranuleShift;
    UnitEntry* leaf = LeafFor(a, create);
    if (leaf == nullptr && create) return a;
    if (leaf != nullptr) {  // else nothing is registered in this leaf
      UnitEntry* entries = leaf + ((a >> kGranuleShift) & kLeafMask);
      const bool slab = (word & static_cast<uintptr_t>(RangeKind::kSlab)) != 0;
      for (size_t i = 0; i < units; ++i) {
        if (!slab) entries[i].slab.carved.store(0, std::memory_order_relaxed);  // SlabDigest
        entries[i].word.store(word, std::memory_order_release);
      }
    }
    a += units << kGranuleShift;
  }
  return end;
}

bool RangeMap::InstallWindow(void* base, size_t bytes) {
  const uintptr_t start = reinterpret_cast<uintptr_t>(base);
  if (window_.units.load(std::memory_order_relaxed) != 0 || start % kLeafReach != 0 ||
      bytes % kLeafReach != 0 || bytes == 0 || bytes > (kWindowUnits << kGranuleShift) ||
      (start + bytes - 1) >> kAddressBits != 0) {
    return false;
  }
  if (!OsCommit(base, kWindowTableBytes)) return false;
  OsPreferSmallPages(base, kWindowTableBytes);  // 32 MiB, touched as SuperSlabs come
  auto* units = static_cast<UnitEntry*>(base);
  const uintptr_t empty = reinterpret_cast<uintptr_t>(empty_leaf_);
  for (uintptr_t a = start; a < start + bytes; a += kLeafReach) {
    // A leaf already there maps only addresses that were given back before
    // the caller reserved them (all zero): lookups through it or through the
    // new one read the same. It is left behind, as leaves always are.
    top_[a >> (kGranuleShift + kLeafBits)].store(
        reinterpret_cast<uintptr_t>(units + WindowIndex(reinterpret_cast<void*>(a))) - empty,
        std::memory_order_release);
  }
  // The table is committed before free reads through the new base (acquire).
  window_.base.store(units, std::memory_order_release);
  window_.units.store(bytes >> kGranuleShift, std::memory_order_release);  // last: ready
  return true;
}

UnitEntry* RangeMap::UnitsAt(const void* base) {
  const uintptr_t a = reinterpret_cast<uintptr_t>(base);
  return LeafFor(a, /*create=*/false) + ((a >> kGranuleShift) & kLeafMask);
}

void RangeMap::Unregister(void* base, size_t size) {
  const uintptr_t start = reinterpret_cast<uintptr_t>(base);
  StoreUnits(start, start + size, 0, /*create=*/false);
}

}  // namespace hakmem
