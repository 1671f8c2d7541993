// The shadow model of the differential API test (api_differential_test.cc):
// what the test believes about every block hakmem handed out, and the checks
// that compare hakmem's memory against that belief.
//
//  - Block: one live allocation as the model knows it: requested size, the
//    alignment it was promised, how it was allocated (Kind: which functions may
//    free or resize it), the seed of the byte pattern written over it, and
//    where it came from (sequence, operation, thread) for failure reports.
//  - Patterns: a block's bytes are a pure function of (seed, offset), so a
//    copy to the wrong offset, a stale block or a stray write all show up.
//  - LiveRanges: every live block's address range in one ordered map, shared
//    by all threads; inserting a range checks its neighbours for overlap.
//  - Exchange: the shared pool through which threads hand live blocks to
//    each other, so blocks are freed and resized away from their allocator.
#ifndef HAKMEM_TESTS_API_SHADOW_MODEL_H_
#define HAKMEM_TESTS_API_SHADOW_MODEL_H_

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <map>
#include <mutex>
#include <vector>

namespace hakmem::test {

// splitmix64: each sequence gets its own generator from (run seed, sequence).
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  uint64_t Next() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  // Uniform in [0, n); n > 0.
  uint64_t Below(uint64_t n) { return Next() % n; }
  // Uniform in [lo, hi].
  uint64_t Between(uint64_t lo, uint64_t hi) { return lo + Below(hi - lo + 1); }
  bool OneIn(uint64_t n) { return Below(n) == 0; }

 private:
  uint64_t state_;
};

// ---- byte patterns ---------------------------------------------------------
// Byte i of a block is byte (i % 8) of PatternWord(seed, i / 8). Loads and
// stores use __builtin_memcpy: the test is built with -fno-builtin, under
// which a plain memcpy would stay a call per word.

inline uint64_t PatternWord(uint64_t seed, size_t word) {
  const uint64_t x = seed + word * 0x9E3779B97F4A7C15ull;
  return x ^ (x >> 29);
}

inline unsigned char PatternByte(uint64_t seed, size_t i) {
  return static_cast<unsigned char>(PatternWord(seed, i / 8) >> (8 * (i % 8)));
}

// Writes the pattern of `seed` over bytes [from, to) of the block at p.
inline void FillPattern(void* p, size_t from, size_t to, uint64_t seed) {
  auto* b = static_cast<unsigned char*>(p);
  size_t i = from;
  for (; i < to && i % 8 != 0; ++i) b[i] = PatternByte(seed, i);
  for (; i + 8 <= to; i += 8) {
    const uint64_t w = PatternWord(seed, i / 8);
    __builtin_memcpy(b + i, &w, 8);
  }
  for (; i < to; ++i) b[i] = PatternByte(seed, i);
}

constexpr size_t kIntact = SIZE_MAX;

// The offset of the first byte in [from, to) that differs from the pattern,
// or kIntact.
inline size_t FindPatternMismatch(const void* p, size_t from, size_t to, uint64_t seed) {
  const auto* b = static_cast<const unsigned char*>(p);
  size_t i = from;
  for (; i < to && i % 8 != 0; ++i) {
    if (b[i] != PatternByte(seed, i)) return i;
  }
  for (; i + 8 <= to; i += 8) {
    uint64_t w;
    __builtin_memcpy(&w, b + i, 8);
    if (w != PatternWord(seed, i / 8)) break;  // the byte loop below finds it
  }
  for (; i < to; ++i) {
    if (b[i] != PatternByte(seed, i)) return i;
  }
  return kIntact;
}

// The offset of the first non-zero byte in [0, n), or kIntact.
inline size_t FindNonZero(const void* p, size_t n) {
  const auto* b = static_cast<const unsigned char*>(p);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t w;
    __builtin_memcpy(&w, b + i, 8);
    if (w != 0) break;
  }
  for (; i < n; ++i) {
    if (b[i] != 0) return i;
  }
  return kIntact;
}

// ---- blocks ------------------------------------------------------------------

// How a block was allocated; decides which functions may free or resize it.
enum class Kind : uint8_t {
  // The C family: free/cfree/__libc_free, realloc and reallocarray apply.
  kMalloc,
  kCalloc,
  kRealloc,
  kReallocArray,
  kMemalign,
  kPosixMemalign,
  kAlignedAlloc,
  kValloc,
  kPvalloc,
  // operator new: only the matching operator delete forms apply.
  kNew,
  kNewNothrow,
  kNewArray,
  kNewArrayNothrow,
  kNewAligned,
  kNewAlignedNothrow,
  kNewArrayAligned,
  kNewArrayAlignedNothrow,
};
constexpr int kNumKinds = static_cast<int>(Kind::kNewArrayAlignedNothrow) + 1;

