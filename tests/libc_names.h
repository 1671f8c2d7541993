// Declarations of the glibc allocation names hakmem exports besides the
// standard ones (glibc's headers no longer declare them), for tests that call
// them directly.
#ifndef HAKMEM_TESTS_LIBC_NAMES_H_
#define HAKMEM_TESTS_LIBC_NAMES_H_

#include <cstddef>

extern "C" {
void cfree(void* p);
void* __libc_malloc(size_t size);
void __libc_free(void* p);
void* __libc_calloc(size_t n, size_t size);
void* __libc_realloc(void* p, size_t size);
void* __libc_memalign(size_t alignment, size_t size);
void* __libc_valloc(size_t size);
void* __libc_pvalloc(size_t size);
int __posix_memalign(void** memptr, size_t alignment, size_t size);
}

#endif  // HAKMEM_TESTS_LIBC_NAMES_H_
