// Size classes of the slab pool (requests up to kMaxSmallSize), as constexpr tables.
//
// Classes: every 16 bytes from 16 to 128, then four per doubling up to 1 MiB
// (160, 192, 224, 256, 320, ...), plus one more just above 1, 2, 4 and 8 KiB
// (1152, 2304, 4608, 9216: 2^k * 9/8). Rounding waste is therefore at most 15
// bytes below 128 B and under 25% of the request above it (static_asserts
// below), under 12.5% right above those powers of two, where programs ask most
// often: a page or a power-of-two buffer plus a small header (sqlite asks for
// 1032 and 4104 bytes; with 1280 and 5120 their blocks wasted a quarter).
// Every class is a multiple of 16, so blocks are 16-byte aligned (max_align_t,
// as glibc gives), and every free block has room for two words: the free-list
// link and the free key that catches double frees (pools/tiny/slab.h).
// Power-of-two classes give natural alignment up to 64 KiB.
//
// Each class is carved from a "span" of 1..32 units of 64 KiB inside a 2 MiB
// SuperSlab; the span length is chosen so a span holds enough blocks and its
// tail waste stays small (also asserted). L2.5 classes (above 32 KiB) up to
// kSharedSpanMaxSize share spans of at most kBigSpanBytes; above it a span
// holds one block.
#ifndef HAKMEM_CORE_BASE_SIZE_CLASSES_H_
#define HAKMEM_CORE_BASE_SIZE_CLASSES_H_

#include <array>
#include <cstddef>
#include <cstdint>

#include "absl/base/attributes.h"
#include "absl/base/optimization.h"

