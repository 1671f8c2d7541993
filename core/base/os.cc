#include "core/base/os.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cstring>

// glibc's own flag: true until the program's first pthread_create. Weak: a
// libc without it leaves it null.
extern "C" char __libc_single_threaded __attribute__((weak));

namespace hakmem {
namespace {
std::atomic<uint64_t> g_bytes_mapped{0};
std::atomic<uint64_t> g_bytes_mapped_ever{0};

void CountMapped(size_t size) {
  g_bytes_mapped.fetch_add(size, std::memory_order_relaxed);
  g_bytes_mapped_ever.fetch_add(size, std::memory_order_relaxed);
}
}  // namespace

void* OsMapAligned(size_t size, size_t alignment) {
  if (alignment <= kPageSize) {
    void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return nullptr;
    CountMapped(size);
    return p;
  }
  // Over-map, then cut the misaligned head and the unused tail.
  const size_t span = size + alignment;
  if (span < size) return nullptr;
  void* raw = mmap(nullptr, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) return nullptr;
  const uintptr_t start = reinterpret_cast<uintptr_t>(raw);
  const uintptr_t aligned = (start + alignment - 1) & ~(alignment - 1);
  if (aligned > start) munmap(raw, aligned - start);
  const uintptr_t tail = aligned + size;
  const uintptr_t end = start + span;
  if (end > tail) munmap(reinterpret_cast<void*>(tail), end - tail);
  CountMapped(size);
  return reinterpret_cast<void*>(aligned);
}

// Giving memory back happens inside free(), which must never change errno,
// even when the kernel refuses (ENOMEM from splitting a mapping, say).
void OsUnmap(void* p, size_t size) {
  const int saved = errno;
  munmap(p, size);
  errno = saved;
  g_bytes_mapped.fetch_sub(size, std::memory_order_relaxed);
}

bool OsDecommit(void* p, size_t size) {
  const int saved = errno;
  const bool ok = madvise(p, size, MADV_DONTNEED) == 0;
  errno = saved;
  return ok;
}

namespace {

// Calls run(offset, bytes, resident) for each stretch of [p, p + size)
// (page-aligned) whose pages are all resident or all not, in address order,
// as mincore reports them, kChunk pages a call (a stretch may be cut at a
// chunk's end). False if the kernel refused (the stretches reported stand).
template <class Run>
bool ForEachResidencyStretch(char* p, size_t size, Run run) {
  constexpr size_t kChunk = 2048;  // pages per mincore call (8 MiB): a small vector on the stack
  unsigned char vec[kChunk];
  const int saved = errno;
  for (size_t done = 0; done < size; done += kChunk * kPageSize) {
    const size_t bytes = size - done < kChunk * kPageSize ? size - done : kChunk * kPageSize;
    if (mincore(p + done, bytes, vec) != 0) {
      errno = saved;
      return false;
    }
    const size_t pages = bytes / kPageSize;
    for (size_t i = 0; i < pages;) {
      const unsigned char resident = vec[i] & 1;
      size_t j = i + 1;
      // Eight pages a step while they agree (an 8 GiB range is 2 M pages).
      constexpr uint64_t kLowBits = 0x0101010101010101;
      const uint64_t same = resident != 0 ? kLowBits : 0;
      for (uint64_t w; j + 8 <= pages; j += 8) {
        std::memcpy(&w, vec + j, sizeof(w));
        if ((w & kLowBits) != same) break;
      }
      while (j < pages && (vec[j] & 1) == resident) ++j;
      run(done + i * kPageSize, (j - i) * kPageSize, resident != 0);
      i = j;
    }
  }
  errno = saved;
  return true;
}

}  // namespace

size_t OsResidentPages(void* p, size_t size, size_t if_refused) {
  size_t resident = 0;
  const bool ok = ForEachResidencyStretch(static_cast<char*>(p), size, [&](size_t, size_t bytes, bool in) {
    if (in) resident += bytes / kPageSize;
  });
  return ok ? resident : if_refused;
}

bool OsZeroFill(void* p, size_t bytes) {
  // The partial pages at either end are the caller's neighbours' too: cleared
  // in place; the whole pages between them as below.
  const uintptr_t from = reinterpret_cast<uintptr_t>(p);
  const uintptr_t first = AlignUp(from, kPageSize);
  const uintptr_t last = (from + bytes) & ~(kPageSize - 1);
  if (last <= first) {
    std::memset(p, 0, bytes);
    return true;
  }
  std::memset(p, 0, first - from);
  std::memset(reinterpret_cast<void*>(last), 0, from + bytes - last);
  char* const base = reinterpret_cast<char*>(first);
  const size_t size = last - first;
  // The stretch seen last, [start, end), resident or not, continued by the
  // next one of its kind (mincore's chunks cut stretches) and settled when
  // the other kind or the end follows: one memset over a resident stretch
  // (glibc clears a large one with non-temporal stores, which 8 MiB pieces
  // do not get: 64 MiB 12 % slower), one madvise over one that is not, or
  // a memset if it is short (a madvise call costs about what faulting in
  // and clearing a few pages does).
  size_t start = 0;
  size_t end = 0;
  bool resident = false;
  bool all_resident = true;
  auto settle = [&] {
    const size_t bytes = end - start;
    if (bytes == 0) return;
    if (resident || bytes < kZeroByDropMinBytes || !OsDecommit(base + start, bytes)) {
      std::memset(base + start, 0, bytes);
    } else {
      all_resident = false;
    }
    start = end;
  };
  ForEachResidencyStretch(base, size, [&](size_t offset, size_t bytes, bool in) {
    if (in != resident) {
      settle();
      resident = in;
    }
    end = offset + bytes;
  });
  settle();
  // What mincore did not report after a refusal.
  if (end < size) std::memset(base + end, 0, size - end);
  return all_resident;
}

namespace {
std::atomic<bool> g_collapse_unsupported{false};
}  // namespace

bool OsCollapseMayWork() { return !g_collapse_unsupported.load(std::memory_order_relaxed); }

Collapse OsCollapseHuge(void* p, size_t size) {
#ifndef MADV_COLLAPSE
  constexpr int MADV_COLLAPSE = 25;  // include/uapi/asm-generic/mman-common.h
#endif
  if (!OsCollapseMayWork()) return Collapse::kUnsupported;
  const int saved = errno;
  const int rc = madvise(p, size, MADV_COLLAPSE);
  // EINVAL: a kernel before 6.1 (or THP "never"); anything else (EAGAIN,
  // ENOMEM: no huge page free now) may pass.
  const Collapse result = rc == 0 ? Collapse::kDone
                          : errno == EINVAL ? Collapse::kUnsupported
                                            : Collapse::kFailed;
  if (result == Collapse::kUnsupported) g_collapse_unsupported.store(true, std::memory_order_relaxed);
  errno = saved;
  return result;
}

namespace {
// OsHugePageMode's answer, plus one: 0 until first asked.
std::atomic<int> g_huge_page_mode{0};

// Reads the THP mode: "always [madvise] never" names the one in force in
// brackets. No stdio here: this runs inside the allocator.
HugePageMode ReadHugePageMode() {
  const int fd = open("/sys/kernel/mm/transparent_hugepage/enabled", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return HugePageMode::kNever;  // no THP in this kernel
  char buf[128];
  const ssize_t n = read(fd, buf, sizeof(buf) - 1);
  close(fd);
  if (n <= 0) return HugePageMode::kNever;
  buf[n] = '\0';
  if (strstr(buf, "[always]") != nullptr) return HugePageMode::kAlways;
  if (strstr(buf, "[madvise]") != nullptr) return HugePageMode::kOnAdvice;
  return HugePageMode::kNever;
}
}  // namespace

HugePageMode OsHugePageMode() {
  int mode = g_huge_page_mode.load(std::memory_order_relaxed);
  if (mode == 0) {
    const int saved = errno;
    mode = static_cast<int>(ReadHugePageMode()) + 1;
    errno = saved;
    g_huge_page_mode.store(mode, std::memory_order_relaxed);
  }
  return static_cast<HugePageMode>(mode - 1);
}

bool OsAdviseHuge(void* p, size_t size, bool huge) {
  const int saved = errno;
  const bool ok = madvise(p, size, huge ? MADV_HUGEPAGE : MADV_NOHUGEPAGE) == 0;
  errno = saved;
  return ok;
}

void OsPreferSmallPages(void* p, size_t size) {
  if (OsHugePageMode() == HugePageMode::kAlways) OsAdviseHuge(p, size, false);
}

bool OsMoveMapping(void* from, size_t from_size, void* to, size_t to_size) {
  const int saved = errno;
  void* got = mremap(from, from_size, to_size, MREMAP_MAYMOVE | MREMAP_FIXED, to);
  errno = saved;
  if (got == MAP_FAILED) return false;
  g_bytes_mapped.fetch_sub(from_size, std::memory_order_relaxed);
  return true;
}

bool OsRefillHole(void* p, size_t size) {
  const int saved = errno;
  void* got = mmap(p, size, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
  const int err = errno;
  errno = saved;
  if (got == p) return true;  // a hole, filled (its bytes were counted when mapped first)
  if (got == MAP_FAILED) return err == EEXIST;  // mapped still
  munmap(got, size);  // a kernel before 4.17 took the flag for a hint: unknown
  errno = saved;
  return false;
}

void* OsReserveAligned(size_t size, size_t alignment) {
  const size_t span = size + alignment;
  if (span < size) return nullptr;
  void* raw = mmap(nullptr, span, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (raw == MAP_FAILED) return nullptr;
  const uintptr_t start = reinterpret_cast<uintptr_t>(raw);
  const uintptr_t aligned = (start + alignment - 1) & ~(alignment - 1);
  if (aligned > start) munmap(raw, aligned - start);
  const uintptr_t tail = aligned + size;
  if (start + span > tail) munmap(reinterpret_cast<void*>(tail), start + span - tail);
  return reinterpret_cast<void*>(aligned);
}

void OsUnreserve(void* p, size_t size) {
  const int saved = errno;
  munmap(p, size);
  errno = saved;
}

bool OsCommit(void* p, size_t size) {
  // mprotect, not a MAP_FIXED mmap: a commit the kernel refuses must leave
  // the reservation in place. Before Linux 6.12 a MAP_FIXED mmap refused for
  // the commit charge (vm.overcommit_memory=2) had unmapped the range first:
  // the next mmap of the process could land in the hole, and the next commit
  // of the range replaced that mapping with zeros. The range is a
  // reservation's, never touched or emptied by OsUncommit, so it reads zero.
  if (mprotect(p, size, PROT_READ | PROT_WRITE) != 0) return false;
  CountMapped(size);
  return true;
}

void OsUncommit(void* p, size_t size) {
  // A fresh inaccessible mapping in place drops the pages and the charge at
  // once (MADV_DONTNEED would keep the charge, mprotect the pages).
  const int saved = errno;
  mmap(p, size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0);
  errno = saved;
  g_bytes_mapped.fetch_sub(size, std::memory_order_relaxed);
}

uint64_t OsBytesMapped() { return g_bytes_mapped.load(std::memory_order_relaxed); }

uint64_t OsBytesMappedEver() { return g_bytes_mapped_ever.load(std::memory_order_relaxed); }

uint64_t OsResidentBytes() {
  // "size resident shared ...", in pages. Not getrusage's ru_maxrss: it
  // starts from the parent's resident memory at fork (a child of a 500 MiB
  // python3 read 526 MiB at its first instruction), and RUSAGE_SELF walks
  // every thread of the process. The descriptor lives a few microseconds; a
  // program closing descriptors it does not own (close_range) from another
  // thread at that instant could make this read or close another file.
  const int saved = errno;
  const int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
  char text[128];
  ssize_t got = -1;
  if (fd >= 0) {
    got = read(fd, text, sizeof(text) - 1);
    close(fd);
  }
  errno = saved;
  if (got <= 0) return 0;
  text[got] = '\0';
  const char* c = text;
  while (*c != '\0' && *c != ' ') ++c;  // past the size
  if (*c == '\0') return 0;
  uint64_t pages = 0;
  for (++c; *c >= '0' && *c <= '9'; ++c) pages = pages * 10 + static_cast<uint64_t>(*c - '0');
  return pages * static_cast<uint64_t>(getpagesize());  // the kernel's pages
}

bool OsSingleThreaded() {
  return &__libc_single_threaded != nullptr && __libc_single_threaded != 0;
}

}  // namespace hakmem
