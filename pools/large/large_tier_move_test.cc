// How the Large tier moves pages (MovePages): one mremap for a range that is
// one kernel mapping, one per 2 MiB unit for a range of several (since Linux
// 6.17 one mremap over several mappings can fail halfway, and what moved
// cannot be told from what did not), and a unit the kernel refuses to move is
// copied. This binary defines mremap itself: the tier, linked in statically,
// calls this one, which logs each call and can refuse one as the kernel does
// under ENOMEM before passing the rest on (to libc's, or a sanitizer's).
#include <dlfcn.h>
#include <sys/mman.h>

#include <cerrno>
#include <cstdarg>
#include <cstring>
#include <vector>

#include "core/base/range_map.h"
#include "gtest/gtest.h"
#include "pools/large/large_tier.h"

namespace {

struct MoveLog {
  bool on = false;
  int refuse_call = -1;  // this call (0-based, while on) fails with ENOMEM
  std::vector<size_t> sizes;
};
MoveLog g_log;

}  // namespace

extern "C" void* mremap(void* old_address, size_t old_size, size_t new_size, int flags, ...) {
  void* new_address = nullptr;
  if ((flags & MREMAP_FIXED) != 0) {
    va_list ap;
    va_start(ap, flags);
    new_address = va_arg(ap, void*);
    va_end(ap);
  }
  using Real = void* (*)(void*, size_t, size_t, int, ...);
  static const Real real = reinterpret_cast<Real>(dlsym(RTLD_NEXT, "mremap"));
  if (g_log.on) {
    const int call = static_cast<int>(g_log.sizes.size());
    g_log.sizes.push_back(old_size);
    if (call == g_log.refuse_call) {
      errno = ENOMEM;
      return MAP_FAILED;
    }
  }
  return real(old_address, old_size, new_size, flags, new_address);
}

namespace hakmem::large {
namespace {

constexpr size_t kMiB = size_t{1} << 20;
constexpr size_t kUnit = 2 * kMiB;

LargeBlock* BlockOf(void* p) { return RangeMap::MetaOf<LargeBlock>(RangeMap::Lookup(p)); }

void Fill(char* p, size_t size) {
  for (size_t off = 0; off < size; off += 4096) p[off] = static_cast<char>((off >> 12) + 1);
}

void ExpectFilled(const char* p, size_t size) {
  for (size_t off = 0; off < size; off += 4096) {
    ASSERT_EQ(p[off], static_cast<char>((off >> 12) + 1)) << "page at " << off;
  }
}

// A 12 MiB block of three kernel mappings: gathered from three freed ranges
// that live spacers keep apart.
char* AssembledBlock(std::vector<char*>* spacers) {
  bool zeroed;
  std::vector<char*> freed;
  for (size_t mib : {4, 4, 4}) {
    freed.push_back(static_cast<char*>(Alloc(mib * kMiB, 0, &zeroed)));
    std::memset(freed.back(), 1, mib * kMiB);
    spacers->push_back(static_cast<char*>(Alloc(2 * kMiB, 0, &zeroed)));
  }
  for (char* p : freed) Free(BlockOf(p), p);
  char* q = static_cast<char*>(Alloc(12 * kMiB, 0, &zeroed));
  if (q != nullptr) Fill(q, 12 * kMiB);
  return q;
}

void FreeAll(LargeBlock* b, char* p, const std::vector<char*>& spacers) {
  Free(b, p);
  for (char* s : spacers) Free(BlockOf(s), s);
  Trim();
}

// A realloc'd block grows into one mapping (the pages added are of the moved
// one), so every move of it is one call: a buffer doubling to 64 MiB moves
// in a call a step, not one per 2 MiB.
TEST(LargeTierMove, ARangeOfOneMappingMovesInOneCallAndStaysOne) {
  Trim();
  bool zeroed;
  char* p = static_cast<char*>(Alloc(6 * kMiB, 0, &zeroed));
  Fill(p, 6 * kMiB);
  LargeBlock* b = BlockOf(p);
  g_log = MoveLog{.on = true};
  char* q = static_cast<char*>(Remap(b, 20 * kMiB));
  ASSERT_NE(q, nullptr);
  Fill(q, 20 * kMiB);
  char* r = static_cast<char*>(Remap(b, 40 * kMiB));
  g_log.on = false;
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(g_log.sizes, (std::vector<size_t>{6 * kMiB, 20 * kMiB}));
  ExpectFilled(r, 20 * kMiB);
  Free(b, r);
  Trim();
}

TEST(LargeTierMove, ARangeOfSeveralMappingsMovesAUnitAtATime) {
  Trim();
  std::vector<char*> spacers;
  char* q = AssembledBlock(&spacers);
  ASSERT_NE(q, nullptr);
  LargeBlock* b = BlockOf(q);
  ASSERT_EQ(b->map_size, 12 * kMiB);
  g_log = MoveLog{.on = true};
  char* r = static_cast<char*>(Remap(b, 20 * kMiB));
  g_log.on = false;
  ASSERT_NE(r, nullptr);
  // Never one call over the three mappings: six of one unit each.
  EXPECT_EQ(g_log.sizes, std::vector<size_t>(6, kUnit));
  ExpectFilled(r, 12 * kMiB);
  FreeAll(b, r, spacers);
}

TEST(LargeTierMove, AUnitTheKernelRefusesToMoveIsCopiedAndItsOldPlaceUnmapped) {
  Trim();
  std::vector<char*> spacers;
  char* q = AssembledBlock(&spacers);
  ASSERT_NE(q, nullptr);
  LargeBlock* b = BlockOf(q);
  g_log = MoveLog{.on = true, .refuse_call = 2};
  char* r = static_cast<char*>(Remap(b, 20 * kMiB));
  g_log.on = false;
  ASSERT_NE(r, nullptr);
  ASSERT_NE(r, q);
  ExpectFilled(r, 12 * kMiB);
  // Every unit of the old range is gone, the refused one too.
  unsigned char vec[kUnit / 4096];
  for (size_t off = 0; off < 12 * kMiB; off += kUnit) {
    const int rc = mincore(q + off, kUnit, vec);
    const int err = errno;
    EXPECT_EQ(rc, -1) << "unit at " << off << " still mapped";
    EXPECT_EQ(err, ENOMEM);
  }
  FreeAll(b, r, spacers);
}

}  // namespace
}  // namespace hakmem::large
