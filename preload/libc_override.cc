// The C half of hakmem's export layer: the whole malloc family, glibc's internal
// names and the introspection calls, each a thin wrapper over the core.
//
// Layout: the wrappers are hidden extern "C" functions named hakmem_<name>; the
// exported names at the bottom are aliases of them, one line per symbol
// (HAKMEM_EXPORT). An alias is the same code under a second name, so
// __libc_malloc costs nothing over malloc and no symbol forwards to another.
// malloc and free inline the core's fast paths (core/front_door.h); the rest
// call the hak_* API (core/hakmem.h).
//
// Division of labour with core/: core returns nullptr + ENOMEM on failure, checks
// calloc's n * size overflow, keeps errno unchanged on success and in free, and
// reports foreign pointers. This file owns what the C and POSIX interfaces add
// on top: alignment validation (EINVAL), reallocarray's overflow check,
// memalign/valloc/pvalloc rounding, and the mallinfo/mallopt/malloc_stats
// introspection mapped onto core/stats.h.
//
// Built with -fno-builtin (otherwise gcc may turn code in here back into calls
// to malloc/calloc: infinite recursion) and -fno-exceptions (nothing here
// throws; without landing pads every wrapper can end in a tail jump).
#include <errno.h>
#include <malloc.h>
#include <stdlib.h>
#include <unistd.h>

#include <bit>
#include <climits>
#include <cstddef>
#include <cstdint>

#include "core/front_door.h"
#include "core/hakmem.h"
#include "core/stats.h"

namespace {

using hakmem::hak_alloc_aligned;

size_t PageSize() { return static_cast<size_t>(getpagesize()); }

// True for 1, 2, 4, ... (std::has_single_bit can become a libgcc popcount call).
constexpr bool IsPowerOfTwo(size_t x) { return x != 0 && (x & (x - 1)) == 0; }

// An aligned request: a bin's block that keeps the alignment, else the whole
// slow path (hak_alloc_aligned) as a tail call.
ABSL_ATTRIBUTE_ALWAYS_INLINE inline void* AlignedAlloc(size_t alignment, size_t size) {
  return hakmem::AlignedAllocOr(alignment, size,
                                [=] { return hak_alloc_aligned(alignment, size); });
}

// EINVAL, out of line: errno's store (a call of __errno_location) would give
// its callers a frame.
[[gnu::noinline, gnu::cold]] void* InvalidAlignment() {
  errno = EINVAL;
  return nullptr;
}

// glibc's memalign: a non-power of two is rounded up to the next one (0 and 1
// are plain allocations); beyond SIZE_MAX/2+1 there is none: EINVAL.
void* Memalign(size_t alignment, size_t size) {
  if (ABSL_PREDICT_FALSE(alignment > SIZE_MAX / 2 + 1)) return InvalidAlignment();
  return AlignedAlloc(std::bit_ceil(alignment), size);
}

// posix_memalign's slow half (hakmem_posix_memalign): errno is saved only
// here, off the path of a request a bin serves (the call to
// __errno_location and the registers kept across it were a quarter of such a
// request's instructions).
[[gnu::noinline]] int PosixMemalignSlow(void** memptr, size_t alignment, size_t size) noexcept {
  const int saved_errno = errno;
  void* p = hak_alloc_aligned(alignment, size);
  if (p == nullptr) {
    errno = saved_errno;
    return ENOMEM;
  }
  *memptr = p;
  return 0;
}

// Clamps a mallinfo2 counter into mallinfo's int fields (glibc truncates; a
// saturated value is the less surprising answer for a > 2 GiB heap).
int ToInt(size_t v) { return v > INT_MAX ? INT_MAX : static_cast<int>(v); }

}  // namespace

