// bignum: the allocation pattern of arbitrary-precision arithmetic, as cfrac
// (continued-fraction factoring, a classic allocator benchmark) makes it:
// many tiny blocks, each result allocated fresh and most of them freed one or
// two operations later.
//
// A number is a block of 12 + 4 x n bytes: the 8-byte tag, n 32-bit limbs
// (little endian), and 4 bytes that hold the tag's last byte. n is 1 to 13, so
// blocks are 16 - 64 B. Every operation (add, subtract, multiply truncated to
// 13 limbs, divide by a small number, shift right) allocates its result; the
// computations below replace their operands by the results, so a block lives
// until the next step of its computation, freed in near-LIFO order. Each
// thread runs random jobs:
//   gcd  binary GCD of g x a and g x b (a, b random, 1 - 6 limbs; g odd, one
//        limb): shift out the zeros, subtract the smaller from the larger,
//        repeat; the result must be divisible by g;
//   e    e = sum 1 / k! in fixed point with 4 - 12 limbs (term /= k; sum +=
//        term) until the term is zero; the integer part must be 2 and the
//        first fraction limb 0xB7E15162 (with 3 limbs or more);
//   pow  p = x^16 (one-limb x), multiplying step by step, then p x p; the low
//        limb must equal x^32 mod 2^32.
// A job's final result replaces a random entry of a 64-entry table that
// lives through the run (the long-lived numbers, as cfrac's factor base). A
// wrong check counts as a corrupt block (the numbers live in the blocks).
//
// One op is one number allocated (each one is freed in the run). --ops: numbers
// per thread, rounded up to the end of the job that reaches it. --min_size,
// --max_size, --slots and --touch are not used.
#include <utility>

#include "bench/workload/common.h"

namespace hakmem_bench {
namespace {

constexpr uint32_t kMaxLimbs = 13;
constexpr int kTable = 64;

struct Num {
  char* blk = nullptr;
  uint32_t cap = 0;  // limbs in the block
  uint32_t len = 0;  // significant limbs (>= 1; the value 0 is len 1, limb 0)
  uint32_t* d() const { return reinterpret_cast<uint32_t*>(blk + 8); }
  bool zero() const { return len == 1 && d()[0] == 0; }
};

class Arith {
 public:
  explicit Arith(uint64_t* errors) : errors_(errors) {}
  uint64_t ops = 0;

  Num New(uint32_t cap) {
    Num r;
    r.cap = cap < 1 ? 1 : cap > kMaxLimbs ? kMaxLimbs : cap;
    r.blk = RawAlloc(Bytes(r.cap));
    if (!TouchBlock(r.blk, Bytes(r.cap), Touch::kEnds)) ++*errors_;
    ++ops;
    return r;
  }
  void Drop(Num& a) {
    if (a.blk != nullptr) FreeBlock(Block{a.blk, Bytes(a.cap)}, errors_);
    a.blk = nullptr;
  }
  void Set(Num& a, Num r) {  // a = r; the old a is freed
    Drop(a);
    a = r;
  }
  Num Small(uint32_t v) {
    Num r = New(1);
    r.d()[0] = v;
    r.len = 1;
    return r;
  }
  Num Random(Rng& rng, uint32_t limbs) {
    Num r = New(limbs);
    for (uint32_t i = 0; i < r.cap; ++i) r.d()[i] = static_cast<uint32_t>(rng.Next());
    r.d()[r.cap - 1] |= 1u << 31;
    r.len = r.cap;
    return r;
  }
  Num Add(const Num& a, const Num& b) {
    Num r = New(std::max(a.len, b.len) + 1);
    uint64_t c = 0;
    for (uint32_t i = 0; i < r.cap; ++i) {
      c += static_cast<uint64_t>(Limb(a, i)) + Limb(b, i);
      r.d()[i] = static_cast<uint32_t>(c);
      c >>= 32;
    }
    return Trim(r, r.cap);
  }
  Num Sub(const Num& a, const Num& b) {  // a >= b
    Num r = New(a.len);
    int64_t borrow = 0;
    for (uint32_t i = 0; i < a.len; ++i) {
      const int64_t t = static_cast<int64_t>(a.d()[i]) - Limb(b, i) - borrow;
      borrow = t < 0;
      r.d()[i] = static_cast<uint32_t>(t);
    }
    return Trim(r, a.len);
  }
  Num Mul(const Num& a, const Num& b) {  // truncated to kMaxLimbs limbs
    Num r = New(a.len + b.len);
    const uint32_t n = r.cap;
    for (uint32_t i = 0; i < n; ++i) r.d()[i] = 0;
    for (uint32_t i = 0; i < a.len && i < n; ++i) {
      uint64_t c = 0;
      uint32_t j = 0;
      for (; j < b.len && i + j < n; ++j) {
        c += static_cast<uint64_t>(a.d()[i]) * b.d()[j] + r.d()[i + j];
        r.d()[i + j] = static_cast<uint32_t>(c);
        c >>= 32;
      }
      if (i + j < n) r.d()[i + j] = static_cast<uint32_t>(c);
    }
    return Trim(r, n);
  }
  Num DivSmall(const Num& a, uint32_t v, uint32_t* rem) {
    Num r = New(a.len);
    uint64_t rr = 0;
    for (uint32_t i = a.len; i-- > 0;) {
      const uint64_t cur = (rr << 32) | a.d()[i];
      r.d()[i] = static_cast<uint32_t>(cur / v);
      rr = cur % v;
    }
    *rem = static_cast<uint32_t>(rr);
    return Trim(r, a.len);
  }
  Num Shr(const Num& a, uint32_t bits) {
    const uint32_t skip = bits / 32, s = bits % 32;
    if (skip >= a.len) return Small(0);
    Num r = New(a.len - skip);
    for (uint32_t i = 0; i < r.cap; ++i) {
      const uint32_t lo = a.d()[i + skip], hi = Limb(a, i + skip + 1);
      r.d()[i] = s == 0 ? lo : (lo >> s) | (hi << (32 - s));
    }
    return Trim(r, r.cap);
  }
  static int Cmp(const Num& a, const Num& b) {
    if (a.len != b.len) return a.len < b.len ? -1 : 1;
    for (uint32_t i = a.len; i-- > 0;) {
      if (a.d()[i] != b.d()[i]) return a.d()[i] < b.d()[i] ? -1 : 1;
    }
    return 0;
  }
  static uint32_t TrailingZeros(const Num& a) {  // a != 0
    uint32_t i = 0;
    while (a.d()[i] == 0) ++i;
    return 32 * i + __builtin_ctz(a.d()[i]);
  }
  void Check(bool ok) {
    if (!ok) ++*errors_;
  }

