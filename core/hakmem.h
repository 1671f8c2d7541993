// hakmem's internal allocation API: the front door that routes a request to a tier.
//
// The exported malloc family (preload/) is a thin layer over these functions; tests
// and sanitizer builds call them directly (the sanitizer runtimes own the names
// malloc/free). Every function here is safe to call from any thread, before main,
// and re-entrantly during hakmem's own start-up; none of them calls malloc.
//
// Semantics shared by all callers:
//  - hak_alloc(0) returns a unique, freeable pointer.
//  - On failure the allocating functions return nullptr with errno = ENOMEM;
//    they never change errno on success. hak_free never changes errno.
//  - hak_free(nullptr) does nothing. A pointer hakmem never handed out, or an
//    interior pointer, is reported on stderr and otherwise ignored (never
//    written into a free list).
#ifndef HAKMEM_CORE_HAKMEM_H_
#define HAKMEM_CORE_HAKMEM_H_

#include <cstddef>
#include <cstdint>

namespace hakmem {

void* hak_alloc(size_t size);
// Zeroed memory for n * size bytes; nullptr + ENOMEM if the product overflows.
void* hak_calloc(size_t n, size_t size);
void hak_free(void* p);
// C realloc: p == nullptr acts as hak_alloc(size) (so realloc(NULL, 0) gives a
// pointer); size == 0 with p != nullptr frees p and returns nullptr without
// touching errno, as glibc does. On failure p is untouched and nullptr + ENOMEM
// is returned; a p that is not a block in use (foreign, interior, already
// free) is reported and left alone, and nullptr + EINVAL is returned.
void* hak_realloc(void* p, size_t size);
// alignment must be a power of two (callers validate); any power of two up to
// at least 4 MiB is honoured.
void* hak_alloc_aligned(size_t alignment, size_t size);
// Bytes usable at p (>= the size requested); 0 for nullptr, and 0 with a
// report for anything that is not a block in use.
size_t hak_usable_size(const void* p);
// Returns cached free memory to the OS. Returns 1 if any memory was released.
int hak_trim(size_t pad);
// True if p lies in memory hakmem mapped (a block or any part of one). A
// pointer the range map has no entry for (not hakmem's, or deep inside a Large
// block) costs a walk back over the Large ranges' units (large::RangeAround).
bool hak_owns(const void* p);

}  // namespace hakmem

#endif  // HAKMEM_CORE_HAKMEM_H_