extern "C" {

#define HAKMEM_HIDDEN __attribute__((visibility("hidden")))

HAKMEM_HIDDEN void* hakmem_malloc(size_t size) noexcept {
  return hakmem::AllocInline(size);
}

HAKMEM_HIDDEN void hakmem_free(void* p) noexcept { hakmem::FreeInline(p); }

HAKMEM_HIDDEN void* hakmem_calloc(size_t n, size_t size) noexcept {
  return hakmem::CallocInline(n, size);
}

HAKMEM_HIDDEN void* hakmem_realloc(void* p, size_t size) noexcept {
  return hakmem::ReallocInline(p, size);
}

HAKMEM_HIDDEN void* hakmem_reallocarray(void* p, size_t n, size_t size) noexcept {
  size_t bytes;
  if (__builtin_mul_overflow(n, size, &bytes)) {
    errno = ENOMEM;
    return nullptr;  // p stays valid and untouched, as with a failed realloc
  }
  return hakmem::hak_realloc(p, bytes);
}

// POSIX: EINVAL unless alignment is a power of two and a multiple of
// sizeof(void*); on any error *memptr is left alone and errno is unchanged.
HAKMEM_HIDDEN int hakmem_posix_memalign(void** memptr, size_t alignment,
                                        size_t size) noexcept {
  if (ABSL_PREDICT_FALSE(!IsPowerOfTwo(alignment) || alignment % sizeof(void*) != 0)) {
    return EINVAL;
  }
  if (void* p = hakmem::AlignedAllocInline(alignment, size)) {
    *memptr = p;
    return 0;
  }
  return PosixMemalignSlow(memptr, alignment, size);
}

// C17 (DR 460) dropped the rule that size be a multiple of alignment and glibc
// never enforced it, so any size is accepted; an alignment that is not a power
// of two (including 0) fails with EINVAL, as in glibc >= 2.38.
HAKMEM_HIDDEN void* hakmem_aligned_alloc(size_t alignment, size_t size) noexcept {
  if (ABSL_PREDICT_FALSE(!IsPowerOfTwo(alignment))) return InvalidAlignment();
  return AlignedAlloc(alignment, size);
}

HAKMEM_HIDDEN void* hakmem_memalign(size_t alignment, size_t size) noexcept {
  return Memalign(alignment, size);
}

HAKMEM_HIDDEN void* hakmem_valloc(size_t size) noexcept {
  return hak_alloc_aligned(PageSize(), size);
}

// Size rounded up to whole pages; 0 becomes one page.
HAKMEM_HIDDEN void* hakmem_pvalloc(size_t size) noexcept {
  const size_t page = PageSize();
  size_t rounded;
  if (__builtin_add_overflow(size, page - 1, &rounded)) {
    errno = ENOMEM;
    return nullptr;
  }
  rounded &= ~(page - 1);
  return hak_alloc_aligned(page, rounded == 0 ? page : rounded);
}

HAKMEM_HIDDEN size_t hakmem_malloc_usable_size(void* p) noexcept {
  return hakmem::UsableSizeInline(p);
}

HAKMEM_HIDDEN int hakmem_malloc_trim(size_t pad) noexcept {
  return hakmem::hak_trim(pad);
}

// mallinfo2 from core/stats.h. glibc's fields describe its arenas; ours map as:
//   arena    = bytes_mapped: everything hakmem holds from the OS (pools, large
//              blocks, caches, metadata). hblks/hblkhd are 0 (mapped large
//              blocks are already in arena, so arena + hblkhd is the total).
//   fordblks = keepcost = bytes_large_cached: free memory kept for reuse that
//              malloc_trim can hand back.
//   uordblks = arena - fordblks: memory in use by the program or held in the
//              pools' caches (an upper bound on bytes in use).
//   ordblks, smblks, usmblks, fsmblks = 0 (no glibc-style bins).
// So uordblks + fordblks == arena, as in glibc.
HAKMEM_HIDDEN struct mallinfo2 hakmem_mallinfo2() noexcept {
  hakmem::Stats s;
  hakmem::GetStats(&s);
  const size_t mapped = s.bytes_mapped;
  const size_t cached = s.bytes_large_cached < mapped ? s.bytes_large_cached : mapped;
  struct mallinfo2 mi = {};
  mi.arena = mapped;
  mi.uordblks = mapped - cached;
  mi.fordblks = cached;
  mi.keepcost = cached;
  return mi;
}

// The same numbers as mallinfo2, saturated at INT_MAX.
HAKMEM_HIDDEN struct mallinfo hakmem_mallinfo() noexcept {
  const struct mallinfo2 m2 = hakmem_mallinfo2();
  struct mallinfo mi = {};
  mi.arena = ToInt(m2.arena);
  mi.ordblks = ToInt(m2.ordblks);
  mi.smblks = ToInt(m2.smblks);
  mi.hblks = ToInt(m2.hblks);
  mi.hblkhd = ToInt(m2.hblkhd);
  mi.usmblks = ToInt(m2.usmblks);
  mi.fsmblks = ToInt(m2.fsmblks);
  mi.uordblks = ToInt(m2.uordblks);
  mi.fordblks = ToInt(m2.fordblks);
  mi.keepcost = ToInt(m2.keepcost);
  return mi;
}

// hakmem is tuned through HAKMEM_* variables; glibc's knobs are accepted and
// ignored (1 = success) so programs that set them keep running.
HAKMEM_HIDDEN int hakmem_mallopt(int param, int value) noexcept { return 1; }

HAKMEM_HIDDEN void hakmem_malloc_stats() noexcept { hakmem::PrintStats(STDERR_FILENO); }

// cfree was dropped from glibc's headers (2.26) but old binaries still call it.
void cfree(void* p) noexcept;
// glibc's internal entry points, called by name from some static code and tools.
void* __libc_malloc(size_t size) noexcept;
void __libc_free(void* p) noexcept;
void* __libc_calloc(size_t n, size_t size) noexcept;
void* __libc_realloc(void* p, size_t size) noexcept;
void* __libc_memalign(size_t alignment, size_t size) noexcept;
void* __libc_valloc(size_t size) noexcept;
void* __libc_pvalloc(size_t size) noexcept;
int __posix_memalign(void** memptr, size_t alignment, size_t size) noexcept;

// The exported names: `name` is an alias of the hidden wrapper `impl`.
#define HAKMEM_EXPORT(name, impl)                            \
  __typeof__(impl) name                                      \
      __attribute__((alias(#impl), visibility("default"), used));

HAKMEM_EXPORT(malloc, hakmem_malloc)
HAKMEM_EXPORT(free, hakmem_free)
HAKMEM_EXPORT(calloc, hakmem_calloc)
HAKMEM_EXPORT(realloc, hakmem_realloc)
HAKMEM_EXPORT(reallocarray, hakmem_reallocarray)
HAKMEM_EXPORT(posix_memalign, hakmem_posix_memalign)
HAKMEM_EXPORT(aligned_alloc, hakmem_aligned_alloc)
HAKMEM_EXPORT(memalign, hakmem_memalign)
HAKMEM_EXPORT(valloc, hakmem_valloc)
HAKMEM_EXPORT(pvalloc, hakmem_pvalloc)
HAKMEM_EXPORT(malloc_usable_size, hakmem_malloc_usable_size)
HAKMEM_EXPORT(malloc_trim, hakmem_malloc_trim)
HAKMEM_EXPORT(mallinfo2, hakmem_mallinfo2)
HAKMEM_EXPORT(mallinfo, hakmem_mallinfo)
HAKMEM_EXPORT(mallopt, hakmem_mallopt)
HAKMEM_EXPORT(malloc_stats, hakmem_malloc_stats)
HAKMEM_EXPORT(cfree, hakmem_free)
HAKMEM_EXPORT(__libc_malloc, hakmem_malloc)
HAKMEM_EXPORT(__libc_free, hakmem_free)
HAKMEM_EXPORT(__libc_calloc, hakmem_calloc)
HAKMEM_EXPORT(__libc_realloc, hakmem_realloc)
HAKMEM_EXPORT(__libc_memalign, hakmem_memalign)
HAKMEM_EXPORT(__libc_valloc, hakmem_valloc)
HAKMEM_EXPORT(__libc_pvalloc, hakmem_pvalloc)
HAKMEM_EXPORT(__posix_memalign, hakmem_posix_memalign)

}  // extern "C"
