// The calls of a differential API test sequence that must fail, and how
// (glibc's documented answers, README.md "Behaviour at the edges"):
//  - impossible sizes (near SIZE_MAX, above PTRDIFF_MAX) through every entry
//    point: NULL + ENOMEM; operator new throws std::bad_alloc, the nothrow
//    forms return nullptr (no new_handler is installed);
//  - n * size overflowing in calloc and reallocarray: NULL + ENOMEM;
//  - a failed realloc/reallocarray leaves the block live and unchanged;
//  - posix_memalign with an alignment that is not a power of two times
//    sizeof(void*): EINVAL; with an impossible size: ENOMEM; either way
//    *memptr and errno are left alone;
//  - aligned_alloc with an alignment that is not a power of two: NULL + EINVAL;
//  - memalign with an alignment above SIZE_MAX / 2 + 1: NULL + EINVAL;
//  - free(NULL) and every delete of nullptr leave errno alone;
//    malloc_usable_size(NULL) is 0.
#ifndef HAKMEM_TESTS_API_DIFFERENTIAL_ERROR_PATHS_H_
#define HAKMEM_TESTS_API_DIFFERENTIAL_ERROR_PATHS_H_

#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>

#include <cstddef>
#include <new>

#include "tests/api_differential_sequence.h"
#include "tests/api_shadow_model.h"