inline const char* KindName(Kind k) {
  static const char* const kNames[kNumKinds] = {"malloc",
                                                "calloc",
                                                "realloc",
                                                "reallocarray",
                                                "memalign",
                                                "posix_memalign",
                                                "aligned_alloc",
                                                "valloc",
                                                "pvalloc",
                                                "new",
                                                "new(nothrow)",
                                                "new[]",
                                                "new[](nothrow)",
                                                "new(align)",
                                                "new(align,nothrow)",
                                                "new[](align)",
                                                "new[](align,nothrow)"};
  return kNames[static_cast<int>(k)];
}

inline bool IsCFamily(Kind k) { return k <= Kind::kPvalloc; }
inline bool IsArrayNew(Kind k) {
  return k == Kind::kNewArray || k == Kind::kNewArrayNothrow || k == Kind::kNewArrayAligned ||
         k == Kind::kNewArrayAlignedNothrow;
}
inline bool IsAlignedNew(Kind k) { return k >= Kind::kNewAligned; }

// Where a block comes from: the operation that allocated it.
struct Origin {
  uint64_t seq = 0;
  uint32_t op = 0;
  uint32_t thread = 0;
};

struct Block {
  void* p = nullptr;
  size_t size = 0;     // requested (pvalloc: rounded to whole pages)
  size_t align = 0;    // alignment promised (0: the default for the size)
  size_t written = 0;  // bytes holding the pattern: size, or up to the usable size
  uint64_t seed = 0;   // pattern seed
  Kind kind = Kind::kMalloc;
  uint32_t handoffs = 0;  // times it went through the exchange
  Origin origin;
};

// ---- live ranges ---------------------------------------------------------------

// Every live block's bytes [p, p + max(written, 1)) in one ordered map, keyed
// by start address. A block is inserted after hakmem returns it and erased
// before it is passed to free/realloc, so the map never holds a range hakmem
// may legitimately hand out again.
class LiveRanges {
 public:
  struct Range {
    uintptr_t end = 0;
    Block info;  // for the report when another block overlaps it
  };

  // Inserts b; if it overlaps a live range, returns false and stores that
  // range's block in *other (b is not inserted).
  bool Insert(const Block& b, Block* other) {
    const uintptr_t begin = reinterpret_cast<uintptr_t>(b.p);
    const uintptr_t end = begin + (b.written > 0 ? b.written : 1);
    std::lock_guard<std::mutex> lock(mu_);
    auto next = map_.lower_bound(begin);
    if (next != map_.end() && next->first < end) {
      *other = next->second.info;
      return false;
    }
    if (next != map_.begin()) {
      auto prev = std::prev(next);
      if (prev->second.end > begin) {
        *other = prev->second.info;
        return false;
      }
    }
    map_.emplace_hint(next, begin, Range{end, b});
    return true;
  }

  // The block's written range grew (its usable tail now holds the pattern):
  // checks that the grown range reaches no other live block, then records it.
  // On failure *other is the block reached, or has p == nullptr if b was not
  // live (a bug in the test's bookkeeping).
  bool Grow(const Block& b, Block* other) {
    const uintptr_t begin = reinterpret_cast<uintptr_t>(b.p);
    const uintptr_t end = begin + (b.written > 0 ? b.written : 1);
    std::lock_guard<std::mutex> lock(mu_);
    auto it = map_.find(begin);
    if (it == map_.end()) {
      *other = Block{};  // p == nullptr: b itself was not live
      return false;
    }
    auto next = std::next(it);
    if (next != map_.end() && next->first < end) {
      *other = next->second.info;
      return false;
    }
    it->second.end = end;
    it->second.info = b;
    return true;
  }

  // False if p was not live (a bug in the test's bookkeeping).
  bool Erase(const void* p) {
    std::lock_guard<std::mutex> lock(mu_);
    return map_.erase(reinterpret_cast<uintptr_t>(p)) == 1;
  }

  size_t Count() {
    std::lock_guard<std::mutex> lock(mu_);
    return map_.size();
  }

 private:
  std::mutex mu_;
  std::map<uintptr_t, Range> map_;
};

// ---- the exchange ----------------------------------------------------------------

// Live blocks in transit between threads (bounded). Whoever takes a block
// owns it: may verify, resize, hand it on or free it.
class Exchange {
 public:
  explicit Exchange(size_t capacity) : capacity_(capacity) { blocks_.reserve(capacity); }

  bool Give(const Block& b) {
    std::lock_guard<std::mutex> lock(mu_);
    if (blocks_.size() >= capacity_) return false;
    blocks_.push_back(b);
    blocks_.back().handoffs++;
    return true;
  }

  // Takes the block at a random position (pick: any number); false if empty.
  bool Take(uint64_t pick, Block* out) {
    std::lock_guard<std::mutex> lock(mu_);
    if (blocks_.empty()) return false;
    const size_t i = pick % blocks_.size();
    *out = blocks_[i];
    blocks_[i] = blocks_.back();
    blocks_.pop_back();
    return true;
  }

 private:
  std::mutex mu_;
  const size_t capacity_;
  std::vector<Block> blocks_;
};

}  // namespace hakmem::test

#endif  // HAKMEM_TESTS_API_SHADOW_MODEL_H_
