// The operations of a differential API test sequence (api_differential_sequence.h):
// allocation through every entry point, matching frees, realloc and
// reallocarray (growing, shrinking, to zero), malloc_usable_size (and writing
// the usable tail), hand-offs through the exchange, and the introspection
// calls. Each chooses its arguments from the sequence's generator, calls
// hakmem and lets the model check the answer.
#ifndef HAKMEM_TESTS_API_DIFFERENTIAL_OPS_H_
#define HAKMEM_TESTS_API_DIFFERENTIAL_OPS_H_

#include <errno.h>
#include <malloc.h>
#include <stdlib.h>

#include <bit>
#include <cstddef>
#include <cstdint>
#include <new>

#include "tests/api_differential_sequence.h"
#include "tests/api_shadow_model.h"

namespace hakmem::test {

// How often each operation runs, per 10,000 (allocation takes the rest).
constexpr uint64_t kFreeWeight = 3300;
constexpr uint64_t kReallocWeight = 750;
constexpr uint64_t kReallocToZeroWeight = 100;
constexpr uint64_t kUsableWeight = 400;
constexpr uint64_t kGiveWeight = 350;
constexpr uint64_t kTakeWeight = 350;
constexpr uint64_t kErrorPathWeight = 150;
constexpr uint64_t kIntrospectWeight = 3;

inline bool Sequence::Run() {
  const int mean = shared_.config.ops;
  const uint64_t ops = static_cast<uint64_t>(mean / 2) + rng_.Below(mean + 1);
  for (op_index_ = 0; op_index_ < ops && !failed_; ++op_index_) {
    if (shared_.failures.load(std::memory_order_relaxed) >= shared_.config.max_failures) break;
    uint64_t r = rng_.Below(10000);
    if (local_.size() >= kMaxLocalBlocks || r < kFreeWeight) {
      FreeOp();
    } else if ((r -= kFreeWeight) < kReallocWeight) {
      ReallocOp();
    } else if ((r -= kReallocWeight) < kReallocToZeroWeight) {
      ReallocToZeroOp();
    } else if ((r -= kReallocToZeroWeight) < kUsableWeight) {
      UsableSizeOp();
    } else if ((r -= kUsableWeight) < kGiveWeight + kTakeWeight) {
      HandOffOp(r < kGiveWeight);
    } else if ((r -= kGiveWeight + kTakeWeight) < kErrorPathWeight) {
      ErrorPathOp();
    } else if ((r -= kErrorPathWeight) < kIntrospectWeight) {
      IntrospectOp();
    } else {
      AllocOp();
    }
  }
  if (failed_) return false;  // its blocks stay allocated: they may be corrupt
  // The end: a quarter of the live blocks outlive the sequence in the exchange
  // (and may outlive this thread), the rest are freed here.
  while (!local_.empty() && !failed_) {
    const Block b = TakeLocal(local_.size() - 1);
    SetOp("end of sequence: hand off");
    if (rng_.OneIn(4) && shared_.exchange.Give(b)) {
      ++counters_[kHandoffs];
      continue;
    }
    Release(b);
  }
  ++counters_[kSequences];
  return !failed_;
}

inline Kind Sequence::DrawKind() {
  // Per kind, in Kind's order: the C family, then the eight operator new forms.
  static constexpr uint8_t kWeights[kNumKinds] = {30, 10, 5, 3, 5, 6, 5, 2, 2,
                                                  8,  3,  8, 3, 4, 2, 4, 2};
  static constexpr uint64_t kTotal = [] {
    uint64_t t = 0;
    for (uint8_t w : kWeights) t += w;
    return t;
  }();
  uint64_t r = rng_.Below(kTotal);
  int k = 0;
  while (r >= kWeights[k]) r -= kWeights[k++];
  return static_cast<Kind>(k);
}

inline void Sequence::AllocOp() {
  const Kind kind = DrawKind();
  const size_t size = DrawSize();
  ++counters_[kAllocs];
  if (!IsCFamily(kind)) return AllocNew(kind, size);
  const bool alias = rng_.OneIn(8);  // glibc's internal name: the same function
  size_t bytes = size;               // what the program may use
  size_t align = 0;
  void* p = nullptr;
  switch (kind) {
    case Kind::kMalloc:
      SetOp(alias ? "__libc_malloc" : "malloc", size, 0, 1);
      errno = kErrnoSentinel;
      p = alias ? __libc_malloc(size) : malloc(size);
      break;
    case Kind::kCalloc: {
      const size_t m = DrawElementSize(), n = size / m;
      bytes = n * m;
      SetOp(alias ? "__libc_calloc" : "calloc", n, m, 2);
      errno = kErrnoSentinel;
      p = alias ? __libc_calloc(n, m) : calloc(n, m);
      break;
    }
    case Kind::kRealloc:
      SetOp(alias ? "__libc_realloc(NULL, n)" : "realloc(NULL, n)", size, 0, 1);
      errno = kErrnoSentinel;
      p = alias ? __libc_realloc(nullptr, size) : realloc(nullptr, size);
      break;
    case Kind::kReallocArray: {
      const size_t m = DrawElementSize(), n = size / m;
      bytes = n * m;
      SetOp("reallocarray(NULL, n, m)", n, m, 2);
      errno = kErrnoSentinel;
      p = reallocarray(nullptr, n, m);
      break;
    }
    case Kind::kMemalign: {
      // glibc rounds an alignment that is not a power of two up; 0 and 1 are
      // plain allocations.
      size_t al = DrawAlign();
      if (rng_.OneIn(8)) {
        al += rng_.Between(1, al - 1);
      } else if (rng_.OneIn(16)) {
        al = rng_.Below(9);
      }
      align = al <= 1 ? 0 : std::bit_ceil(al);
      SetOp(alias ? "__libc_memalign" : "memalign", al, size, 2);
      errno = kErrnoSentinel;
      p = alias ? __libc_memalign(al, size) : memalign(al, size);
      break;
    }
    case Kind::kPosixMemalign: {
      align = DrawAlign();
      SetOp(alias ? "__posix_memalign" : "posix_memalign", align, size, 2);
      errno = kErrnoSentinel;
      const int rc = alias ? __posix_memalign(&p, align, size) : posix_memalign(&p, align, size);
      if (rc != 0) return Fail(nullptr, "returned %d for a valid request", rc);
      break;
    }
    case Kind::kAlignedAlloc:
      align = rng_.OneIn(16) ? size_t{1} << rng_.Below(3) : DrawAlign();  // 1, 2, 4 are valid
      SetOp("aligned_alloc", align, size, 2);
      errno = kErrnoSentinel;
      p = aligned_alloc(align, size);
      break;
    case Kind::kValloc:
      align = kPageSize;
      SetOp(alias ? "__libc_valloc" : "valloc", size, 0, 1);
      errno = kErrnoSentinel;
      p = alias ? __libc_valloc(size) : valloc(size);
      break;
    case Kind::kPvalloc:
      // The size is rounded up to whole pages (0: one page), all of it usable.
      align = kPageSize;
      bytes = size == 0 ? kPageSize : (size + kPageSize - 1) / kPageSize * kPageSize;
      SetOp(alias ? "__libc_pvalloc" : "pvalloc", size, 0, 1);
      errno = kErrnoSentinel;
      p = alias ? __libc_pvalloc(size) : pvalloc(size);
      break;
    default:
      break;
  }
  Adopt(p, bytes, align, kind, kind == Kind::kCalloc);
}

inline void Sequence::AllocNew(Kind kind, size_t size) {
  const bool aligned = IsAlignedNew(kind);
  const size_t align = aligned ? DrawAlign() : 0;
  const std::align_val_t al{align};
  const std::nothrow_t& nt = std::nothrow;
  SetOp(KindName(kind), size, align, aligned ? 2 : 1);
  void* p = nullptr;
  errno = kErrnoSentinel;
  try {
    switch (kind) {
      case Kind::kNew:
        p = ::operator new(size);
        break;
      case Kind::kNewNothrow:
        p = ::operator new(size, nt);
        break;
      case Kind::kNewArray:
        p = ::operator new[](size);
        break;
      case Kind::kNewArrayNothrow:
        p = ::operator new[](size, nt);
        break;
      case Kind::kNewAligned:
        p = ::operator new(size, al);
        break;
      case Kind::kNewAlignedNothrow:
        p = ::operator new(size, al, nt);
        break;
      case Kind::kNewArrayAligned:
        p = ::operator new[](size, al);
        break;
      case Kind::kNewArrayAlignedNothrow:
        p = ::operator new[](size, al, nt);
        break;
      default:
        break;
    }
  } catch (const std::bad_alloc&) {
    return Fail(nullptr, "threw std::bad_alloc for a request that must succeed");
  }
  Adopt(p, size, align, kind, false);
}

inline void Sequence::FreeOp() {
  if (local_.empty()) return AllocOp();
  Release(TakeLocal(rng_.Below(local_.size())));
}

// A deallocation function that matches how b was allocated (sets the op name).
inline void Sequence::Deallocate(const Block& b) {
  void* p = b.p;
  const size_t n = b.size;
  const std::align_val_t al{b.align};
  const uint64_t v = rng_.Below(3);
  const bool array = IsArrayNew(b.kind);
  if (IsCFamily(b.kind)) {
    const uint64_t w = rng_.Below(8);
    SetOp(w == 0 ? "cfree" : w == 1 ? "__libc_free" : "free");
    w == 0 ? cfree(p) : w == 1 ? __libc_free(p) : free(p);
  } else if (!IsAlignedNew(b.kind)) {
    if (v == 0) {
      SetOp(array ? "operator delete[](p)" : "operator delete(p)");
      array ? ::operator delete[](p) : ::operator delete(p);
    } else if (v == 1) {
      SetOp(array ? "operator delete[](p, size)" : "operator delete(p, size)", n, 0, 1);
      array ? ::operator delete[](p, n) : ::operator delete(p, n);
    } else {
      SetOp(array ? "operator delete[](p, nothrow)" : "operator delete(p, nothrow)");
      array ? ::operator delete[](p, std::nothrow) : ::operator delete(p, std::nothrow);
    }
  } else if (v == 0) {
    SetOp(array ? "operator delete[](p, align)" : "operator delete(p, align)", b.align, 0, 1);
    array ? ::operator delete[](p, al) : ::operator delete(p, al);
  } else if (v == 1) {
    SetOp(array ? "operator delete[](p, size, align)" : "operator delete(p, size, align)", n,
          b.align, 2);
    array ? ::operator delete[](p, n, al) : ::operator delete(p, n, al);
  } else {
    SetOp(array ? "operator delete[](p, align, nothrow)" : "operator delete(p, align, nothrow)",
          b.align, 0, 1);
    array ? ::operator delete[](p, al, std::nothrow) : ::operator delete(p, al, std::nothrow);
  }
}

// realloc or reallocarray of a C-family block to a new size: anywhere in the
// size mix, a little more or less (the in-place paths), double or half.
inline void Sequence::ReallocOp() {
  const int i = PickCFamily();
  if (i < 0) return AllocOp();
  const Block b = TakeLocal(static_cast<size_t>(i));
  ++counters_[kReallocs];
  SetOp("realloc: verify before");
  if (!Verify(b)) return;
  const uint64_t r = rng_.Below(100);
  size_t n = r < 50   ? DrawSize()
             : r < 75 ? (b.size > 64 ? b.size - 64 : 0) + rng_.Below(129)
             : r < 88 ? b.size * 2 + rng_.Below(16)
                      : b.size / 2;
  if (n == 0) n = 1;               // size 0 frees: ReallocToZeroOp
  if (n > 4 * kMiB) n = 4 * kMiB;  // keep doubling within the size mix
  if (!shared_.ranges.Erase(b.p)) return Fail(&b, "test bug: block missing from the live map");
  Kind kind = Kind::kRealloc;
  const uint64_t rejected = InvalidFreeCount();
  void* q;
  if (rng_.OneIn(6)) {
    const size_t m = DrawElementSize();
    const size_t count = n / m > 0 ? n / m : 1;
    n = count * m;
    kind = Kind::kReallocArray;
    SetOp("reallocarray(p, n, m)", count, m, 2);
    errno = kErrnoSentinel;
    q = reallocarray(b.p, count, m);
  } else {
    const bool alias = rng_.OneIn(8);
    SetOp(alias ? "__libc_realloc(p, n)" : "realloc(p, n)", n, 0, 1);
    errno = kErrnoSentinel;
    q = alias ? __libc_realloc(b.p, n) : realloc(b.p, n);
  }
  if (Adopt(q, n, 0, kind, false, &b)) ExpectAccepted(rejected, b);
}

// glibc: realloc(p, 0) (and reallocarray with a zero count or size) frees p
// and returns NULL, errno untouched.
inline void Sequence::ReallocToZeroOp() {
  const int i = PickCFamily();
  if (i < 0) return AllocOp();
  const Block b = TakeLocal(static_cast<size_t>(i));
  ++counters_[kReallocs];
  SetOp("realloc to 0: verify before");
  if (!Verify(b)) return;
  if (!shared_.ranges.Erase(b.p)) return Fail(&b, "test bug: block missing from the live map");
  const size_t m = DrawElementSize();
  const uint64_t rejected = InvalidFreeCount();
  void* q = nullptr;
  switch (rng_.Below(4)) {
    case 0:
      SetOp("realloc(p, 0)");
      errno = kErrnoSentinel;
      q = realloc(b.p, 0);
      break;
    case 1:
      SetOp("__libc_realloc(p, 0)");
      errno = kErrnoSentinel;
      q = __libc_realloc(b.p, 0);
      break;
    case 2:
      SetOp("reallocarray(p, 0, m)", 0, m, 2);
      errno = kErrnoSentinel;
      q = reallocarray(b.p, 0, m);
      break;
    default:
      SetOp("reallocarray(p, n, 0)", m, 0, 2);
      errno = kErrnoSentinel;
      q = reallocarray(b.p, m, 0);
      break;
  }
  const int err = errno;
  if (q != nullptr) return Fail(&b, "returned %p; glibc frees p and returns NULL", q);
  if (err != kErrnoSentinel) return Fail(&b, "changed errno to %d", err);
  ExpectAccepted(rejected, b);
}

// malloc_usable_size >= the request; half the time the program then uses the
// whole usable size (glibc allows it), so the tail gets the pattern too and
// must reach no other live block.
inline void Sequence::UsableSizeOp() {
  if (local_.empty()) return AllocOp();
  Block& b = local_[rng_.Below(local_.size())];
  ++counters_[kUsables];
  SetOp("malloc_usable_size");
  if (!Verify(b)) return;
  errno = kErrnoSentinel;
  const size_t usable = malloc_usable_size(b.p);
  if (errno != kErrnoSentinel) return Fail(&b, "changed errno to %d", errno);
  if (usable < b.size) return Fail(&b, "returned %zu < requested %zu", usable, b.size);
  if (usable <= b.written || !rng_.OneIn(2)) return;
  Block grown = b;
  grown.written = usable;
  Block other;
  if (!shared_.ranges.Grow(grown, &other)) {
    if (other.p == nullptr) return Fail(&b, "test bug: block missing from the live map");
    return FailOverlap(b, other, "the usable range [%p, +%zu) reaches another live block", b.p,
                       usable);
  }
  FillPattern(b.p, b.written, usable, b.seed);
  b.written = usable;
}

inline void Sequence::HandOffOp(bool give) {
  if (give) {
    if (local_.empty()) return AllocOp();
    const size_t i = rng_.Below(local_.size());
    SetOp("hand off to the exchange");
    if (shared_.exchange.Give(local_[i])) {
      TakeLocal(i);
      ++counters_[kHandoffs];
    }
    return;
  }
  Block b;
  SetOp("take from the exchange");
  if (!shared_.exchange.Take(rng_.Next(), &b)) return AllocOp();
  local_.push_back(b);
}

// malloc_trim and mallinfo2, while other threads allocate and free.
inline void Sequence::IntrospectOp() {
  ++counters_[kIntrospections];
  if (rng_.OneIn(2)) {
    SetOp("malloc_trim", 0, 0, 1);
    const int r = malloc_trim(0);
    if (r != 0 && r != 1) Fail(nullptr, "returned %d, not 0 or 1", r);
    return;
  }
  SetOp("mallinfo2");
  const struct mallinfo2 mi = mallinfo2();
  if (mi.arena == 0 || mi.uordblks + mi.fordblks != mi.arena) {
    Fail(nullptr, "arena %zu, uordblks %zu + fordblks %zu: want arena > 0 and their sum", mi.arena,
         mi.uordblks, mi.fordblks);
  }
}

}  // namespace hakmem::test

#endif  // HAKMEM_TESTS_API_DIFFERENTIAL_OPS_H_
