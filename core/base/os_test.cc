// OsCommit and OsUncommit on a reservation: committed memory is writable and
// zero, handed back it is inaccessible and zero again at the next commit, and
// a commit the kernel refuses leaves the range reserved (its addresses ours,
// inaccessible), so no other mapping can take its place. OsZeroFill clears a
// range without faulting in what was not resident. The readings the decay
// thread takes.
#include "core/base/os.h"

#include <sys/resource.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>

#include "gtest/gtest.h"

namespace hakmem {
namespace {

constexpr size_t kChunk = size_t{2} << 20;

// The protection /proc/self/maps shows for the mapping that holds p ("rw-p",
// "---p"), or "" if nothing is mapped there.
std::string ProtectionAt(const void* p) {
  const auto a = reinterpret_cast<uintptr_t>(p);
  std::string found;
  if (FILE* f = std::fopen("/proc/self/maps", "r")) {
    char line[512];
    while (std::fgets(line, sizeof(line), f) != nullptr) {
      unsigned long lo, hi;
      char perms[8];
      if (std::sscanf(line, "%lx-%lx %7s", &lo, &hi, perms) == 3 && lo <= a && a < hi) {
        found = perms;
        break;
      }
    }
    std::fclose(f);
  }
  return found;
}

// Bytes of private writable memory the process has (/proc/self/status VmData).
size_t DataBytes() {
  size_t kib = 0;
  if (FILE* f = std::fopen("/proc/self/status", "r")) {
    char line[256];
    while (std::fgets(line, sizeof(line), f) != nullptr) {
      if (std::sscanf(line, "VmData: %zu kB", &kib) == 1) break;
    }
    std::fclose(f);
  }
  return kib * 1024;
}

TEST(Os, ACommittedRangeIsWritableAndZeroAndAnUncommittedOneIsNot) {
  char* r = static_cast<char*>(OsReserveAligned(2 * kChunk, kChunk));
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(ProtectionAt(r), "---p");
  ASSERT_TRUE(OsCommit(r, kChunk));
  EXPECT_EQ(ProtectionAt(r), "rw-p");
  EXPECT_EQ(ProtectionAt(r + kChunk), "---p");  // only what was asked
  for (size_t off = 0; off < kChunk; off += 4096) ASSERT_EQ(r[off], 0) << off;
  std::memset(r, 0x77, kChunk);
  OsUncommit(r, kChunk);
  EXPECT_EQ(ProtectionAt(r), "---p");
  ASSERT_TRUE(OsCommit(r, kChunk));
  for (size_t off = 0; off < kChunk; off += 4096) ASSERT_EQ(r[off], 0) << off;  // pages gone
  OsUncommit(r, kChunk);
  OsUnreserve(r, 2 * kChunk);
}

// RLIMIT_DATA stands in for the commit charge a strict overcommit policy
// refuses: the kernel turns the commit down, and the range must still be
// the reservation's.
TEST(Os, ARefusedCommitLeavesTheRangeReserved) {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  // The sanitizer's runtime maps memory of its own, from its own threads too,
  // and dies when it cannot while the limit is down.
  GTEST_SKIP() << "RLIMIT_DATA under a sanitizer";
#endif
  char* r = static_cast<char*>(OsReserveAligned(kChunk, kChunk));
  ASSERT_NE(r, nullptr);
  rlimit saved;
  ASSERT_EQ(getrlimit(RLIMIT_DATA, &saved), 0);
  rlimit lower = saved;
  lower.rlim_cur = DataBytes() + kChunk / 2;
  ASSERT_EQ(setrlimit(RLIMIT_DATA, &lower), 0);
  const bool committed = OsCommit(r, kChunk);
  setrlimit(RLIMIT_DATA, &saved);
  if (committed) {
    OsUncommit(r, kChunk);
    OsUnreserve(r, kChunk);
    GTEST_SKIP() << "the kernel does not enforce RLIMIT_DATA here (ignore_rlimit_data)";
  }
  EXPECT_EQ(ProtectionAt(r), "---p");
  EXPECT_EQ(ProtectionAt(r + kChunk - 1), "---p");
  ASSERT_TRUE(OsCommit(r, kChunk));  // within the limit again
  r[0] = 1;
  OsUncommit(r, kChunk);
  OsUnreserve(r, kChunk);
}

bool AllZero(const char* p, size_t bytes) {
  for (size_t i = 0; i < bytes; ++i) {
    if (p[i] != 0) return false;
  }
  return true;
}

TEST(Os, AZeroFillClearsEveryByteAndFaultsInNoStretchThatWasNotResident) {
  constexpr size_t kPages = 8192;  // 32 MiB: four of the fill's 8 MiB mincore chunks
  constexpr size_t kBytes = kPages * kPageSize;
  char* p = static_cast<char*>(OsMapAligned(kBytes, kPageSize));
  ASSERT_NE(p, nullptr);
  OsPreferSmallPages(p, kBytes);  // under THP "always" a touch would fault in 2 MiB
  // Written: pages 0 - 3, 256 pages astride the first chunk's end, two pages
  // with a gap of 8 between them (too short to drop: cleared in place), and
  // the last page. The other stretches, never touched, stay out.
  std::memset(p, 0xab, 4 * kPageSize);
  std::memset(p + 1920 * kPageSize, 0xab, 256 * kPageSize);
  p[5000 * kPageSize] = 1;
  p[5009 * kPageSize + 17] = 1;
  p[kBytes - 1] = 1;
  const size_t written = 4 + 256 + 2 + 1;
  ASSERT_EQ(OsResidentPages(p, kBytes), written);
  EXPECT_FALSE(OsZeroFill(p, kBytes));  // some stretches were dropped
  EXPECT_EQ(OsResidentPages(p, kBytes), written + 8);  // the short gap's pages
  EXPECT_TRUE(AllZero(p, kBytes));  // (reading maps the zero page: counted resident from here)
  // All resident: cleared in place, and said so.
  std::memset(p, 0x5a, kBytes);
  EXPECT_TRUE(OsZeroFill(p, kBytes));
  EXPECT_TRUE(AllZero(p, kBytes));
  EXPECT_EQ(OsResidentPages(p, kBytes), kPages);
  OsUnmap(p, kBytes);
}

// Not page-aligned (a slab block's): exactly its bytes, the neighbours'
// bytes on its first and last pages left alone; a range within a page too.
TEST(Os, AZeroFillOfAnUnalignedRangeClearsExactlyIt) {
  constexpr size_t kBytes = 64 * kPageSize;
  char* p = static_cast<char*>(OsMapAligned(kBytes, kPageSize));
  ASSERT_NE(p, nullptr);
  std::memset(p, 0x77, kBytes);
  char* const from = p + 100;
  const size_t bytes = kBytes - 100 - 200;
  OsZeroFill(from, bytes);
  EXPECT_TRUE(AllZero(from, bytes));
  for (char* q = p; q < from; ++q) ASSERT_EQ(*q, 0x77);
  for (char* q = from + bytes; q < p + kBytes; ++q) ASSERT_EQ(*q, 0x77);
  std::memset(p, 0x77, kPageSize);
  OsZeroFill(p + 10, 20);
  EXPECT_TRUE(AllZero(p + 10, 20));
  EXPECT_EQ(p[9], 0x77);
  EXPECT_EQ(p[30], 0x77);
  OsUnmap(p, kBytes);
}

// What the decay thread reads while the program grows (core/decay.cc): the
// resident memory follows what is written, and the bytes ever mapped grow
// with each mapping and never fall.
TEST(Os, ResidentBytesFollowWritesAndMappedEverNeverFalls) {
  const uint64_t resident = OsResidentBytes();
  ASSERT_GT(resident, 0u);
  const uint64_t ever = OsBytesMappedEver();
  char* p = static_cast<char*>(OsMapAligned(16 * kChunk, kChunk));
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(OsBytesMappedEver(), ever + 16 * kChunk);
  std::memset(p, 1, 16 * kChunk);
  EXPECT_GE(OsResidentBytes(), resident + 15 * kChunk);
  OsUnmap(p, 16 * kChunk);
  EXPECT_EQ(OsBytesMappedEver(), ever + 16 * kChunk);
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
  EXPECT_LT(OsResidentBytes(), resident + 8 * kChunk);  // (a sanitizer's shadow stays)
#endif
}

}  // namespace
}  // namespace hakmem