namespace hakmem::test {

// Sizes no machine can serve. Near SIZE_MAX, a size plus an alignment or a
// page rounding overflows: exactly what an allocator must not get wrong.
inline size_t Sequence::DrawHugeSize() {
  static constexpr size_t kHuge[] = {SIZE_MAX,         SIZE_MAX - 1,   SIZE_MAX - 4095,
                                     SIZE_MAX / 2 + 1, PTRDIFF_MAX,    PTRDIFF_MAX + 1ul,
                                     size_t{1} << 62,  size_t{1} << 60};
  if (rng_.OneIn(4)) return SIZE_MAX - rng_.Below(4 * kMiB);
  return kHuge[rng_.Below(sizeof(kHuge) / sizeof(kHuge[0]))];
}

// n and m with n * m > SIZE_MAX (either order).
inline void Sequence::DrawOverflowPair(size_t* n, size_t* m) {
  if (rng_.OneIn(8)) {
    *n = *m = SIZE_MAX;
    return;
  }
  const size_t a = rng_.Between(2, size_t{2} << rng_.Below(40));
  const size_t b = SIZE_MAX / a + 1 + rng_.Below(1024);
  *n = rng_.OneIn(2) ? a : b;
  *m = *n == a ? b : a;
}

inline void Sequence::ExpectFailure(const void* p, int want_errno) {
  const int err = errno;
  if (p != nullptr) return Fail(nullptr, "returned %p for a request that must fail", p);
  if (err != want_errno) {
    Fail(nullptr, "errno %d after failing, want %d (%s)", err, want_errno,
         want_errno == ENOMEM ? "ENOMEM" : "EINVAL");
  }
}

inline void Sequence::ErrorPathOp() {
  ++counters_[kErrorPaths];
  const size_t huge = DrawHugeSize();
  const size_t small = rng_.Below(257);
  size_t n, m;
  switch (rng_.Below(15)) {
    case 0:
      SetOp("malloc", huge, 0, 1);
      errno = kErrnoSentinel;
      return ExpectFailure(malloc(huge), ENOMEM);
    case 1:
      DrawOverflowPair(&n, &m);
      SetOp("calloc (n * m overflows)", n, m, 2);
      errno = kErrnoSentinel;
      return ExpectFailure(calloc(n, m), ENOMEM);
    case 2:
      n = rng_.OneIn(2) ? 1 : huge;
      m = n == 1 ? huge : 1;
      SetOp("calloc", n, m, 2);
      errno = kErrnoSentinel;
      return ExpectFailure(calloc(n, m), ENOMEM);
    case 3:
    case 4:
      return FailingResize(/*array=*/rng_.OneIn(2));
    case 5:
    case 6:
      return FailingPosixMemalign(/*bad_alignment=*/rng_.OneIn(2));
    case 7: {  // not a power of two (0 included)
      static constexpr size_t kBad[] = {0, 3, 12, 24, 48, 96, 4095, 4097, 3 << 20, SIZE_MAX};
      const size_t al = rng_.OneIn(2) ? kBad[rng_.Below(10)] : DrawAlign() + rng_.Between(1, 7);
      SetOp("aligned_alloc", al, small, 2);
      errno = kErrnoSentinel;
      return ExpectFailure(aligned_alloc(al, small), EINVAL);
    }
    case 8: {
      const size_t al = rng_.OneIn(8) ? size_t{1} << rng_.Below(3) : DrawAlign();
      SetOp("aligned_alloc", al, huge, 2);
      errno = kErrnoSentinel;
      return ExpectFailure(aligned_alloc(al, huge), ENOMEM);
    }
    case 9: {  // no power of two is that large
      const size_t al = rng_.OneIn(2) ? SIZE_MAX : SIZE_MAX / 2 + 2 + rng_.Below(SIZE_MAX / 4);
      SetOp("memalign", al, small, 2);
      errno = kErrnoSentinel;
      return ExpectFailure(memalign(al, small), EINVAL);
    }
    case 10: {
      size_t al = DrawAlign();
      if (rng_.OneIn(4)) al += rng_.Between(1, al - 1);  // rounded up, then fails on size
      SetOp("memalign", al, huge, 2);
      errno = kErrnoSentinel;
      return ExpectFailure(memalign(al, huge), ENOMEM);
    }
    case 11:
      SetOp("valloc", huge, 0, 1);
      errno = kErrnoSentinel;
      return ExpectFailure(valloc(huge), ENOMEM);
    case 12:
      SetOp("pvalloc", huge, 0, 1);
      errno = kErrnoSentinel;
      return ExpectFailure(pvalloc(huge), ENOMEM);
    case 13:
      return FailingNew();
    default:
      return NullFrees();
  }
}

// realloc(p, impossible) or reallocarray(p, n, m) with n * m overflowing, on a
// live C-family block (or NULL when the sequence holds none): NULL + ENOMEM,
// and the block stays live with its content and usable size.
inline void Sequence::FailingResize(bool array) {
  const int i = PickCFamily();
  Block* b = i >= 0 ? &local_[static_cast<size_t>(i)] : nullptr;
  SetOp("failing resize: verify before");
  if (b != nullptr && !Verify(*b)) return;
  void* p = b != nullptr ? b->p : nullptr;
  const uint64_t rejected = InvalidFreeCount();
  void* q;
  if (array) {
    size_t n, m;
    DrawOverflowPair(&n, &m);
    SetOp(p ? "reallocarray(p, n, m) (n * m overflows)" : "reallocarray(NULL, n, m) (overflows)", n,
          m, 2);
    errno = kErrnoSentinel;
    q = reallocarray(p, n, m);
  } else {
    const size_t n = DrawHugeSize();
    SetOp(p ? "realloc(p, n)" : "realloc(NULL, n)", n, 0, 1);
    errno = kErrnoSentinel;
    q = realloc(p, n);
  }
  ExpectFailure(q, ENOMEM);
  if (failed_ || b == nullptr) return;
  ExpectAccepted(rejected, *b);  // a valid block, though it cannot grow that much
  if (failed_ || !Verify(*b)) return;
  if (const size_t usable = malloc_usable_size(p); usable < b->size) {
    Fail(b, "after the failed resize, malloc_usable_size %zu < size %zu", usable, b->size);
  }
}

inline void Sequence::FailingPosixMemalign(bool bad_alignment) {
  static constexpr size_t kBad[] = {0, 1, 2, 4, 3, 12, 24, 48, 4095, 4097, 3 << 20, SIZE_MAX};
  size_t al = DrawAlign();
  size_t size = rng_.Below(257);
  int want = ENOMEM;
  if (bad_alignment) {
    al = rng_.OneIn(2) ? kBad[rng_.Below(12)] : al + rng_.Between(1, 7);
    want = EINVAL;
  } else {
    size = DrawHugeSize();
  }
  const bool alias = rng_.OneIn(4);
  SetOp(alias ? "__posix_memalign" : "posix_memalign", al, size, 2);
  void* const kUntouched = reinterpret_cast<void*>(uintptr_t{0xDEADBEEF0});
  void* out = kUntouched;
  errno = kErrnoSentinel;
  const int rc = alias ? __posix_memalign(&out, al, size) : posix_memalign(&out, al, size);
  const int err = errno;
  if (rc != want) {
    Fail(nullptr, "returned %d (*memptr %p), want %s", rc, out,
         want == ENOMEM ? "ENOMEM" : "EINVAL");
  } else if (out != kUntouched) {
    Fail(nullptr, "wrote %p to *memptr on error; it must be left alone", out);
  } else if (err != kErrnoSentinel) {
    Fail(nullptr, "changed errno to %d on error (the error is the return value)", err);
  }
}

// operator new with an impossible size: the throwing forms throw
// std::bad_alloc, the nothrow forms return nullptr.
inline void Sequence::FailingNew() {
  const Kind kind =
      static_cast<Kind>(rng_.Between(static_cast<uint64_t>(Kind::kNew), kNumKinds - 1));
  const size_t size = DrawHugeSize();
  const size_t align = IsAlignedNew(kind) ? DrawAlign() : 0;
  const std::align_val_t al{align};
  const std::nothrow_t& nt = std::nothrow;
  SetOp(KindName(kind), size, align, align != 0 ? 2 : 1);
  void* p = nullptr;
  bool threw = false;
  bool nothrow = true;
  try {
    switch (kind) {
      case Kind::kNew:
        nothrow = false;
        p = ::operator new(size);
        break;
      case Kind::kNewNothrow:
        p = ::operator new(size, nt);
        break;
      case Kind::kNewArray:
        nothrow = false;
        p = ::operator new[](size);
        break;
      case Kind::kNewArrayNothrow:
        p = ::operator new[](size, nt);
        break;
      case Kind::kNewAligned:
        nothrow = false;
        p = ::operator new(size, al);
        break;
      case Kind::kNewAlignedNothrow:
        p = ::operator new(size, al, nt);
        break;
      case Kind::kNewArrayAligned:
        nothrow = false;
        p = ::operator new[](size, al);
        break;
      default:
        p = ::operator new[](size, al, nt);
        break;
    }
  } catch (const std::bad_alloc&) {
    threw = true;
  }
  if (p != nullptr) {
    Fail(nullptr, "returned %p for an impossible size", p);
  } else if (!nothrow && !threw) {
    Fail(nullptr, "returned nullptr instead of throwing std::bad_alloc");
  }
}

// Freeing nullptr through any function does nothing, errno included.
inline void Sequence::NullFrees() {
  const uint64_t v = rng_.Below(8);
  const std::align_val_t al{DrawAlign()};
  static const char* const kNames[] = {"free(NULL)",
                                       "cfree(NULL)",
                                       "__libc_free(NULL)",
                                       "operator delete(nullptr)",
                                       "operator delete[](nullptr)",
                                       "operator delete(nullptr, align)",
                                       "operator delete[](nullptr, size, align)",
                                       "malloc_usable_size(NULL)"};
  SetOp(kNames[v]);
  errno = kErrnoSentinel;
  size_t usable = 0;
  switch (v) {
    case 0:
      free(nullptr);
      break;
    case 1:
      cfree(nullptr);
      break;
    case 2:
      __libc_free(nullptr);
      break;
    case 3:
      ::operator delete(nullptr);
      break;
    case 4:
      ::operator delete[](nullptr);
      break;
    case 5:
      ::operator delete(nullptr, al);
      break;
    case 6:
      ::operator delete[](nullptr, 16, al);
      break;
    default:
      usable = malloc_usable_size(nullptr);
      break;
  }
  if (errno != kErrnoSentinel) return Fail(nullptr, "changed errno to %d", errno);
  if (usable != 0) Fail(nullptr, "returned %zu, want 0", usable);
}

}  // namespace hakmem::test

#endif  // HAKMEM_TESTS_API_DIFFERENTIAL_ERROR_PATHS_H_
