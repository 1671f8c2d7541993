#include "pools/large/large_tier.h"

#include <algorithm>
#include <cstring>
#include <iterator>

#include "core/base/clock.h"
#include "core/base/config.h"
#include "core/base/invalid_free.h"
#include "core/base/meta_pool.h"
#include "core/base/os.h"
#include "core/base/range_map.h"
#include "core/base/size_classes.h"
#include "sync/spin_lock.h"

namespace hakmem::large {
namespace {

constexpr size_t kUnit = kSuperSlabSize;  // Large memory comes in 2 MiB units
constexpr size_t kBuckets = 64;           // free ranges of 1..63 units; the last: 64 and more

constinit sync::SpinLock g_lock;
constinit MetaPool<LargeBlock> g_records;
// Under g_lock: the free ranges (the big cache), newest first in each bucket.
// A range is in a bucket exactly when its `cached` flag says so.
LargeBlock* g_free[kBuckets + 1];
uint64_t g_cached_bytes = 0;
uint64_t g_next_decay_ms = 0;  // no decay scan before this
uint64_t g_overflow_ms = 0;    // when the cache last went over its bound (under g_lock)
uint64_t g_huge_refused_until_ms = 0;  // MakeCachedRangesHuge: no range before this (g_lock)
// The range MakeCachedRangesHuge has out of the cache (g_lock): a child forked
// meanwhile puts it back, since the thread working on it is not in the child.
LargeBlock* g_huge_in_flight = nullptr;
std::atomic<uint64_t> g_live_bytes{0};
// The most bytes live at once in Large blocks since g_window_start_ms (a
// decay window: it starts again from what is live every HAKMEM_DECAY_MS), and
// in the window before it (under g_lock).
std::atomic<uint64_t> g_window_peak_live{0};
uint64_t g_last_window_peak_live = 0;
uint64_t g_window_start_ms = 0;  // under g_lock
// Bytes of the ranges threads keep for themselves (ThreadRanges): the cache
// holds that much less, so that the two together stay within its bound.
std::atomic<uint64_t> g_thread_kept{0};
std::atomic<uint64_t> g_allocs{0};
std::atomic<uint64_t> g_cache_hits{0};
std::atomic<uint64_t> g_decayed_bytes{0};
std::atomic<uint64_t> g_yielded_bytes{0};
std::atomic<uint64_t> g_huge_ranges{0};

size_t UnitsOf(size_t bytes) { return bytes / kUnit; }
size_t BucketOf(size_t units) { return units < kBuckets ? units : kBuckets; }

// The range map knows a Large range by its two ends: the entry of its first
// 64 KiB and that of its last unit's first 64 KiB (one entry for a range of
// one unit). free, realloc and malloc_usable_size look up the block's start;
// the cache finds a free neighbour by the entry at a range's end (the next
// range's first) or a unit before its start (the previous range's last).
// Every 64 KiB of the range had its entry before: an 8 GiB block was 131,072
// stores at malloc and as many at free (125 us a malloc and free; glibc 15,
// jemalloc 4), and 4 MiB of the map resident per 8 GiB. The rest of a range
// reads "not ours"; RangeAround finds its range from there, walking back no
// further than the largest range has ever reached.
std::atomic<size_t> g_most_units{1};  // the most units a range has had

void NoteUnits(size_t map_size) {
  size_t most = g_most_units.load(std::memory_order_relaxed);
  while (UnitsOf(map_size) > most &&
         !g_most_units.compare_exchange_weak(most, UnitsOf(map_size), std::memory_order_relaxed)) {
  }
}

char* LastUnitOf(char* base, size_t map_size) { return base + map_size - kUnit; }

Mappings OneMapping(size_t map_size) {
  Mappings m{};
  m.count = 1;
  m.units[0] = static_cast<uint32_t>(UnitsOf(map_size));
  return m;
}

// *m followed by `more` (not known if either is not, or past kMax).
void AppendMappings(Mappings* m, const Mappings& more) {
  if (m->count == 0 || more.count == 0 || m->count + more.count > Mappings::kMax) {
    m->count = 0;
    return;
  }
  for (uint32_t i = 0; i < more.count; ++i) m->units[m->count++] = more.units[i];
}

// Cuts *m after its first `units` units (fewer than it has): the rest goes to
// *rest, a mapping the cut falls inside in both (a part of one mapping is in
// one).
void SplitMappings(Mappings* m, size_t units, Mappings* rest) {
  *rest = Mappings{};
  if (m->count == 0) return;
  uint32_t i = 0;
  size_t before = 0;  // units in m's mappings before the i-th
  while (before + m->units[i] <= units) before += m->units[i++];
  const uint32_t head = static_cast<uint32_t>(units - before);  // of the i-th, kept in *m
  rest->units[rest->count++] = m->units[i] - head;
  for (uint32_t j = i + 1; j < m->count; ++j) rest->units[rest->count++] = m->units[j];
  m->units[i] = head;
  m->count = head > 0 ? i + 1 : i;
}

bool RegisterEnds(char* base, size_t map_size, LargeBlock* b) {
  if (!RangeMap::Register(base, kUnitSize, RangeKind::kLarge, b)) return false;
  if (map_size > kUnit && !RangeMap::Register(LastUnitOf(base, map_size), kUnitSize, RangeKind::kLarge, b)) {
    RangeMap::Unregister(base, kUnitSize);
    return false;
  }
  NoteUnits(map_size);
  return true;
}

void UnregisterEnds(char* base, size_t map_size) {
  RangeMap::Unregister(base, kUnitSize);
  RangeMap::Unregister(LastUnitOf(base, map_size), kUnitSize);
}

// The cache may hold the configured bytes, or half of what the program has in
// Large blocks if that is more: a program with 400 MiB of buffers in use
// keeps about the last 200 MiB it freed, whatever their sizes, for at most
// HAKMEM_DECAY_MS (bigbuf: 1.25x faster than a quarter, same peak RSS). Or,
// if that is more still, what takes the program back to the most it had in
// Large blocks in this decay window or the last: a program whose live Large
// memory swings (large_2t: 36 - 98 MiB) keeps what it will need at the next
// crest instead of unmapping it in the trough and faulting it in again. Its
// Large mappings never exceed that crest on this account: `incoming`, the
// bytes of a mapping about to be made that the cache cannot serve
// (over-aligned), count as live. Memory of the other tiers may grow meanwhile
// (for at most the decay time: what stays unused goes back by time), and past
// the most it has been, the cache gives way (YieldToSlabGrowth).
uint64_t CacheLimit(uint64_t incoming = 0) {
  const uint64_t live = g_live_bytes.load(std::memory_order_relaxed) + incoming;
  const uint64_t peak =
      std::max(g_window_peak_live.load(std::memory_order_relaxed), g_last_window_peak_live);
  // The ranges threads keep for themselves (ThreadRanges) count as live, so
  // the peak's term already holds them; the configured bytes are shared with
  // them.
  const uint64_t kept = g_thread_kept.load(std::memory_order_relaxed);
  const uint64_t configured = GetConfig().large_cache_bytes;
  return std::max({live / 2, configured > kept ? configured - kept : 0, peak > live ? peak - live : 0});
}

// A block of map_size bytes went live: the window's peak follows.
void NoteLive(uint64_t map_size) {
  const uint64_t live = g_live_bytes.fetch_add(map_size, std::memory_order_relaxed) + map_size;
  uint64_t peak = g_window_peak_live.load(std::memory_order_relaxed);
  while (live > peak && !g_window_peak_live.compare_exchange_weak(peak, live, std::memory_order_relaxed)) {
  }
}

void InsertFree(LargeBlock* b) {
  LargeBlock*& head = g_free[BucketOf(UnitsOf(b->map_size))];
  b->cached = true;
  b->prev = nullptr;
  b->next = head;
  if (head != nullptr) head->prev = b;
  head = b;
  g_cached_bytes += b->map_size;
}

void RemoveFree(LargeBlock* b) {
  if (b->prev != nullptr) {
    b->prev->next = b->next;
  } else {
    g_free[BucketOf(UnitsOf(b->map_size))] = b->next;
  }
  if (b->next != nullptr) b->next->prev = b->prev;
  b->next = b->prev = nullptr;
  b->cached = false;
  g_cached_bytes -= b->map_size;
}

// The cached range whose end (RegisterEnds) `addr` is in, if any (a
// neighbour to merge with).
LargeBlock* CachedRangeAt(const char* addr) {
  const uintptr_t e = RangeMap::Lookup(addr);
  if (RangeMap::KindOf(e) != RangeKind::kLarge) return nullptr;
  LargeBlock* n = RangeMap::MetaOf<LargeBlock>(e);
  return n->cached ? n : nullptr;
}

// `into` takes over the range of `from`, which follows it directly.
void Absorb(LargeBlock* into, LargeBlock* from) {
  // Where the two meet is inside the range now; its end is from's (leaves
  // exist for all three entries).
  RangeMap::Unregister(from->base, kUnitSize);
  if (into->map_size > kUnit) RangeMap::Unregister(LastUnitOf(into->base, into->map_size), kUnitSize);
  RangeMap::Register(LastUnitOf(from->base, from->map_size), kUnitSize, RangeKind::kLarge, into);
  if (into->resident_bytes == into->map_size) into->resident_bytes += from->resident_bytes;
  AppendMappings(&into->mappings, from->mappings);  // side by side, never one (MovePages)
  into->map_size += from->map_size;
  NoteUnits(into->map_size);
  into->dirty |= from->dirty;
  into->huge &= from->huge;
  if (from->freed_ms > into->freed_ms) {
    into->freed_ms = from->freed_ms;
    into->freed_by = from->freed_by;
  }
  g_records.Delete(from);
}

// Keeps the first `units` of b (not in a bucket) and caches the rest as a
// range of its own, unused since `tail_freed_ms` (by default from now on,
// whatever b's history). Keeps b whole if no record or no range-map entry
// can be had.
void SplitLocked(LargeBlock* b, size_t units, uint64_t tail_freed_ms = NowMs()) {
  const size_t keep = units * kUnit;
  if (b->map_size <= keep) return;
  LargeBlock* tail = g_records.New();
  if (tail == nullptr) return;
  char* cut = b->base + keep;
  tail->base = cut;
  tail->map_size = b->map_size - keep;
  tail->cacheable = true;
  tail->dirty = b->dirty;
  tail->resident_bytes = b->resident_bytes > keep ? b->resident_bytes - keep : 0;
  tail->huge = b->huge;
  tail->freed_by = b->freed_by;  // its lines are where b's are
  tail->freed_ms = tail_freed_ms;
  // The new ends where b is cut were inside it (RegisterEnds): their leaf of
  // the map may be missing, and mapping one may fail.
  if (!RangeMap::Register(cut - kUnit, kUnitSize, RangeKind::kLarge, b)) {
    g_records.Delete(tail);
    return;
  }
  if (!RangeMap::Register(cut, kUnitSize, RangeKind::kLarge, tail)) {
    if (keep > kUnit) RangeMap::Unregister(cut - kUnit, kUnitSize);
    g_records.Delete(tail);
    return;
  }
  RangeMap::Register(LastUnitOf(b->base, b->map_size), kUnitSize, RangeKind::kLarge, tail);  // b's end
  b->resident_bytes = std::min(b->resident_bytes, keep);
  SplitMappings(&b->mappings, units, &tail->mappings);
  b->map_size = keep;
  if (LargeBlock* upper = CachedRangeAt(tail->base + tail->map_size)) {
    RemoveFree(upper);
    Absorb(tail, upper);
  }
  InsertFree(tail);
}

// The calling thread, as cached ranges record who freed them (its thread
// pointer: unique among the threads alive; a new thread may inherit a dead
// one's, and with it the preference for the ranges that one freed).
uintptr_t ThisThread() { return reinterpret_cast<uintptr_t>(__builtin_thread_pointer()); }

// How many cached ranges TakeFreeLocked looks at for one of the caller's.
constexpr int kOwnRangeLook = 64;

// The smallest cached range of at least `units` this thread freed itself, up
// to twice the size (split to fit); else the smallest cached range of at least
// `units` (the newest among equals). A range freed by the thread that reuses
// it has its lines in that core's caches; one another thread freed has them in
// the other core's, and every line the program touches moves (large_2t, 1 - 4
// MiB blocks: 1.14x, and 1.10x more for looking in the larger sizes, when the
// two vCPUs do not share a cache; a tie when they do).
LargeBlock* TakeFreeLocked(size_t units) {
  const uintptr_t me = ThisThread();
  const size_t first = BucketOf(units);
  const size_t last_own = std::min(kBuckets, 2 * units + 1);
  int look = 0;  // over all buckets: a thread that never frees finds none quickly
  for (size_t i = first; i < last_own && look < kOwnRangeLook; ++i) {
    for (LargeBlock* b = g_free[i]; b != nullptr && look < kOwnRangeLook; b = b->next, ++look) {
      if (b->freed_by == me) {
        RemoveFree(b);
        return b;
      }
    }
  }
  for (size_t i = first; i < kBuckets; ++i) {
    if (LargeBlock* b = g_free[i]) {
      RemoveFree(b);
      return b;
    }
  }
  LargeBlock* best = nullptr;
  for (LargeBlock* b = g_free[kBuckets]; b != nullptr; b = b->next) {
    if (UnitsOf(b->map_size) >= units && (best == nullptr || b->map_size < best->map_size)) best = b;
  }
  if (best != nullptr) RemoveFree(best);
  return best;
}

// The largest cached range (for a request none is big enough for).
LargeBlock* TakeLargestLocked() {
  LargeBlock* best = g_free[kBuckets];
  for (LargeBlock* b = best; b != nullptr; b = b->next) {
    if (b->map_size > best->map_size) best = b;
  }
  for (size_t i = kBuckets; best == nullptr && i-- > 1;) best = g_free[i];
  if (best != nullptr) RemoveFree(best);
  return best;
}

LargeBlock* OldestLocked() {
  LargeBlock* oldest = nullptr;
  for (LargeBlock* head : g_free) {
    for (LargeBlock* b = head; b != nullptr; b = b->next) {
      // <=: a bucket runs newest first, so on a tie (the clock is coarse)
      // the one further down is the older.
      if (oldest == nullptr || b->freed_ms <= oldest->freed_ms) oldest = b;
    }
  }
  return oldest;
}

// Takes b, out of the buckets already, for good: no lookup finds it any
// more, and it joins *out, to be unmapped once the lock is released.
void DropLocked(LargeBlock* b, LargeBlock** out) {
  UnregisterEnds(b->base, b->map_size);
  b->next = *out;
  *out = b;
}

// Takes cached range b out of the cache for good (DropLocked).
void RetireLocked(LargeBlock* b, LargeBlock** out) {
  RemoveFree(b);
  DropLocked(b, out);
}

// The same for the first `units` of b only; the rest stays cached, as old as
// b was (all of b goes if no record can be had for the rest). Returns the
// bytes retired.
size_t RetireHeadLocked(LargeBlock* b, size_t units, LargeBlock** out) {
  RemoveFree(b);
  SplitLocked(b, units, b->freed_ms);
  const size_t bytes = b->map_size;
  DropLocked(b, out);
  return bytes;
}

// Starts a new window for the peak of live Large memory every HAKMEM_DECAY_MS,
// from what is live now; the last window's peak still counts for one window
// (else the bound would fall to what is live at each restart, and a program
// swinging faster than the window would unmap one trough per window).
void RestartWindowLocked(uint64_t now) {
  g_window_start_ms = now;
  g_last_window_peak_live = g_window_peak_live.load(std::memory_order_relaxed);
  g_window_peak_live.store(g_live_bytes.load(std::memory_order_relaxed), std::memory_order_relaxed);
}

// Every cached range unused for `idle_ms` goes to *out, oldest first.
void RetireIdleLocked(uint64_t now, uint64_t idle_ms, LargeBlock** out) {
  for (LargeBlock* b = OldestLocked(); b != nullptr && b->freed_ms + idle_ms <= now;
       b = OldestLocked()) {
    g_decayed_bytes.fetch_add(b->map_size, std::memory_order_relaxed);
    RetireLocked(b, out);
  }
}

// The oldest cached ranges go to *out while the cache is over its bound
// (with `incoming` bytes about to be mapped, CacheLimit).
void EvictOverBoundLocked(uint64_t now, LargeBlock** out, uint64_t incoming = 0) {
  if (now >= g_window_start_ms + GetConfig().decay_ms) RestartWindowLocked(now);
  const uint64_t limit = CacheLimit(incoming);
  if (g_cached_bytes > limit) g_overflow_ms = now;
  while (g_cached_bytes > limit) RetireLocked(OldestLocked(), out);
}

// Ranges that must go back to the OS go to *out: the oldest beyond the bound
// and, at most every quarter of the decay time, every range unused for
// HAKMEM_DECAY_MS.
void EvictLocked(uint64_t now, LargeBlock** out, uint64_t incoming = 0) {
  EvictOverBoundLocked(now, out, incoming);
  const uint64_t decay = GetConfig().decay_ms;
  if (now < g_next_decay_ms || g_cached_bytes == 0) return;
  g_next_decay_ms = now + decay / 4 + 1;
  RetireIdleLocked(now, decay, out);
}

// Puts b into the cache, merged with free neighbours, so that free memory
// forms ranges as large as the requests that may come (a merged range was
// freed when the latest of its parts was). Returns the range b ended in.
LargeBlock* CacheLocked(LargeBlock* b) {
  if (LargeBlock* lower = CachedRangeAt(b->base - kUnit)) {
    RemoveFree(lower);
    Absorb(lower, b);
    b = lower;
  }
  if (LargeBlock* upper = CachedRangeAt(b->base + b->map_size)) {
    RemoveFree(upper);
    Absorb(b, upper);
  }
  InsertFree(b);
  return b;
}

// Unmaps retired ranges (or a block never cached) and frees their records.
// Returns the bytes unmapped.
size_t UnmapAll(LargeBlock* list) {
  size_t bytes = 0;
  while (list != nullptr) {
    LargeBlock* next = list->next;
    bytes += list->map_size;
    OsUnmap(list->base, list->map_size);
    g_records.Delete(list);
    list = next;
  }
  return bytes;
}

LargeBlock* MapNew(size_t map_size, size_t alignment) {
  const size_t map_align = alignment > kUnit ? alignment : kUnit;
  char* base = static_cast<char*>(OsMapAligned(map_size, map_align));
  if (base == nullptr) return nullptr;
  LargeBlock* b = g_records.New();
  if (b == nullptr) {
    OsUnmap(base, map_size);
    return nullptr;
  }
  b->base = base;
  b->map_size = map_size;
  b->cacheable = map_align == kUnit;
  b->mappings = OneMapping(map_size);
  if (!RegisterEnds(base, map_size, b)) {
    g_records.Delete(b);
    OsUnmap(base, map_size);
    return nullptr;
  }
  return b;
}

// MovePages for a part of a range not known to be one mapping: a 2 MiB unit
// at a time (mapping boundaries always fall on unit boundaries).
void MoveUnits(char* from, size_t size, char* to, bool keep_content) {
  for (size_t off = 0; off < size; off += kUnit) {
    if (OsMoveMapping(from + off, kUnit, to + off, kUnit)) continue;
    // Refused: the kernel may have freed the destination unit first.
    if (OsRefillHole(to + off, kUnit) && keep_content) std::memcpy(to + off, from + off, kUnit);
    OsUnmap(from + off, kUnit);
  }
}

// Moves the pages of [from, from + size), the kernel mappings *m, to `to`, a
// range of ours from OsMapAligned with room for them, without copying: one
// mremap per mapping, the last one grown by the `grow` bytes of `to` that
// follow (fresh pages of to's own mapping: they join it, and the list does
// not grow with every move). Never one over several: since Linux 6.17 the
// kernel moves such a range mapping by mapping, and one that fails partway
// (ENOMEM) leaves some moved and some not, with no way to tell which from
// here (a unit moved away is a hole another thread may map into at once:
// copying from it or unmapping it would read or destroy that thread's
// memory). A move of one mapping is all or nothing; one the kernel refuses
// (a mapping the program split, before Linux 6.17; since, only a grown one),
// and a range whose mappings are not known, goes a unit at a time (an 8 GiB
// range of several mappings was 4,096 calls, 60 ms, before the mappings were
// known), into its destination mapped again if the refusal freed it. A unit
// the kernel refuses to move is copied if `keep_content`, else left behind
// (`to` keeps fresh pages there). Either way [from, from + size) is unmapped
// afterwards. *m becomes the mappings at `to` (not known after a fall back to
// units); true if every mapping moved whole.
bool MovePages(char* from, size_t size, Mappings* m, char* to, bool keep_content, size_t grow = 0) {
  if (m->count == 0) {
    MoveUnits(from, size, to, keep_content);
    return false;
  }
  bool whole = true;
  size_t off = 0;
  for (uint32_t i = 0; i < m->count; ++i) {
    const size_t bytes = m->units[i] * kUnit;
    const size_t to_bytes = i + 1 == m->count ? bytes + grow : bytes;
    if (!OsMoveMapping(from + off, bytes, to + off, to_bytes)) {
      OsRefillHole(to + off, to_bytes);
      MoveUnits(from + off, bytes, to + off, keep_content);
      whole = false;
    }
    off += bytes;
  }
  if (!whole) {
    *m = Mappings{};
    return false;
  }
  m->units[m->count - 1] += static_cast<uint32_t>(UnitsOf(grow));
  return true;
}

// Cached ranges that together make `units` units, for a request no single
// range is big enough for: the largest first, then the smallest one that
// covers what is missing (split to fit). They leave the cache and the range
// map. Linked through `next`; stops early when the cache runs out.
LargeBlock* GatherLocked(size_t units) {
  LargeBlock* pieces = nullptr;
  size_t got = 0;
  while (got < units) {
    LargeBlock* r = TakeFreeLocked(units - got);
    if (r != nullptr) {
      SplitLocked(r, units - got);
      if (UnitsOf(r->map_size) > units - got) {
        // No record for its tail: whole, it would overflow the block being
        // assembled (Assemble moves every piece in full). Fresh pages make
        // up the rest instead.
        InsertFree(r);
        break;
      }
    } else if ((r = TakeLargestLocked()) == nullptr) {
      break;
    }
    got += UnitsOf(r->map_size);
    UnregisterEnds(r->base, r->map_size);
    r->next = pieces;
    pieces = r;
  }
  return pieces;
}

// Pieces GatherLocked took, back in the cache as they were.
void RecachePieces(LargeBlock* pieces) {
  LargeBlock* lost = nullptr;  // no range-map entry to be had: unmapped
  {
    sync::SpinLockHolder hold(&g_lock);
    while (pieces != nullptr) {
      LargeBlock* r = pieces;
      pieces = r->next;
      if (RegisterEnds(r->base, r->map_size, r)) {
        CacheLocked(r);
      } else {
        r->next = lost;
        lost = r;
      }
    }
  }
  UnmapAll(lost);
}

// Pieces GatherLocked took for a block of map_size bytes that could not be
// made (no address space for it). A request far beyond what they hold (malloc
// of 40 TiB) must not empty the cache on its way to NULL: they go back. One
// of their order gets their address space instead (unmapped): under ulimit -v
// they may be what leaves the fresh mapping the caller tries next no room.
void DropPieces(LargeBlock* pieces, size_t map_size) {
  size_t gathered = 0;
  for (LargeBlock* r = pieces; r != nullptr; r = r->next) gathered += r->map_size;
  if (map_size <= 2 * gathered) {
    UnmapAll(pieces);
    return;
  }
  RecachePieces(pieces);
}

// A block of map_size bytes made of `pieces` (GatherLocked) and fresh pages
// for the rest: the pieces' pages move into one new range (mremap, no fault
// and no copy), so a program that frees and allocates buffers of changing
// sizes reuses what it freed. On failure the pieces are dropped (DropPieces)
// and nullptr is returned.
LargeBlock* Assemble(LargeBlock* pieces, size_t map_size) {
  char* dest = static_cast<char*>(OsMapAligned(map_size, kUnit));
  if (dest == nullptr) {
    DropPieces(pieces, map_size);
    return nullptr;
  }
  // The first piece's record becomes the block's. Registered before the
  // moves: once pages have left a piece, its range is no longer ours and must
  // not be touched again.
  LargeBlock* b = pieces;
  if (!RegisterEnds(dest, map_size, b)) {
    OsUnmap(dest, map_size);
    DropPieces(pieces, map_size);
    return nullptr;
  }
  // Each piece's mappings moved whole are mappings of the block; the fresh
  // pages of dest that follow the last piece join its last mapping.
  Mappings made{};
  bool known = true;
  size_t offset = 0;
  for (LargeBlock* r = pieces; r != nullptr;) {
    LargeBlock* next = r->next;
    const size_t grow = next == nullptr ? map_size - offset - r->map_size : 0;
    known &= MovePages(r->base, r->map_size, &r->mappings, dest + offset, /*keep_content=*/false, grow);
    if (known) {
      if (offset == 0) {
        made = r->mappings;
      } else {
        AppendMappings(&made, r->mappings);
      }
    }
    offset += r->map_size;
    if (r != b) g_records.Delete(r);
    r = next;
  }
  b->next = nullptr;
  b->base = dest;
  b->map_size = map_size;
  b->dirty = true;
  b->resident_bytes = 0;
  b->huge = false;
  b->mappings = known ? made : Mappings{};
  return b;
}

// A block no longer in use (in_use false; freed_ms and freed_by set) goes to
// the big cache, or back to the OS.
void CacheFreed(LargeBlock* b) {
  g_live_bytes.fetch_sub(b->map_size, std::memory_order_relaxed);
  if (!b->cacheable || GetConfig().large_cache_bytes == 0) {
    UnregisterEnds(b->base, b->map_size);
    b->next = nullptr;
    UnmapAll(b);
    return;
  }
  LargeBlock* retired = nullptr;
  {
    sync::SpinLockHolder hold(&g_lock);
    CacheLocked(b);
    EvictLocked(NowMs(), &retired);
  }
  UnmapAll(retired);
}

// Gives b to the program for a request of `size` bytes.
void* HandOut(LargeBlock* b, size_t size, bool* zeroed) {
  *zeroed = !b->dirty;
  b->dirty = true;
  b->usable = AlignUp(size == 0 ? 1 : size, kPageSize);
  b->in_use.store(true, std::memory_order_release);
  return b->base;
}

// Empties a slot of a thread's ranges (any thread may): its range, no longer
// counted as kept, or nullptr.
LargeBlock* EmptySlot(std::atomic<LargeBlock*>& slot) {
  LargeBlock* b = slot.exchange(nullptr, std::memory_order_acq_rel);
  if (b != nullptr) g_thread_kept.fetch_sub(b->map_size, std::memory_order_relaxed);
  return b;
}

// A range of `map_size` bytes from the thread's own, or nullptr. Only this
// thread fills a slot, so a full one holds what size[i] describes, or has
// been emptied by a decay pass or malloc_trim meanwhile (exchange: nullptr).
LargeBlock* TakeThreadRange(ThreadRanges* mine, size_t map_size) {
  for (int i = 0; i < ThreadRanges::kSlots; ++i) {
    if (mine->size[i] != map_size || mine->slot[i].load(std::memory_order_relaxed) == nullptr) continue;
    if (LargeBlock* b = EmptySlot(mine->slot[i])) return b;
  }
  return nullptr;
}

// Puts b among the thread's ranges; returns the range it displaced (the one
// put in longest ago), or nullptr. A slot seen empty stays empty until this
// thread fills it.
LargeBlock* KeepThreadRange(ThreadRanges* mine, LargeBlock* b) {
  uint32_t i = mine->next;
  for (int k = 0; k < ThreadRanges::kSlots; ++k, i = (i + 1) % ThreadRanges::kSlots) {
    if (mine->slot[i].load(std::memory_order_relaxed) == nullptr) break;
  }
  // i: an empty slot, else (all full) the one after the newest: the oldest.
  mine->next = (i + 1) % ThreadRanges::kSlots;
  mine->size[i] = b->map_size;  // read only by this thread's TakeThreadRange
  g_thread_kept.fetch_add(b->map_size, std::memory_order_relaxed);
  LargeBlock* displaced = mine->slot[i].exchange(b, std::memory_order_acq_rel);
  if (displaced != nullptr) g_thread_kept.fetch_sub(displaced->map_size, std::memory_order_relaxed);
  return displaced;
}

}  // namespace

LargeBlock* TakeThreadRanges(ThreadRanges* ranges, LargeBlock* chain) {
  for (auto& slot : ranges->slot) {
    if (LargeBlock* b = EmptySlot(slot)) {
      b->next = chain;
      chain = b;
    }
  }
  return chain;
}

void ReturnRanges(LargeBlock* chain) {
  while (chain != nullptr) {
    LargeBlock* b = chain;
    chain = b->next;
    CacheFreed(b);
  }
}

namespace {

// Moves the ranges `mine` keeps for its own next requests into the cache
// (under g_lock), where they merge with their neighbours and serve any size;
// whether there were any.
bool CacheThreadRangesLocked(ThreadRanges* mine) {
  LargeBlock* chain = TakeThreadRanges(mine);
  if (chain == nullptr) return false;
  while (chain != nullptr) {
    LargeBlock* r = chain;
    chain = r->next;
    g_live_bytes.fetch_sub(r->map_size, std::memory_order_relaxed);  // live while kept (Free)
    CacheLocked(r);
  }
  return true;
}

}  // namespace

void* Alloc(size_t size, size_t alignment, bool* zeroed, ThreadRanges* mine) {
  if (size > (size_t{1} << 46)) return nullptr;  // beyond any real mapping
  const size_t units = UnitsOf(AlignUp(size == 0 ? 1 : size, kUnit));
  if (mine != nullptr && alignment <= kUnit && units * kUnit <= ThreadRanges::kMaxBytes) {
    if (LargeBlock* b = TakeThreadRange(mine, units * kUnit)) {
      // Counted as live all along (Free); touched before.
      mine->hits.store(mine->hits.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
      ++b->reuses;  // this thread's alone now (MakeCachedRangesHuge counts them)
      return HandOut(b, size, zeroed);
    }
  }
  g_allocs.fetch_add(1, std::memory_order_relaxed);
  LargeBlock* b = nullptr;
  LargeBlock* pieces = nullptr;  // no range is big enough: several together
  LargeBlock* retired = nullptr;
  {
    sync::SpinLockHolder hold(&g_lock);
    // What decayed goes back rather than being reused; a mapping the cache
    // cannot serve (over-aligned) counts as live already.
    EvictLocked(NowMs(), &retired, alignment <= kUnit ? 0 : units * kUnit);
    if (alignment <= kUnit) {
      b = TakeFreeLocked(units);
      // No cached range is big enough: the thread's own ranges (of other
      // sizes) would stay resident while fresh pages fault in beside them.
      // calloc of 1 - 16 MiB buffers one at a time: peak RSS 25.4 -> 19.2
      // MiB (mimalloc 18.1), 9 % faster; large_2t 147.6 -> 141.8 MiB.
      if (b == nullptr && mine != nullptr && CacheThreadRangesLocked(mine)) {
        b = TakeFreeLocked(units);
      }
      if (b != nullptr) {
        SplitLocked(b, units);
      } else {
        pieces = GatherLocked(units);
      }
    }
  }
  UnmapAll(retired);
  if (b != nullptr) {
    g_cache_hits.fetch_add(1, std::memory_order_relaxed);
    ++b->reuses;
  } else if (pieces != nullptr && (b = Assemble(pieces, units * kUnit)) != nullptr) {
    // Some or all of it was faulted in already.
  } else {
    b = MapNew(units * kUnit, alignment);
    if (b == nullptr) return nullptr;
  }
  NoteLive(b->map_size);
  return HandOut(b, size, zeroed);
}

namespace {
constexpr size_t kTrustResidentBytes = size_t{64} << 20;
}  // namespace

void ZeroFill(void* p, size_t bytes) {
  // The caller has the block in use, so its record is the caller's alone.
  LargeBlock* b = RangeMap::MetaOf<LargeBlock>(RangeMap::Lookup(p));
  // Beyond kTrustResidentBytes the probe costs little beside the clearing,
  // and it finds what the kernel reclaimed meanwhile (swapped-out pages are
  // dropped, not read back in to be cleared).
  if (bytes <= b->resident_bytes && bytes <= kTrustResidentBytes) {
    std::memset(p, 0, bytes);
    return;
  }
  const size_t span = AlignUp(bytes, kPageSize);  // within the block's usable bytes
  b->resident_bytes = OsZeroFill(p, span) ? span : 0;
}

LargeBlock* RangeAround(const void* p) {
  // Back from p's unit to the first entry: the range's last unit or its
  // first (RegisterEnds), unless p is in no range. Under the lock, which
  // every change of a cached range's entries and fields holds (a block in
  // use changes only by its own realloc), so the record read is whole.
  uintptr_t unit = reinterpret_cast<uintptr_t>(p) & ~(kUnit - 1);
  if ((unit >> RangeMap::kAddressBits) != 0) return nullptr;
  sync::SpinLockHolder hold(&g_lock);
  size_t n = g_most_units.load(std::memory_order_relaxed);
  while (n > 0 && unit != 0) {
    if (!RangeMap::HasLeaf(reinterpret_cast<const void*>(unit))) {
      // No entry in this leaf's reach below unit: on to the previous leaf's
      // last unit (a range's ends lie in leaves that exist).
      const uintptr_t leaf_start = unit & ~(RangeMap::kLeafReach - 1);
      const size_t skipped = (unit - leaf_start) / kUnit + 1;
      if (skipped >= n || leaf_start == 0) return nullptr;
      n -= skipped;
      unit = leaf_start - kUnit;
      continue;
    }
    const uintptr_t e = RangeMap::Lookup(reinterpret_cast<const void*>(unit));
    if (e != 0) {
      if (RangeMap::KindOf(e) != RangeKind::kLarge) return nullptr;
      LargeBlock* b = RangeMap::MetaOf<LargeBlock>(e);
      const uintptr_t off = reinterpret_cast<uintptr_t>(p) - reinterpret_cast<uintptr_t>(b->base);
      return off < b->map_size ? b : nullptr;
    }
    --n;
    unit -= kUnit;
  }
  return nullptr;
}

void Free(LargeBlock* b, void* p, ThreadRanges* mine) {
  if (p != b->base) {
    ReportInvalidFree(p, BadFree::kInterior);
    return;
  }
  if (!b->in_use.exchange(false, std::memory_order_acq_rel)) {
    ReportInvalidFree(p, BadFree::kDouble);
    return;
  }
  // Not in the big cache yet: nobody else reads these meanwhile.
  b->freed_ms = NowMs();
  b->freed_by = ThisThread();
  if (mine != nullptr && b->cacheable && b->map_size <= ThreadRanges::kMaxBytes &&
      GetConfig().large_cache_bytes != 0) {
    b = KeepThreadRange(mine, b);  // the one it displaces, if any, goes on
    if (b == nullptr) return;
  }
  CacheFreed(b);
}

bool ResizeInPlace(LargeBlock* b, size_t new_size) {
  if (new_size > (size_t{1} << 46)) return false;  // beyond any real mapping (and AlignUp's range)
  const size_t units = UnitsOf(AlignUp(new_size == 0 ? 1 : new_size, kUnit));
  const size_t old_map = b->map_size;
  if (!b->cacheable) {
    // Over-aligned: its own mapping, which it keeps whole.
    if (units * kUnit > old_map || units * kUnit < old_map / 4) return false;
  } else {
    LargeBlock* retired = nullptr;
    {
      sync::SpinLockHolder hold(&g_lock);
      if (units * kUnit > b->map_size) {
        // Grow into a free range that follows, if it is big enough.
        LargeBlock* upper = CachedRangeAt(b->base + b->map_size);
        if (upper == nullptr || UnitsOf(b->map_size + upper->map_size) < units) return false;
        RemoveFree(upper);
        Absorb(b, upper);
      }
      b->freed_by = ThisThread();  // the tail it gives up was this thread's to touch
      SplitLocked(b, units);       // what is not needed goes to the cache
      EvictLocked(NowMs(), &retired);
    }
    UnmapAll(retired);
    if (b->map_size > old_map) {
      NoteLive(b->map_size - old_map);
    } else {
      g_live_bytes.fetch_sub(old_map - b->map_size, std::memory_order_relaxed);
    }
  }
  b->usable = AlignUp(new_size == 0 ? 1 : new_size, kPageSize);
  return true;
}

void* Remap(LargeBlock* b, size_t new_size) {
  if (!b->cacheable || new_size > (size_t{1} << 46)) return nullptr;
  const size_t map_size = AlignUp(new_size, kUnit);
  if (map_size <= b->map_size) return nullptr;  // ResizeInPlace's job
  // A 2 MiB-aligned place to move to, then the pages move there.
  char* dest = static_cast<char*>(OsMapAligned(map_size, kUnit));
  if (dest == nullptr) return nullptr;
  if (!RegisterEnds(dest, map_size, b)) {
    OsUnmap(dest, map_size);
    return nullptr;
  }
  // The old range stops being ours before the pages leave it: once they have,
  // another thread may map something there and register it.
  UnregisterEnds(b->base, b->map_size);
  // The last mapping grows into the rest of dest as it moves (the added
  // pages are of it), so that the next realloc moves the block with as many
  // calls again; one the kernel would not move whole (the program split it:
  // mprotect, mlock of a part) goes unit by unit, into dest mapped again if
  // the refusal freed it.
  MovePages(b->base, b->map_size, &b->mappings, dest, /*keep_content=*/true, map_size - b->map_size);
  NoteLive(map_size - b->map_size);
  b->base = dest;
  b->map_size = map_size;
  b->huge = false;  // the part added is not
  b->resident_bytes = 0;
  b->usable = AlignUp(new_size, kPageSize);
  return dest;
}

namespace {

// The next cached range MakeCachedRangesHuge should put on huge pages, taken
// out of the cache (so that nothing hands it out meanwhile: not even Trim,
// which misses it for that while); nullptr if none. Not one about to decay.
LargeBlock* TakeHugeCandidateLocked(uint64_t now_ms, size_t budget) {
  if (now_ms < g_overflow_ms + kHugeQuietMs || now_ms < g_huge_refused_until_ms) return nullptr;
  // A range freed before decay_from decays soon.
  const uint64_t real_now = NowMs();
  const uint64_t half_decay = GetConfig().decay_ms / 2;
  const uint64_t decay_from = real_now > half_decay ? real_now - half_decay : 0;
  for (LargeBlock* head : g_free) {
    for (LargeBlock* b = head; b != nullptr; b = b->next) {
      if (b->huge || b->reuses < kHugeMinReuses || b->huge_after_ms > now_ms ||
          b->map_size > budget || b->freed_ms < decay_from) {
        continue;
      }
      b->huge_after_ms = now_ms + kHugeRetryMs;
      RemoveFree(b);
      g_huge_in_flight = b;
      return b;
    }
  }
  return nullptr;
}

// Drops b's pages and faults it in again on huge pages (b is out of the
// cache); true if the kernel gave them, false if it refused (b's pages may
// then be gone, or, if they could not be dropped, b keeps its contents). The
// advice is withdrawn after the touches: the program gets these huge pages
// and no more (a part it gives back with MADV_DONTNEED later comes back in
// small pages, and khugepaged leaves the range alone).
bool RefaultHuge(LargeBlock* b) {
  b->resident_bytes = 0;  // a refusal may come after some pages went
  if (!OsDecommit(b->base, b->map_size)) return false;  // locked pages (mlock)
  b->dirty = false;  // zero-filled from here on
  if (!OsAdviseHuge(b->base, b->map_size, true)) return false;
  for (size_t off = 0; off < b->map_size; off += kUnit) {
    *static_cast<volatile char*>(b->base + off) = 0;
  }
  OsAdviseHuge(b->base, b->map_size, false);
  // A unit that fell back to small pages has one page resident.
  return OsResidentPages(b->base, b->map_size) == b->map_size / kPageSize;
}

}  // namespace

size_t MakeCachedRangesHuge(uint64_t now_ms) {
  // Under "always" the program's own faults in a range (2 MiB-aligned) get
  // huge pages already.
  if (OsHugePageMode() != HugePageMode::kOnAdvice) return 0;
  size_t budget = kHugeBytesPerPass;
  size_t made_huge = 0;
  LargeBlock* retired = nullptr;
  for (;;) {
    LargeBlock* b;
    {
      sync::SpinLockHolder hold(&g_lock);
      b = TakeHugeCandidateLocked(now_ms, budget);
    }
    if (b == nullptr) break;
    budget -= b->map_size;
    bool refused = false;
    // All resident only: making it huge must not add to the program's RSS.
    if (OsResidentPages(b->base, b->map_size) == b->map_size / kPageSize) {
      b->huge = RefaultHuge(b);
      refused = !b->huge;
      if (b->huge) {
        made_huge += b->map_size;
        g_huge_ranges.fetch_add(1, std::memory_order_relaxed);
      }
    }
    sync::SpinLockHolder hold(&g_lock);
    if (refused) g_huge_refused_until_ms = now_ms + kHugeBackoffMs;
    g_huge_in_flight = nullptr;
    // Merged with a neighbour that is not huge, it is not taken again now.
    LargeBlock* merged = CacheLocked(b);
    merged->huge_after_ms = std::max(merged->huge_after_ms, now_ms + kHugeRetryMs);
    EvictLocked(NowMs(), &retired);  // the cache's bound, as at a free
  }
  UnmapAll(retired);
  return made_huge;
}

size_t Decay(uint64_t now_ms, uint64_t idle_ms) {
  LargeBlock* retired = nullptr;
  {
    sync::SpinLockHolder hold(&g_lock);
    EvictOverBoundLocked(now_ms, &retired);
    RetireIdleLocked(now_ms, idle_ms, &retired);
  }
  return UnmapAll(retired);
}

size_t YieldToSlabGrowth(size_t bytes) {
  LargeBlock* retired = nullptr;
  size_t released = 0;
  {
    sync::SpinLockHolder hold(&g_lock);
    while (released < bytes && g_cached_bytes != 0) {
      const size_t units = UnitsOf(AlignUp(bytes - released, kUnit));
      released += RetireHeadLocked(OldestLocked(), units, &retired);
    }
  }
  UnmapAll(retired);
  g_yielded_bytes.fetch_add(released, std::memory_order_relaxed);
  return released;
}

size_t Trim() {
  LargeBlock* retired = nullptr;
  {
    sync::SpinLockHolder hold(&g_lock);
    // An empty cache has no history: the peak's window starts again from
    // what is live, and the decay pass and huge pages may come at once.
    RestartWindowLocked(NowMs());
    g_last_window_peak_live = 0;
    g_next_decay_ms = 0;
    g_overflow_ms = 0;
    for (LargeBlock* head : g_free) {
      while (head != nullptr) {
        LargeBlock* next = head->next;
        RetireLocked(head, &retired);
        head = next;
      }
    }
  }
  return UnmapAll(retired);
}

LargeStats GetLargeStats() {
  LargeStats s;
  s.allocs = g_allocs.load(std::memory_order_relaxed);
  s.cache_hits = g_cache_hits.load(std::memory_order_relaxed);
  s.live_bytes = g_live_bytes.load(std::memory_order_relaxed);
  s.decayed_bytes = g_decayed_bytes.load(std::memory_order_relaxed);
  s.yielded_bytes = g_yielded_bytes.load(std::memory_order_relaxed);
  s.huge_ranges = g_huge_ranges.load(std::memory_order_relaxed);
  sync::SpinLockHolder hold(&g_lock);
  s.cached_bytes = g_cached_bytes;
  return s;
}

// Lock order: g_lock, then the record pool's lock (never taken the other way).
void LockForFork() {
  g_lock.Lock();
  g_records.lock().Lock();
}

void UnlockAfterFork(bool in_child) {
  if (in_child) {
    g_records.lock().ResetAfterFork();
    // Merging it may free a record (the lock just reset); its contents do
    // not matter, and the advice may have been left on.
    if (LargeBlock* b = g_huge_in_flight) {
      OsAdviseHuge(b->base, b->map_size, false);
      CacheLocked(b);
    }
    g_huge_in_flight = nullptr;
    g_lock.ResetAfterFork();
  } else {
    g_records.lock().Unlock();
    g_lock.Unlock();
  }
}

}  // namespace hakmem::large