 private:
  static size_t Bytes(uint32_t cap) { return 12 + 4 * static_cast<size_t>(cap); }
  static uint32_t Limb(const Num& a, uint32_t i) { return i < a.len ? a.d()[i] : 0; }
  static Num Trim(Num r, uint32_t n) {
    while (n > 1 && r.d()[n - 1] == 0) --n;
    r.len = n;
    return r;
  }
  uint64_t* errors_;
};

Num GcdJob(Arith& A, Rng& rng) {
  const uint32_t g = static_cast<uint32_t>(rng.Next()) | 1;
  Num G = A.Small(g);
  Num x = A.Random(rng, 1 + rng.Below(6)), y = A.Random(rng, 1 + rng.Below(6));
  Num a = A.Mul(G, x), b = A.Mul(G, y);
  A.Drop(x);
  A.Drop(y);
  auto strip = [&](Num& v) {
    if (const uint32_t z = Arith::TrailingZeros(v); z > 0) A.Set(v, A.Shr(v, z));
  };
  strip(a);
  while (!b.zero()) {  // both odd after the strips: b - a is even
    strip(b);
    if (Arith::Cmp(a, b) > 0) std::swap(a, b);
    A.Set(b, A.Sub(b, a));
  }
  uint32_t rem = 0;
  Num q = A.DivSmall(a, g, &rem);
  A.Check(rem == 0);
  A.Drop(a);
  A.Drop(b);
  A.Drop(G);
  return q;
}

Num EJob(Arith& A, Rng& rng) {
  const uint32_t limbs = 4 + static_cast<uint32_t>(rng.Below(9));
  Num term = A.New(limbs);
  for (uint32_t i = 0; i < limbs; ++i) term.d()[i] = 0;
  term.d()[limbs - 1] = 1;  // 1.0 in fixed point
  term.len = limbs;
  Num sum = A.Shr(term, 0);  // a copy
  for (uint32_t k = 1; !term.zero(); ++k) {
    uint32_t rem;
    A.Set(term, A.DivSmall(term, k, &rem));
    A.Set(sum, A.Add(sum, term));
  }
  A.Check(sum.len == limbs && sum.d()[limbs - 1] == 2 && sum.d()[limbs - 2] == 0xB7E15162u);
  A.Drop(term);
  return sum;
}

Num PowJob(Arith& A, Rng& rng) {
  const uint32_t v = static_cast<uint32_t>(rng.Next()) | 1;
  Num x = A.Small(v);
  Num p = A.Mul(x, x);
  for (int i = 2; i < 16; ++i) A.Set(p, A.Mul(p, x));
  A.Set(p, A.Mul(p, p));
  uint32_t want = 1;
  for (int i = 0; i < 32; ++i) want *= v;
  A.Check(p.d()[0] == want);
  A.Drop(x);
  return p;
}

void BignumThread(const Config& cfg, int index, RunControl* ctl, ThreadResult* result) {
  Rng rng(cfg.seed, static_cast<uint64_t>(index));
  uint64_t errors = 0;
  Arith A(&errors);
  Num table[kTable];
  for (auto& t : table) t = A.Random(rng, 1 + rng.Below(kMaxLimbs));
  ctl->WaitForGo();
  A.ops = 0;
  while (!RunOver(cfg, ctl, A.ops)) {
    const uint64_t job = rng.Below(3);
    Num r = job == 0 ? GcdJob(A, rng) : job == 1 ? EJob(A, rng) : PowJob(A, rng);
    A.Set(table[rng.Below(kTable)], r);
  }
  result->end = Clock::now();
  result->ops = A.ops;
  for (auto& t : table) A.Drop(t);
  result->errors = errors;
}

}  // namespace

Outcome RunBignum(const Config& cfg) { return RunIndependentThreads(cfg, BignumThread); }

}  // namespace hakmem_bench
