// Conformance of the exported malloc family and operator new/delete
// (//preload:hakmem linked in, so the names below are hakmem's): C, POSIX and
// glibc semantics, errno behaviour, alignment up to 4 MiB, the new_handler loop.
// Tagged noasan/notsan: a sanitizer runtime would own these names.
//
// Built with -fno-builtin and -fno-allocation-dce, and every result passes
// through Use(), so the compiler cannot fold a malloc/free pair away.
#include <dlfcn.h>
#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cstddef>
#include <new>
#include <string>
#include <thread>
#include <vector>

#include "core/hakmem.h"
#include "gtest/gtest.h"
#include "tests/byte_patterns.h"
#include "tests/libc_names.h"


namespace {

using hakmem::test::AllZero;
using hakmem::test::FillPattern;
using hakmem::test::HasPattern;

using hakmem::hak_owns;

template <typename T>
T* Use(T* p) {
  asm volatile("" : "+r"(p) : : "memory");
  return p;
}

// Hides a constant from the compiler (no -Walloc-size-larger-than noise).
size_t Opaque(size_t n) {
  asm volatile("" : "+r"(n));
  return n;
}

bool IsAligned(const void* p, size_t alignment) {
  return reinterpret_cast<uintptr_t>(p) % alignment == 0;
}

const size_t kPage = static_cast<size_t>(sysconf(_SC_PAGESIZE));
constexpr size_t kFourMiB = size_t{4} << 20;

// One size from each tier and its edges.
const size_t kSizes[] = {1,     8,     16,    17,     100,     1024,    1025,
                         4096,  32768, 32769, 200000, 1 << 20, (1 << 20) + 1,
                         6 << 20};


// Start-up: a constructor that runs before main allocates through every kind
// of entry point (static initialisation order puts this before gtest's own).
struct BeforeMain {
  bool ok = false;
  BeforeMain() {
    void* a = Use(malloc(100));
    void* b = Use(calloc(10, 10));
    void* c = Use(realloc(Use(malloc(10)), 5000));
    int* d = Use(new int(7));
    ok = a && b && c && hak_owns(a) && hak_owns(b) && hak_owns(c) && hak_owns(d) &&
         AllZero(b, 100);
    free(a);
    free(b);
    free(c);
    delete d;
  }
};
BeforeMain before_main;

TEST(Startup, AllocationBeforeMainWorks) { EXPECT_TRUE(before_main.ok); }

// ---- the names resolve to hakmem ------------------------------------------

TEST(Resolution, MallocFamilyIsHakmem) {
  void* p = Use(malloc(16));
  EXPECT_TRUE(hak_owns(p));
  free(p);
  // Through the dynamic symbol table, as a shared library would see it.
  auto* dyn_malloc = reinterpret_cast<void* (*)(size_t)>(dlsym(RTLD_DEFAULT, "malloc"));
  ASSERT_NE(dyn_malloc, nullptr);
  p = Use(dyn_malloc(16));
  EXPECT_TRUE(hak_owns(p));
  free(p);
  // libc's own allocations (strdup) come from hakmem too.
  char* s = Use(strdup("hakmem"));
  EXPECT_TRUE(hak_owns(s));
  free(s);
}

TEST(Resolution, GlibcInternalNamesAndCfree) {
  void* a = Use(__libc_malloc(32));
  void* b = Use(__libc_calloc(4, 8));
  void* c = Use(__libc_realloc(Use(__libc_malloc(8)), 3000));
  void* d = Use(__libc_memalign(256, 100));
  void* e = Use(__libc_valloc(100));
  void* f = Use(__libc_pvalloc(100));
  void* g = nullptr;
  ASSERT_EQ(__posix_memalign(&g, 64, 100), 0);
  for (void* p : {a, b, c, d, e, f, g}) {
    ASSERT_NE(p, nullptr);
    EXPECT_TRUE(hak_owns(p));
  }
  EXPECT_TRUE(AllZero(b, 32));
  EXPECT_TRUE(IsAligned(d, 256));
  EXPECT_TRUE(IsAligned(e, kPage));
  EXPECT_TRUE(IsAligned(f, kPage));
  EXPECT_TRUE(IsAligned(g, 64));
  __libc_free(a);
  __libc_free(b);
  __libc_free(c);
  free(d);
  cfree(e);
  cfree(f);
  free(g);
}

TEST(Resolution, OperatorNewIsHakmem) {
  void* p = Use(::operator new(16));
  EXPECT_TRUE(hak_owns(p));
  ::operator delete(p);
  std::string s(1000, 'x');  // libstdc++'s allocations
  EXPECT_TRUE(hak_owns(s.data()));
}

// ---- malloc / free -------------------------------------------------------

TEST(Malloc, ZeroGivesUniquePointers) {
  void* a = Use(malloc(0));
  void* b = Use(malloc(0));
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  EXPECT_NE(a, b);
  free(a);
  free(b);
}

TEST(Malloc, AlignedUsableAndWritable) {
  for (size_t size : kSizes) {
    SCOPED_TRACE(size);
    void* p = Use(malloc(size));
    ASSERT_NE(p, nullptr);
    EXPECT_TRUE(IsAligned(p, size >= 16 ? 16 : 8));
    const size_t usable = malloc_usable_size(p);
    EXPECT_GE(usable, size);
    memset(p, 0xEE, usable);
    free(p);
  }
  EXPECT_EQ(malloc_usable_size(nullptr), 0u);
}

TEST(Malloc, ImpossibleSizeFailsWithEnomem) {
  for (size_t size : {SIZE_MAX, SIZE_MAX - 100, SIZE_MAX / 2 + 1}) {
    errno = 0;
    EXPECT_EQ(Use(malloc(Opaque(size))), nullptr);
    EXPECT_EQ(errno, ENOMEM);
  }
}

TEST(Free, NeverChangesErrno) {
  errno = 1234;
  free(nullptr);
  EXPECT_EQ(errno, 1234);
  for (size_t size : kSizes) {
    SCOPED_TRACE(size);
    void* p = Use(malloc(size));
    errno = 1234;
    free(p);
    EXPECT_EQ(errno, 1234);
  }
  std::vector<void*> many;
  for (int i = 0; i < 10000; ++i) many.push_back(Use(malloc(24)));
  errno = 1234;
  for (void* p : many) free(p);
  EXPECT_EQ(errno, 1234);
  // The same holds for operator delete and for a free from another thread.
  errno = 1234;
  ::operator delete(Use(::operator new(100)));
  EXPECT_EQ(errno, 1234);
  void* remote = Use(malloc(64));
  std::thread([remote] {
    errno = 1234;
    free(remote);
    EXPECT_EQ(errno, 1234);
  }).join();
}

// ---- calloc --------------------------------------------------------------

TEST(Calloc, OverflowFailsWithEnomem) {
  errno = 0;
  EXPECT_EQ(Use(calloc(Opaque(SIZE_MAX / 2), 3)), nullptr);
  EXPECT_EQ(errno, ENOMEM);
  errno = 0;
  EXPECT_EQ(Use(calloc(Opaque(size_t{1} << 33), size_t{1} << 33)), nullptr);
  EXPECT_EQ(errno, ENOMEM);
}

TEST(Calloc, ZeroGivesPointer) {
  void* p = Use(calloc(0, 0));
  EXPECT_NE(p, nullptr);
  free(p);
}

TEST(Calloc, ZeroesFreshAndReusedMemory) {
  for (size_t size : kSizes) {
    SCOPED_TRACE(size);
    for (int rep = 0; rep < 3; ++rep) {
      void* dirty = Use(malloc(size));
      ASSERT_NE(dirty, nullptr);
      memset(dirty, 0xA5, malloc_usable_size(dirty));
      free(dirty);
      void* p = Use(calloc(1, size));
      ASSERT_NE(p, nullptr);
      EXPECT_TRUE(AllZero(p, size));
      free(p);
    }
  }
}

TEST(Calloc, LargeIsZero) {
  constexpr size_t kBig = 64 << 20;
  auto* p = static_cast<unsigned char*>(Use(calloc(1, kBig)));
  ASSERT_NE(p, nullptr);
  for (size_t i = 0; i < kBig; i += 4093) ASSERT_EQ(p[i], 0) << i;
  EXPECT_EQ(p[kBig - 1], 0);
  free(p);
}

// ---- realloc / reallocarray ------------------------------------------------

TEST(Realloc, NullAndZero) {
  void* p = Use(realloc(nullptr, 0));
  EXPECT_NE(p, nullptr);
  free(p);
  p = Use(realloc(nullptr, 100));
  ASSERT_NE(p, nullptr);
  EXPECT_GE(malloc_usable_size(p), 100u);
  // size 0 frees p and returns NULL, as glibc does (see core/hakmem.h).
  EXPECT_EQ(realloc(p, 0), nullptr);
}

TEST(Realloc, GrowAndShrinkPreserveContents) {
  for (size_t from : kSizes) {
    for (size_t to : kSizes) {
      SCOPED_TRACE(testing::Message() << from << " -> " << to);
      void* p = Use(malloc(from));
      ASSERT_NE(p, nullptr);
      FillPattern(p, from, 1);
      void* q = Use(realloc(p, to));
      ASSERT_NE(q, nullptr);
      EXPECT_GE(malloc_usable_size(q), to);
      EXPECT_TRUE(HasPattern(q, from < to ? from : to, 1));
      free(q);
    }
  }
}

TEST(Realloc, FailureKeepsTheBlock) {
  void* p = Use(malloc(300));
  FillPattern(p, 300, 2);
  errno = 0;
  EXPECT_EQ(Use(realloc(p, Opaque(SIZE_MAX - 10))), nullptr);
  EXPECT_EQ(errno, ENOMEM);
  p = Use(p);  // still ours: the failed call did not free it
  EXPECT_TRUE(HasPattern(p, 300, 2));
  free(p);
}

TEST(Reallocarray, OverflowFailsAndKeepsTheBlock) {
  void* p = Use(malloc(100));
  FillPattern(p, 100, 3);
  errno = 0;
  EXPECT_EQ(Use(reallocarray(p, Opaque(SIZE_MAX / 2), 3)), nullptr);
  EXPECT_EQ(errno, ENOMEM);
  p = Use(p);  // still ours: the failed call did not free it
  EXPECT_TRUE(HasPattern(p, 100, 3));
  void* q = Use(reallocarray(p, 1000, 10));
  ASSERT_NE(q, nullptr);
  EXPECT_GE(malloc_usable_size(q), 10000u);
  EXPECT_TRUE(HasPattern(q, 100, 3));
  free(q);
  void* r = Use(reallocarray(nullptr, 10, 10));
  EXPECT_NE(r, nullptr);
  free(r);
}

// ---- posix_memalign / aligned_alloc / memalign / valloc / pvalloc ---------

TEST(PosixMemalign, ValidAlignmentsUpToFourMiB) {
  for (size_t align = sizeof(void*); align <= kFourMiB; align <<= 1) {
    for (size_t size : {size_t{0}, size_t{1}, size_t{100}, size_t{5000}, align + 1,
                        size_t{1} << 20}) {
      SCOPED_TRACE(testing::Message() << "align " << align << " size " << size);
      void* p = nullptr;
      errno = 777;
      ASSERT_EQ(posix_memalign(&p, align, size), 0);
      EXPECT_EQ(errno, 777);
      ASSERT_NE(p, nullptr);
      EXPECT_TRUE(IsAligned(p, align));
      EXPECT_GE(malloc_usable_size(p), size);
      EXPECT_TRUE(hak_owns(p));
      if (size > 0) memset(p, 1, size);
      free(p);
    }
  }
}

TEST(PosixMemalign, BadAlignmentIsEinvalAndLeavesMemptr) {
  void* const kSentinel = reinterpret_cast<void*>(0x1234);
  for (size_t align : {size_t{0}, size_t{1}, size_t{2}, size_t{4}, size_t{3}, size_t{12},
                       size_t{24}, size_t{48}, size_t{4097}, SIZE_MAX}) {
    SCOPED_TRACE(align);
    void* p = kSentinel;
    errno = 777;
    EXPECT_EQ(posix_memalign(&p, align, 64), EINVAL);
    EXPECT_EQ(p, kSentinel);
    EXPECT_EQ(errno, 777);
  }
}

TEST(PosixMemalign, ImpossibleSizeIsEnomemAndLeavesMemptr) {
  void* const kSentinel = reinterpret_cast<void*>(0x1234);
  void* p = kSentinel;
  errno = 777;
  EXPECT_EQ(posix_memalign(&p, 64, Opaque(SIZE_MAX - 100)), ENOMEM);
  EXPECT_EQ(p, kSentinel);
  EXPECT_EQ(errno, 777);
}

TEST(AlignedAlloc, PowersOfTwoUpToFourMiB) {
  for (size_t align = 1; align <= kFourMiB; align <<= 1) {
    SCOPED_TRACE(align);
    void* p = Use(aligned_alloc(align, align * 2));
    ASSERT_NE(p, nullptr);
    EXPECT_TRUE(IsAligned(p, align));
    EXPECT_GE(malloc_usable_size(p), align * 2);
    free(p);
  }
}

// glibc accepts a size that is not a multiple of the alignment (C17, DR 460).
TEST(AlignedAlloc, SizeNeedNotBeAMultiple) {
  void* p = Use(aligned_alloc(64, 100));
  ASSERT_NE(p, nullptr);
  EXPECT_TRUE(IsAligned(p, 64));
  free(p);
}

TEST(AlignedAlloc, BadAlignmentIsEinval) {
  for (size_t align : {size_t{0}, size_t{3}, size_t{12}, size_t{100}, SIZE_MAX}) {
    SCOPED_TRACE(align);
    errno = 0;
    EXPECT_EQ(Use(aligned_alloc(align, 64)), nullptr);
    EXPECT_EQ(errno, EINVAL);
  }
}

TEST(Memalign, RoundsAlignmentUpLikeGlibc) {
  struct Case {
    size_t asked, expected;
  };
  for (Case c : {Case{0, 16}, Case{1, 16}, Case{3, 16}, Case{24, 32}, Case{100, 128},
                 Case{4096, 4096}, Case{5000, 8192}, Case{kFourMiB, kFourMiB}}) {
    SCOPED_TRACE(c.asked);
    void* p = Use(memalign(c.asked, 200));
    ASSERT_NE(p, nullptr);
    EXPECT_TRUE(IsAligned(p, c.expected));
    EXPECT_GE(malloc_usable_size(p), 200u);
    free(p);
  }
  errno = 0;
  EXPECT_EQ(Use(memalign(Opaque(SIZE_MAX / 2 + 2), 16)), nullptr);
  EXPECT_EQ(errno, EINVAL);
}

TEST(Valloc, PageAligned) {
  for (size_t size : {size_t{0}, size_t{1}, size_t{5000}, size_t{3} << 20}) {
    void* p = Use(valloc(size));
    ASSERT_NE(p, nullptr);
    EXPECT_TRUE(IsAligned(p, kPage));
    EXPECT_GE(malloc_usable_size(p), size);
    free(p);
  }
}

TEST(Pvalloc, RoundsSizeUpToAPage) {
  for (size_t size : {size_t{0}, size_t{1}, kPage, kPage + 1, size_t{3} << 20}) {
    SCOPED_TRACE(size);
    void* p = Use(pvalloc(size));
    ASSERT_NE(p, nullptr);
    EXPECT_TRUE(IsAligned(p, kPage));
    const size_t rounded = size == 0 ? kPage : (size + kPage - 1) / kPage * kPage;
    EXPECT_GE(malloc_usable_size(p), rounded);
    memset(p, 3, rounded);
    free(p);
  }
  errno = 0;
  EXPECT_EQ(Use(pvalloc(Opaque(SIZE_MAX - 10))), nullptr);
  EXPECT_EQ(errno, ENOMEM);
}

// ---- introspection --------------------------------------------------------

TEST(Introspection, MallinfoReportsMappedBytes) {
  constexpr size_t kBig = 8 << 20;
  void* p = Use(malloc(kBig));
  memset(p, 1, kBig);
  const struct mallinfo2 m2 = mallinfo2();
  EXPECT_GE(m2.arena, kBig);
  EXPECT_EQ(m2.uordblks + m2.fordblks, m2.arena);
  EXPECT_EQ(m2.hblkhd, 0u);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
  const struct mallinfo m = mallinfo();
#pragma GCC diagnostic pop
  EXPECT_GE(static_cast<size_t>(m.arena), kBig);
  free(p);
}

TEST(Introspection, MalloptAcceptsEverything) {
  EXPECT_EQ(mallopt(M_MMAP_THRESHOLD, 1 << 20), 1);
  EXPECT_EQ(mallopt(M_ARENA_MAX, 2), 1);
  EXPECT_EQ(mallopt(12345, 6), 1);
}

TEST(Introspection, MallocTrim) {
  std::vector<void*> ps;
  for (int i = 0; i < 32; ++i) ps.push_back(Use(malloc((2 << 20) + i * 4096)));
  for (void* p : ps) free(p);
  const int r = malloc_trim(0);
  EXPECT_TRUE(r == 0 || r == 1);
  void* p = Use(malloc(100));
  EXPECT_NE(p, nullptr);
  free(p);
}

TEST(Introspection, MallocStatsPrintsHakmemStats) {
  testing::internal::CaptureStderr();
  malloc_stats();
  const std::string out = testing::internal::GetCapturedStderr();
  EXPECT_NE(out.find("hakmem stats"), std::string::npos) << out;
}

// ---- operator new / delete -------------------------------------------------

TEST(OperatorNew, AllTwentyForms) {
  const std::align_val_t kAlign{4096};
  const size_t kA = static_cast<size_t>(kAlign);
  void* p;
  p = Use(::operator new(10));
  EXPECT_TRUE(hak_owns(p));
  ::operator delete(p);
  p = Use(::operator new[](10));
  EXPECT_TRUE(hak_owns(p));
  ::operator delete[](p);
  p = Use(::operator new(10, std::nothrow));
  EXPECT_TRUE(hak_owns(p));
  ::operator delete(p, std::nothrow);
  p = Use(::operator new[](10, std::nothrow));
  EXPECT_TRUE(hak_owns(p));
  ::operator delete[](p, std::nothrow);
  p = Use(::operator new(10));
  ::operator delete(p, size_t{10});
  p = Use(::operator new[](10));
  ::operator delete[](p, size_t{10});
  p = Use(::operator new(10, kAlign));
  EXPECT_TRUE(IsAligned(p, kA));
  ::operator delete(p, kAlign);
  p = Use(::operator new[](10, kAlign));
  EXPECT_TRUE(IsAligned(p, kA));
  ::operator delete[](p, kAlign);
  p = Use(::operator new(10, kAlign, std::nothrow));
  EXPECT_TRUE(IsAligned(p, kA));
  ::operator delete(p, kAlign, std::nothrow);
  p = Use(::operator new[](10, kAlign, std::nothrow));
  EXPECT_TRUE(IsAligned(p, kA));
  ::operator delete[](p, kAlign, std::nothrow);
  p = Use(::operator new(10, kAlign));
  ::operator delete(p, size_t{10}, kAlign);
  p = Use(::operator new[](10, kAlign));
  ::operator delete[](p, size_t{10}, kAlign);
}

TEST(OperatorNew, ZeroSizeGivesUniquePointers) {
  void* a = Use(::operator new(0));
  void* b = Use(::operator new(0));
  EXPECT_NE(a, b);
  ::operator delete(a);
  ::operator delete(b);
}

TEST(OperatorNew, AlignedUpToFourMiB) {
  for (size_t align = 1; align <= kFourMiB; align <<= 1) {
    SCOPED_TRACE(align);
    void* p = Use(::operator new(100, std::align_val_t{align}));
    EXPECT_TRUE(IsAligned(p, align));
    EXPECT_TRUE(hak_owns(p));
    ::operator delete(p, std::align_val_t{align});
    p = Use(::operator new[](align + 5, std::align_val_t{align}, std::nothrow));
    ASSERT_NE(p, nullptr);
    EXPECT_TRUE(IsAligned(p, align));
    ::operator delete[](p, align + 5, std::align_val_t{align});
  }
}

// align_val_t{0} is no alignment (undefined by the standard; libstdc++ throws
// bad_alloc): a plain block, not a table read past its end.
TEST(OperatorNew, AlignmentZeroGivesAPlainBlock) {
  for (size_t size : {1, 100, 5000, 100000, 3 << 20}) {
    SCOPED_TRACE(size);
    void* p = Use(::operator new(size, std::align_val_t{0}));
    EXPECT_TRUE(IsAligned(p, 16));
    EXPECT_TRUE(hak_owns(p));
    memset(p, 1, size);
    ::operator delete(p, std::align_val_t{0});
    p = ::operator new[](size, std::align_val_t{0}, std::nothrow);
    ASSERT_NE(p, nullptr);
    EXPECT_TRUE(hak_owns(p));
    ::operator delete[](p);
  }
}

struct alignas(256) Overaligned {
  char bytes[300];
};

TEST(OperatorNew, NewExpressionHonoursAlignas) {
  std::vector<Overaligned*> objs;
  for (int i = 0; i < 100; ++i) {
    objs.push_back(Use(new Overaligned));
    EXPECT_TRUE(IsAligned(objs.back(), 256));
  }
  for (Overaligned* o : objs) delete o;
  Overaligned* arr = Use(new Overaligned[7]);
  EXPECT_TRUE(IsAligned(arr, 256));
  delete[] arr;
}

// An impossible request fails on every retry.
const size_t kImpossible = Opaque(size_t{1} << 62);

int handler_calls = 0;
void CountingHandler() {
  if (++handler_calls == 3) std::set_new_handler(nullptr);
}

TEST(OperatorNew, NewHandlerLoopThenBadAlloc) {
  handler_calls = 0;
  std::set_new_handler(CountingHandler);
  EXPECT_THROW(Use(::operator new(kImpossible)), std::bad_alloc);
  EXPECT_EQ(handler_calls, 3);
  handler_calls = 0;
  std::set_new_handler(CountingHandler);
  EXPECT_THROW(Use(::operator new[](kImpossible, std::align_val_t{64})), std::bad_alloc);
  EXPECT_EQ(handler_calls, 3);
  std::set_new_handler(nullptr);
}

TEST(OperatorNew, BadAllocWithoutHandler) {
  std::set_new_handler(nullptr);
  EXPECT_THROW(Use(::operator new(kImpossible)), std::bad_alloc);
  EXPECT_THROW(Use(::operator new[](Opaque(SIZE_MAX))), std::bad_alloc);
}

TEST(OperatorNew, NothrowReturnsNullAfterTheHandler) {
  handler_calls = 0;
  std::set_new_handler(CountingHandler);
  EXPECT_EQ(Use(::operator new(kImpossible, std::nothrow)), nullptr);
  EXPECT_EQ(handler_calls, 3);
  std::set_new_handler(nullptr);
  EXPECT_EQ(Use(::operator new[](kImpossible, std::nothrow)), nullptr);
  EXPECT_EQ(Use(::operator new(kImpossible, std::align_val_t{128}, std::nothrow)), nullptr);
}

// A handler may throw bad_alloc itself; the nothrow forms turn it into nullptr.
void ThrowingHandler() { throw std::bad_alloc(); }

TEST(OperatorNew, NothrowSwallowsAThrowingHandler) {
  std::set_new_handler(ThrowingHandler);
  EXPECT_EQ(Use(::operator new(kImpossible, std::nothrow)), nullptr);
  EXPECT_EQ(Use(::operator new[](kImpossible, std::align_val_t{64}, std::nothrow)),
            nullptr);
  EXPECT_THROW(Use(::operator new(kImpossible)), std::bad_alloc);
  std::set_new_handler(nullptr);
}

// The handler is for failures only.
int quiet_calls = 0;
void QuietHandler() {
  ++quiet_calls;
  std::set_new_handler(nullptr);
}

TEST(OperatorNew, HandlerNotCalledOnSuccess) {
  quiet_calls = 0;
  std::set_new_handler(QuietHandler);
  void* p = Use(::operator new(64));
  void* q = Use(::operator new(64, std::nothrow));
  EXPECT_EQ(quiet_calls, 0);
  ::operator delete(p);
  ::operator delete(q);
  std::set_new_handler(nullptr);
}

}  // namespace
