// The OS layer: every byte hakmem holds comes from here (mmap), and goes back here.
#ifndef HAKMEM_CORE_BASE_OS_H_
#define HAKMEM_CORE_BASE_OS_H_

#include <cstddef>
#include <cstdint>

namespace hakmem {

inline constexpr size_t kPageSize = 4096;

// Maps `size` bytes (a multiple of the page size) aligned to `alignment` (a power
// of two >= the page size). Fresh memory is zero. Returns nullptr on failure.
void* OsMapAligned(size_t size, size_t alignment);
// OsUnmap and OsDecommit never change errno (they run inside free()).
void OsUnmap(void* p, size_t size);
// Gives the pages back (MADV_DONTNEED: RSS drops at once; the range stays
// mapped and reads as zero afterwards). False if the kernel refused (locked
// pages, mlock / mlockall): the contents are then still there.
bool OsDecommit(void* p, size_t size);
// Moves the pages of [from, from + from_size) to `to`, which must be a mapping
// of to_size bytes from OsMapAligned (it is replaced), without copying
// (mremap); the old range is unmapped. False if the kernel refuses: the old
// range is then as it was if it is one kernel mapping (since Linux 6.17 a move
// over several, same size, goes mapping by mapping and can stop partway), but
// `to` may be gone (the kernel frees the destination before some of its
// refusals): OsRefillHole before writing there.
bool OsMoveMapping(void* from, size_t from_size, void* to, size_t to_size);
// After a refused OsMoveMapping: maps fresh zeroed memory at [p, p + size) if
// nothing is mapped there, so that it can be written again. True if the range
// is mapped afterwards (by this call, or still since before).
bool OsRefillHole(void* p, size_t size);
// Reserves `size` bytes of address space aligned to `alignment` (a power of
// two >= the page size): no access, no memory, no commit charge. nullptr if
// the kernel refuses (RLIMIT_AS, say). Not counted as mapped.
void* OsReserveAligned(size_t size, size_t alignment);
// Gives a whole reservation back (never committed).
void OsUnreserve(void* p, size_t size);
// Makes [p, p + size) of a reservation readable and writable, zero-filled,
// and counts it as mapped; false if the kernel refuses (the range then stays
// reserved: no other mapping can take its place).
bool OsCommit(void* p, size_t size);
// Hands committed [p, p + size) back: its pages and commit charge go, the
// addresses stay reserved (inaccessible) for a later OsCommit.
void OsUncommit(void* p, size_t size);
// Pages of [p, p + size) (page-aligned) resident now (mincore); `if_refused`
// if the kernel refuses.
size_t OsResidentPages(void* p, size_t size, size_t if_refused = 0);
// Zeroes [p, p + size) of a private anonymous mapping without faulting in a
// page that is not resident: the partial pages at either end and resident
// pages are cleared in place, stretches of kZeroByDropMinBytes or more that are not are dropped
// (MADV_DONTNEED: they read as zero, also a page swapped out), the rest is
// cleared in place (also pages only read so far: the kernel maps its zero
// page there, and mincore counts it resident). A calloc of a reused Large
// range used to clear every byte: after a program touched a few pages of an
// 8 GiB block, the next calloc of that size faulted in all 8 GiB (1.5 s,
// 8 GiB resident). Returns whether every whole page of the range is resident
// afterwards (none was dropped).
inline constexpr size_t kZeroByDropMinBytes = 64 << 10;
bool OsZeroFill(void* p, size_t bytes);
// Asks the kernel to back [p, p + size), 2 MiB-aligned whole huge pages of
// one mapping, with transparent huge pages now (MADV_COLLAPSE, Linux 6.1+):
// the pages' contents stay, pages not resident are filled with zeros.
// Independent of the system's THP setting but "never".
// After the first kUnsupported every call answers so at once (OsCollapseMayWork
// false).
enum class Collapse : uint8_t { kDone, kFailed, kUnsupported };
Collapse OsCollapseHuge(void* p, size_t size);
bool OsCollapseMayWork();
// The system's transparent huge page mode (sysfs, read once): kAlways, every
// aligned fault may get one; kOnAdvice ("madvise"), only in ranges advised
// with OsAdviseHuge; kNever (also without THP in the kernel).
enum class HugePageMode : uint8_t { kNever, kOnAdvice, kAlways };
HugePageMode OsHugePageMode();
// madvise(MADV_HUGEPAGE) if `huge`, else MADV_NOHUGEPAGE: whether the kernel
// may fault [p, p + size) in (its 2 MiB-aligned parts) as huge pages, and
// khugepaged collapse it. The mapping keeps the flag, also when mremap moves
// it; huge pages it has already stay.
bool OsAdviseHuge(void* p, size_t size, bool huge);
// Under THP "always", advises [p, p + size) off huge pages (MADV_NOHUGEPAGE):
// for memory hakmem touches a few pages of at a time (SuperSlabs until they
// are full, the range map's tables, metadata chunks), where a huge page at the
// first fault would make a whole 2 MiB resident. Elsewhere no madvise (the
// mode itself is read from sysfs once per process, at the first call).
void OsPreferSmallPages(void* p, size_t size);
// Bytes currently mapped through this layer (all tiers and metadata).
uint64_t OsBytesMapped();
// Bytes ever mapped or committed through this layer (never falls: what was
// given back does not count against what is mapped later).
uint64_t OsBytesMappedEver();
// The process's resident memory now (/proc/self/statm, read with no
// allocation), in bytes; 0 if it cannot be read (no /proc).
uint64_t OsResidentBytes();
// True while glibc says no other thread exists (its __libc_single_threaded,
// 2.32 and later: cleared by the first pthread_create); false under a libc
// without it.
bool OsSingleThreaded();

inline constexpr size_t AlignUp(size_t n, size_t a) { return (n + a - 1) & ~(a - 1); }

}  // namespace hakmem

#endif  // HAKMEM_CORE_BASE_OS_H_
