// The soak's block contents (tests/soak.h): sizes per band, and the pattern every
// block carries from its allocation to its free.
//
// Word 0 of a block holds its requested size XOR a tag derived from the run's
// seed and the block's address, so a block that travels through the exchange
// array (a bare pointer) tells its checker its size, and a block found at the
// wrong address, or a clobbered word 0, reads as a size out of range. The rest
// is key ^ (i * golden) per 64-bit word i (key from seed, address and size) and
// a byte pattern in the tail. Blocks up to kFullCheckLimit are written and
// checked whole; larger ones in their first and last KiB and one word per
// 256-byte chunk (every page touched, so RSS sees the block, and a check costs
// about 1/32 of a full one). Under TSan, where every access is instrumented,
// blocks above 1 KiB are sampled, one word per 4 KiB page: more operations in
// the same time, which is what TSan needs to see hakmem's interleavings.
#ifndef HAKMEM_TESTS_SOAK_BLOCKS_H_
#define HAKMEM_TESTS_SOAK_BLOCKS_H_

#include <cstddef>
#include <cstdint>

namespace hakmem_test::soak {

constexpr size_t kKiB = 1024;
constexpr size_t kMiB = kKiB * kKiB;
constexpr size_t kMinSize = 8;
constexpr size_t kMaxSize = 4 * kMiB;
#if defined(__SANITIZE_THREAD__)
constexpr size_t kFullCheckLimit = kKiB;
constexpr size_t kChunkWords = 512;
#else
constexpr size_t kFullCheckLimit = 16 * kKiB;
constexpr size_t kChunkWords = 32;
#endif

inline uint64_t Mix(uint64_t x) {  // splitmix64's finaliser
  x ^= x >> 30;
  x *= 0xBF58476D1CE4E5B9ull;
  x ^= x >> 27;
  x *= 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  uint64_t Next() { return Mix(state_ += 0x9E3779B97F4A7C15ull); }
  uint64_t Below(uint64_t n) { return Next() % n; }

 private:
  uint64_t state_;
};

// Size bands; within a band sizes are log-uniform (Large: uniform).
enum Band { kTiny, kMid, kL25, kLarge };

// A seat's 64 slots by home band: 45 Tiny, 14 Mid, 4 L2.5, 1 Large, so each
// band's share of the live set is fixed. The exchange has kExchangeWays atomic
// slots per slot index and a block moves only between a seat's slot and an
// exchange slot of the same index: every band's block count is bounded.
constexpr int kSlots = 64;
constexpr int kExchangeWays = 4;
constexpr Band HomeBand(int slot) {
  return slot < 45 ? kTiny : slot < 59 ? kMid : slot < 63 ? kL25 : kLarge;
}

inline size_t PickSize(Rng& rng, Band band) {
  auto octave = [&](int lo, int hi) {  // [2^lo, 2^(hi+1))
    const size_t base = size_t{1} << (lo + static_cast<int>(rng.Below(hi - lo + 1)));
    return base + rng.Below(base);
  };
  switch (band) {
    case kTiny: return octave(3, 9);    // 8 B - 1 KiB
    case kMid: return octave(10, 15);   // 1 - 64 KiB
    case kL25: return octave(16, 19);   // 64 KiB - 1 MiB
    case kLarge: return kMiB + 1 + rng.Below(3 * kMiB);  // 1 - 4 MiB
  }
  return kMinSize;
}

inline uint64_t SizeTag(uint64_t seed, const void* p) {
  return Mix(seed ^ (reinterpret_cast<uintptr_t>(p) * 0x9E3779B97F4A7C15ull));
}
inline uint64_t BlockKey(uint64_t seed, const void* p, size_t size) {
  return Mix(SizeTag(seed, p) + size);
}
inline uint64_t PatternWord(uint64_t key, size_t i) {
  return key ^ (i * 0x9E3779B97F4A7C15ull);
}
inline unsigned char TailByte(uint64_t key, size_t offset) {
  return static_cast<unsigned char>((key >> ((offset & 7) * 8)) ^ offset);
}

// Calls fn(i) for every word i >= 1 of a block of `size` bytes that carries the
// pattern (all of them, or the sample of a big block; a word may come twice).
template <typename Fn>
void ForEachPatternWord(size_t size, uint64_t key, Fn&& fn) {
  const size_t words = size / 8;
  if (size <= kFullCheckLimit) {
    for (size_t i = 1; i < words; ++i) fn(i);
    return;
  }
  constexpr size_t kEdge = kKiB / 8;
  for (size_t i = 1; i < kEdge; ++i) fn(i);
  for (size_t c = 1; c < words / kChunkWords; ++c) {  // chunk 0: the edge, word 0 is the tag
    fn(c * kChunkWords + (((key >> 7) + c * 13) & (kChunkWords - 1)));
  }
  for (size_t i = words > 2 * kEdge ? words - kEdge : kEdge; i < words; ++i) fn(i);
}

inline void FillBlock(void* p, size_t size, uint64_t seed) {
  auto* w = static_cast<uint64_t*>(p);
  auto* b = static_cast<unsigned char*>(p);
  const uint64_t key = BlockKey(seed, p, size);
  w[0] = size ^ SizeTag(seed, p);
  ForEachPatternWord(size, key, [&](size_t i) { w[i] = PatternWord(key, i); });
  for (size_t j = size / 8 * 8; j < size; ++j) b[j] = TailByte(key, j);
}

// A difference from the expected contents: byte offset, expected and found value.
struct Mismatch {
  bool found = false;
  size_t offset = 0;
  uint64_t want = 0, got = 0;
  void Note(size_t off, uint64_t w, uint64_t g) {
    if (!found) *this = Mismatch{true, off, w, g};
  }
};

// Checks the pattern FillBlock(`was`, size, seed) wrote, in the first `limit`
// bytes of the block now at p (realloc: the block may have moved; limit = size
// when nothing moved or shrank).
inline Mismatch CheckPattern(const void* p, const void* was, size_t size, size_t limit,
                             uint64_t seed) {
  const auto* w = static_cast<const uint64_t*>(p);
  const auto* b = static_cast<const unsigned char*>(p);
  const uint64_t key = BlockKey(seed, was, size);
  const size_t words = limit / 8;
  Mismatch m;
  if (words > 0 && w[0] != (size ^ SizeTag(seed, was))) m.Note(0, size ^ SizeTag(seed, was), w[0]);
  ForEachPatternWord(size, key, [&](size_t i) {
    if (i < words && w[i] != PatternWord(key, i)) m.Note(i * 8, PatternWord(key, i), w[i]);
  });
  for (size_t j = size / 8 * 8; j < limit && j < size; ++j) {
    if (b[j] != TailByte(key, j)) m.Note(j, TailByte(key, j), b[j]);
  }
  return m;
}

// Checks that the bytes FillBlock would write are zero (calloc).
inline Mismatch CheckZero(const void* p, size_t size) {
  const auto* w = static_cast<const uint64_t*>(p);
  const auto* b = static_cast<const unsigned char*>(p);
  Mismatch m;
  if (w[0] != 0) m.Note(0, 0, w[0]);
  ForEachPatternWord(size, /*key=*/0, [&](size_t i) {
    if (w[i] != 0) m.Note(i * 8, 0, w[i]);
  });
  for (size_t j = size / 8 * 8; j < size; ++j) {
    if (b[j] != 0) m.Note(j, 0, b[j]);
  }
  return m;
}

}  // namespace hakmem_test::soak

#endif  // HAKMEM_TESTS_SOAK_BLOCKS_H_