namespace hakmem {

inline constexpr size_t kUnitShift = 16;                  // 64 KiB slab unit
inline constexpr size_t kUnitSize = size_t{1} << kUnitShift;
inline constexpr size_t kSuperSlabShift = 21;             // 2 MiB SuperSlab
inline constexpr size_t kSuperSlabSize = size_t{1} << kSuperSlabShift;
inline constexpr size_t kUnitsPerSuperSlab = kSuperSlabSize / kUnitSize;  // 32

inline constexpr size_t kTinyMaxSize = 1024;         // Tiny tier upper bound
inline constexpr size_t kMidMaxSize = 32 * 1024;     // Mid tier upper bound (L2.5 above)
inline constexpr size_t kMaxSmallSize = size_t{1} << 20;  // slab pool upper bound

namespace size_class_internal {

// The four-per-doubling sequence above 128: 128 * 2^k * (1 + q/4), q = 1..4.
constexpr size_t LogClassSize(int i) {
  return (size_t{128} << (i / 4)) * (4 + i % 4 + 1) / 4;
}

// The classes inserted just above a power of two (2^k * 9/8), ascending; all
// below kLookupMaxSize, so SizeToClass's arithmetic above it only shifts.
inline constexpr size_t kPageHeaderClasses[] = {1152, 2304, 4608, 9216};
inline constexpr int kNumPageHeaderClasses = 4;

constexpr size_t ClassSizeAt(int c) {
  if (c < 8) return size_t{16} * (c + 1);  // 16 .. 128
  // Merge the log sequence with the inserted classes.
  int i = 0, j = 0;
  for (int n = 8;; ++n) {
    const size_t next = j < kNumPageHeaderClasses && kPageHeaderClasses[j] < LogClassSize(i)
                            ? kPageHeaderClasses[j++]
                            : LogClassSize(i++);
    if (n == c) return next;
  }
}

constexpr int CountClasses() {
  int c = 0;
  while (ClassSizeAt(c) < kMaxSmallSize) ++c;
  return c + 1;
}

}  // namespace size_class_internal

inline constexpr int kNumClasses = size_class_internal::CountClasses();

struct ClassInfo {
  uint32_t size;        // block size in bytes
  uint8_t span_units;   // span length in 64 KiB units
  uint32_t capacity;    // blocks per span
  uint8_t colors;       // distinct 64-byte start offsets a span may take (1: none)
};

// L2.5 classes up to this size share a span of up to kBigSpanBytes among
// several blocks (2 - 6), as Mid classes do; larger ones take a span each.
// With a span per block every malloc and free of such a block was a trip to
// the SuperSlab manager: mstress with 16 - 128 KiB blocks ran at half
// mimalloc's rate, whose 512 KiB pages hold up to 128 KiB blocks. Spans of
// 256 KiB rather than 512: a span stays while one of its blocks lives
// (alloc_test_2t, 1 in 1,000 blocks of 64 KiB - 1 MiB: peak 36.5 MiB with a
// span each; 40.0 with shared spans of 256 KiB and 42.2 of 512 KiB while
// each class and thread kept its emptied current span; 37.8 without that).
inline constexpr size_t kSharedSpanMaxSize = 128 * 1024;
inline constexpr size_t kBigSpanBytes = 256 * 1024;

namespace size_class_internal {

// Classes above this are cache-coloured: each span starts its blocks at a
// 64-byte multiple inside the span's slack, chosen per span. Without it every
// block of a 4 KiB-multiple class starts at the same page offset, and a
// program touching the first bytes of many blocks (headers, page after page)
// hammers one L1/L2 set; the first lines of 1 KiB blocks fall in a sixteenth
// of the sets, of 256 B blocks in a quarter (the line slots of a page are
// kept by physical indexing): glibc_simple's 10,000 blocks of 1 KiB or 256 B
// touch 1.3 MiB of lines, which a 2 MiB L2 holds only spread (cachegrind, LL
// 2 MiB 16-way: 621 k and 1.25 M misses uncoloured, 35 k and 33 k coloured;
// 1 KiB x 10,000: 14.5 -> 17.4 M pairs/s, 256 B: 21.1 -> 23.3). Below 256 B
// a block's lines cover a page's slots evenly enough.
inline constexpr size_t kColorAbove = 224;
inline constexpr uint32_t kMaxColors = 64;

constexpr ClassInfo MakeClassInfo(int c) {
  const size_t size = ClassSizeAt(c);
  if (size > kSharedSpanMaxSize) {
    // L2.5 above kSharedSpanMaxSize: a span per block, the whole units it
    // needs. Such blocks are few and big: a block that is freed empties its
    // span, whose units any class can take again (the SuperSlab manager
    // prefers resident ones), instead of a span of several blocks that one
    // live block keeps from everyone. The tail of the last unit is never
    // touched, so it costs no memory.
    const size_t units = (size + kUnitSize - 1) / kUnitSize;
    return ClassInfo{static_cast<uint32_t>(size), static_cast<uint8_t>(units), 1, 1};
  }
  // Want at least 8 blocks per span (16 for coloured classes, so giving one
  // block up to colouring costs little), or as many as a whole SuperSlab
  // (an L2.5 class: kBigSpanBytes) allows, and a tail waste of at most 1/8
  // of the span; the shortest such span.
  const size_t max_blocks = (size > kMidMaxSize ? kBigSpanBytes : kSuperSlabSize) / size;
  const size_t target = size > kColorAbove ? 16 : 8;
  const size_t want = max_blocks < target ? max_blocks : target;
  size_t units = kUnitsPerSuperSlab;
  for (size_t u = 1; u <= kUnitsPerSuperSlab; ++u) {
    const size_t bytes = u * kUnitSize;
    const size_t blocks = bytes / size;
    if (blocks >= want && (bytes - blocks * size) * 8 <= bytes) {
      units = u;
      break;
    }
  }
  const size_t bytes = units * kUnitSize;
  size_t capacity = bytes / size;
  size_t colors = 1;
  // L2.5 too (but 64, 96 and 128 KiB, whose spans have no tail): programs
  // touch the first bytes of a block's pages, and spans of 64 KiB-aligned
  // blocks put them in the same sets (mstress, 16 - 128 KiB: 1.38x
  // uncoloured, 1.68x coloured; xthread 32 - 128 KiB: 0.95x, 1.13x, of one
  // block per span).
  if (size > kColorAbove) {
    size_t tail = bytes - capacity * size;
    if (tail < 64 && capacity >= 16) {  // no slack: one block becomes the slack
      --capacity;
      tail += size;
    }
    colors = tail / 64 + 1;
    if (colors > kMaxColors) colors = kMaxColors;
  }
  return ClassInfo{static_cast<uint32_t>(size), static_cast<uint8_t>(units),
                   static_cast<uint32_t>(capacity), static_cast<uint8_t>(colors)};
}

constexpr std::array<ClassInfo, kNumClasses> MakeClassTable() {
  std::array<ClassInfo, kNumClasses> t{};
  for (int c = 0; c < kNumClasses; ++c) t[c] = MakeClassInfo(c);
  return t;
}

// A lookup table of the class for sizes up to `max`, one entry per
// `granule` bytes (index (size + granule - 1) / granule). Exact when every
// class boundary up to `max` is a multiple of the granule (checked below).
template <size_t kMax, size_t kGranule>
constexpr std::array<uint8_t, kMax / kGranule + 1> MakeLookup() {
  std::array<uint8_t, kMax / kGranule + 1> t{};
  int c = 0;
  for (size_t i = 0; i < t.size(); ++i) {
    while (ClassSizeAt(c) < i * kGranule) ++c;
    t[i] = static_cast<uint8_t>(c);
  }
  return t;
}

}  // namespace size_class_internal

inline constexpr std::array<ClassInfo, kNumClasses> kClassInfo =
    size_class_internal::MakeClassTable();
// Up to 1 KiB by 8 bytes; up to 64 KiB by 128 bytes (classes above 1 KiB are
// multiples of 128: CheckTable).
inline constexpr size_t kLookupMaxSize = 64 * 1024;
inline constexpr std::array<uint8_t, kTinyMaxSize / 8 + 1> kTinyClassLookup =
    size_class_internal::MakeLookup<kTinyMaxSize, 8>();
inline constexpr std::array<uint8_t, kLookupMaxSize / 128 + 1> kMidClassLookup =
    size_class_internal::MakeLookup<kLookupMaxSize, 128>();
inline constexpr int kTinyClassCount = kTinyClassLookup[kTinyMaxSize / 8] + 1;
// SizeToClass above the lookup table: the class of the log sequence's i-th
// size is kFirstLogClass + i (every inserted class lies below).
inline constexpr int kFirstLogClass = 8 + size_class_internal::kNumPageHeaderClasses;

// Class index for a request of 0 < size <= kMaxSmallSize (size 0 maps to class
// 0): a table up to 64 KiB, arithmetic above.
ABSL_ATTRIBUTE_ALWAYS_INLINE inline int SizeToClass(size_t size) {
  if (ABSL_PREDICT_TRUE(size <= kTinyMaxSize)) return kTinyClassLookup[(size + 7) >> 3];
  if (ABSL_PREDICT_TRUE(size <= kLookupMaxSize)) return kMidClassLookup[(size + 127) >> 7];
  // 4 classes per doubling: position of the highest bit of (size - 1), then
  // the two bits below it pick the quarter.
  const size_t s = size - 1;
  const int lg = 63 - __builtin_clzll(s);  // >= 16 here
  const int quarter = static_cast<int>((s >> (lg - 2)) & 3);
  return kFirstLogClass + (lg - 7) * 4 + quarter;
}
static_assert(size_class_internal::kPageHeaderClasses[size_class_internal::kNumPageHeaderClasses - 1] <
              kLookupMaxSize);

inline constexpr size_t ClassSize(int c) { return kClassInfo[c].size; }

// The L2.5 classes above kSharedSpanMaxSize: a span holds one block.
inline constexpr bool HasOneBlockSpansOfSize(size_t block_size) {
  return block_size > kSharedSpanMaxSize;
}
inline constexpr bool HasOneBlockSpans(int c) { return HasOneBlockSpansOfSize(ClassSize(c)); }

// Aligned requests (posix_memalign & co., alignment 2^s for s <= kUnitShift).
// kAlignedClassPlan[s][c], for c the class of max(size, alignment): the
// smallest class d from c on whose blocks are multiples of the alignment.
// Uncoloured spans start 64 KiB aligned and a coloured class's blocks at
// 64-byte multiples, so d's blocks keep an alignment up to 64, and any
// alignment if d is uncoloured; else the entry is d | kColourZero: only d's
// spans laid out at colour 0 keep it, and the request takes a block of one
// (ThreadCache::TryPopAligned, AllocColourZero). Power-of-two classes exist
// up to 1 MiB, so the search always ends. A table, not a search per request:
// the search's loop and the colour test, whose outcome varies with the
// size, were a fifth of posix_memalign's instructions.
inline constexpr uint8_t kColourZero = 0x80;
inline constexpr auto kAlignedClassPlan = [] {
  std::array<std::array<uint8_t, kNumClasses>, kUnitShift + 1> t{};
  for (size_t s = 0; s <= kUnitShift; ++s) {
    const size_t alignment = size_t{1} << s;
    for (int c = 0; c < kNumClasses; ++c) {
      int d = c;
      while ((ClassSize(d) & (alignment - 1)) != 0) ++d;
      const bool starts_aligned = kClassInfo[d].colors == 1 || alignment <= 64;
      t[s][c] = static_cast<uint8_t>(starts_aligned ? d : d | kColourZero);
    }
  }
  return t;
}();
static_assert(kNumClasses <= kColourZero);

// The plan for `size` bytes aligned to `alignment` (a power of two up to
// kUnitSize; size <= kMaxSmallSize): a class, or a class | kColourZero.
ABSL_ATTRIBUTE_ALWAYS_INLINE inline int AlignedClassOf(size_t size, size_t alignment) {
  return kAlignedClassPlan[__builtin_ctzll(alignment)][SizeToClass(size < alignment ? alignment : size)];
}

// The tiers of the slab pool, by class (docs/ARCHITECTURE.md).
enum class Tier : uint8_t { kTiny, kMid, kL25 };
inline constexpr Tier TierOfClass(int c) {
  return ClassSize(c) <= kTinyMaxSize ? Tier::kTiny
         : ClassSize(c) <= kMidMaxSize ? Tier::kMid
                                       : Tier::kL25;
}

namespace size_class_internal {
constexpr bool CheckTable() {
  for (int c = 0; c < kNumClasses; ++c) {
    const ClassInfo& ci = kClassInfo[c];
    if (ci.size % 16 != 0) return false;
    if (c > 0 && ci.size <= kClassInfo[c - 1].size) return false;
    // Waste bound: the smallest request of class c is previous size + 1.
    if (c > 7) {
      const size_t min_req = kClassInfo[c - 1].size + 1;
      if ((ci.size - min_req) * 4 >= min_req) return false;  // < 25%
    }
    const size_t span = size_t{ci.span_units} * kUnitSize;
    if (ci.size > kSharedSpanMaxSize) {  // one block per span, its last unit partly unused
      if (ci.capacity != 1 || span < ci.size || span - ci.size >= kUnitSize) return false;
      continue;
    }
    if (ci.size > kMidMaxSize && span > kBigSpanBytes) return false;
    if (ci.capacity < 2) return false;
    // Tail waste <= 12.5%, or one block given up to colouring out of >= 16.
    const size_t tail = span - size_t{ci.capacity} * ci.size;
    if (tail * 8 > span && !(ci.colors > 1 && (tail - ci.size) * 8 <= span && ci.capacity >= 15))
      return false;
    // Colour offsets stay inside the span.
    if ((size_t{ci.colors} - 1) * 64 > tail) return false;
    // The lookup tables are exact: every boundary is a multiple of the granule.
    if (ci.size <= kTinyMaxSize && ci.size % 8 != 0) return false;
    if (ci.size > kTinyMaxSize && ci.size <= kLookupMaxSize && ci.size % 128 != 0) return false;
    // Coloured classes' blocks start at 64-byte multiples: an alignment up to
    // 64 takes any class that is a multiple of it (core/alloc.cc).
    if (ci.colors > 1 && ci.size % 64 != 0) return false;
  }
  return kClassInfo[kNumClasses - 1].size == kMaxSmallSize;
}
}  // namespace size_class_internal

static_assert(size_class_internal::CheckTable(), "size class table out of bounds");
static_assert(kNumClasses <= 64, "class index must fit the per-heap tables");

}  // namespace hakmem

#endif  // HAKMEM_CORE_BASE_SIZE_CLASSES_H_
