// bad_input_probe: performs exactly one kind of heap misuse, then checks
// whether the heap is still consistent. It links no allocator of its own: it
// runs on whatever malloc the process has (glibc, or one given by LD_PRELOAD),
// so the same program measures hakmem and its peers (docs/SAFETY.md).
//
//   bad_input_probe --list        the case names, one a line
//   bad_input_probe --describe    name, a tab, what the case does
//   bad_input_probe CASE          run one case
//
// Output (stdout; stderr is left to the allocator's own messages):
//   probe case=C bad=0x...        the pointer about to be misused (if any)
//   probe case=C phase=checked duplicates=D overlaps=O nulls=N
//                                 after the check's allocations, before it
//                                 writes to them (survives a later crash)
//   probe case=C outcome=survived duplicates=D overlaps=O corrupt=K nulls=N ret=R
//                                 the last line of a run that got to the end
//   probe case=C signal=S phase=P a fatal signal (SIGSEGV, SIGBUS, SIGABRT,
//                                 or SIGTERM from a timeout) arrived while
//                                 the probe was in phase P: setup,
//                                 valid-free, bad-call, bad-write,
//                                 free-overflowed, thread-valid-free,
//                                 thread-bad-call, thread-exit, after-join,
//                                 after-bad-call, later-malloc, check,
//                                 check-use, exit
// The exit status is 0 when the probe got to the end, whatever it found; a
// fatal signal kills it with that signal (no core file).
//
// The check (after the misuse): for every size the case used, allocate 600
// blocks (fewer for big sizes, at most 64 MiB a size), keep them all live,
// and count blocks that start where another live block starts (duplicates)
// or inside another live block (overlaps). The blocks the case still holds
// take part. Then every block gets its own byte pattern, written in full (a
// word per page above 64 KiB), and read back: a block that does not read back
// is corrupt. Nothing is freed afterwards.
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>

namespace {

constexpr size_t kKiB = 1024;
constexpr size_t kMiB = 1024 * kKiB;

// Hides a pointer from the optimiser, so that it can neither see which
// object a pointer came from (no -Wfree-nonheap-object, no folding of a
// double free) nor drop a write to freed memory.
template <class T>
T Hide(T p) {
  asm volatile("" : "+r"(p));
  return p;
}

// ---- where the probe is, for the signal handler ----------------------------

const char* g_case = "?";
const char* volatile g_phase = "setup";

void Append(char* buf, size_t& n, size_t cap, const char* s) {
  while (*s != '\0' && n + 1 < cap) buf[n++] = *s++;
}

void OnFatalSignal(int sig) {
  // Async-signal-safe: formats into a stack buffer, one write(2).
  char buf[256];
  size_t n = 0;
  const char* name = sig == SIGSEGV   ? "SIGSEGV"
                     : sig == SIGBUS  ? "SIGBUS"
                     : sig == SIGABRT ? "SIGABRT"
                     : sig == SIGILL  ? "SIGILL"
                     : sig == SIGFPE  ? "SIGFPE"
                     : sig == SIGTERM ? "SIGTERM"
                                      : "other";
  Append(buf, n, sizeof buf, "probe case=");
  Append(buf, n, sizeof buf, g_case);
  Append(buf, n, sizeof buf, " signal=");
  Append(buf, n, sizeof buf, name);
  Append(buf, n, sizeof buf, " phase=");
  Append(buf, n, sizeof buf, g_phase);
  buf[n++] = '\n';
  ssize_t ignored = write(1, buf, n);
  (void)ignored;
  // SA_RESETHAND restored the default action: a fault happens again when the
  // handler returns, and abort() raises SIGABRT again; either way the process
  // dies of the signal it got. SIGTERM (a timeout: the runner asks where the
  // probe hangs) is raised again, to be delivered when the handler returns.
  if (sig == SIGTERM) raise(sig);
}

void InstallHandlers() {
  static char alt_stack[64 * 1024];
  stack_t ss{};
  ss.ss_sp = alt_stack;
  ss.ss_size = sizeof alt_stack;
  sigaltstack(&ss, nullptr);
  struct sigaction sa {};
  sa.sa_handler = OnFatalSignal;
  sa.sa_flags = SA_RESETHAND | SA_ONSTACK;
  sigemptyset(&sa.sa_mask);
  for (int sig : {SIGSEGV, SIGBUS, SIGABRT, SIGILL, SIGFPE, SIGTERM}) sigaction(sig, &sa, nullptr);
  rlimit no_core{0, 0};
  setrlimit(RLIMIT_CORE, &no_core);
}

// ---- what a case leaves for the check ---------------------------------------

struct Block {
  char* p;
  size_t size;
};

constexpr int kMaxBlocks = 8192;
Block g_blocks[kMaxBlocks];  // static: the probe allocates nothing of its own
int g_num_blocks = 0;

struct Ctx {
  size_t sizes[4] = {};  // sizes the check allocates
  int num_sizes = 0;
  char ret[64] = "-";  // what a realloc / malloc_usable_size returned

  void UseSize(size_t s) {
    for (int i = 0; i < num_sizes; ++i) {
      if (sizes[i] == s) return;
    }
    if (num_sizes < 4) sizes[num_sizes++] = s;
  }
  // A block the case still holds: it must not overlap anything handed out later.
  void Live(void* p, size_t size) {
    if (p != nullptr && g_num_blocks < kMaxBlocks) g_blocks[g_num_blocks++] = {static_cast<char*>(p), size};
  }
};

void AnnounceBad(const void* p) {
  printf("probe case=%s bad=%p\n", g_case, p);
  fflush(stdout);
}

void* Malloc(size_t n) { return Hide(malloc(n)); }
void Free(void* p) { free(Hide(p)); }

// ---- the misuse ---------------------------------------------------------------

// free(a); free(a)
void DoubleFree(Ctx& ctx, size_t size) {
  void* a = Malloc(size);
  AnnounceBad(a);
  g_phase = "valid-free";
  Free(a);
  g_phase = "bad-call";
  Free(a);
  ctx.UseSize(size);
}

// free(a); free(b); free(a)
void DoubleFreeAba(Ctx& ctx, size_t size) {
  void* a = Malloc(size);
  void* b = Malloc(size);
  AnnounceBad(a);
  g_phase = "valid-free";
  Free(a);
  Free(b);
  g_phase = "bad-call";
  Free(a);
  ctx.UseSize(size);
}

struct ThreadJob {
  void* block;
  size_t size;
  bool warm;     // allocate something first (the thread has a heap)
  bool twice;    // free the block twice (else once)
  void* warm_block;
};

void* ThreadBody(void* arg) {
  auto* job = static_cast<ThreadJob*>(arg);
  if (job->warm) job->warm_block = Malloc(job->size);
  g_phase = "thread-valid-free";
  Free(job->block);
  if (job->twice) {
    g_phase = "thread-bad-call";
    Free(job->block);
  }
  g_phase = "thread-exit";
  return nullptr;
}

void RunThread(ThreadJob& job) {
  pthread_t t;
  if (pthread_create(&t, nullptr, ThreadBody, &job) != 0) {
    printf("probe case=%s error=pthread_create\n", g_case);
    exit(2);
  }
  pthread_join(t, nullptr);
  g_phase = "after-join";
}

// The block comes from the main thread; a second thread (which has allocated
// a block of its own first) frees it twice.
void DoubleFreeThread(Ctx& ctx, size_t size) {
  ThreadJob job{Malloc(size), size, true, true, nullptr};
  AnnounceBad(job.block);
  RunThread(job);
  ctx.Live(job.warm_block, size);
  ctx.UseSize(size);
}

// The block comes from the main thread; a fresh thread whose only action is
// free(p); free(p) frees it twice.
void DoubleFreeFreshThread(Ctx& ctx, size_t size) {
  ThreadJob job{Malloc(size), size, false, true, nullptr};
  AnnounceBad(job.block);
  RunThread(job);
  ctx.UseSize(size);
}

// A second thread (which has allocated a block of its own first) frees the
// block once, correctly, and exits; then the main thread frees it again.
void DoubleFreeOtherThenOwner(Ctx& ctx, size_t size) {
  ThreadJob job{Malloc(size), size, true, false, nullptr};
  AnnounceBad(job.block);
  RunThread(job);
  g_phase = "bad-call";
  Free(job.block);
  ctx.Live(job.warm_block, size);
  ctx.UseSize(size);
}

// free(p + size/2): a pointer into the middle of a live block.
void FreeInterior(Ctx& ctx, size_t size) {
  char* p = static_cast<char*>(Malloc(size));
  char* q = p + (size / 2 & ~size_t{15});
  AnnounceBad(q);
  g_phase = "bad-call";
  Free(q);
  ctx.Live(p, size);
  ctx.UseSize(size);
}

// free(p + 1)
void FreeMisaligned(Ctx& ctx, size_t size) {
  char* p = static_cast<char*>(Malloc(size));
  AnnounceBad(p + 1);
  g_phase = "bad-call";
  Free(p + 1);
  ctx.Live(p, size);
  ctx.UseSize(size);
}

void FreeStack(Ctx& ctx, size_t) {
  alignas(16) char buf[256];
  memset(Hide(buf), 1, sizeof buf);
  AnnounceBad(buf + 16);
  g_phase = "bad-call";
  Free(buf + 16);
  ctx.UseSize(64);
}

alignas(64) char g_static_buf[4096];

void FreeGlobal(Ctx& ctx, size_t) {
  AnnounceBad(g_static_buf + 64);
  g_phase = "bad-call";
  Free(g_static_buf + 64);
  ctx.UseSize(64);
}

void FreeHigh(Ctx& ctx, size_t) {
  void* p = reinterpret_cast<void*>(uintptr_t{0xffff800000001000});
  AnnounceBad(p);
  g_phase = "bad-call";
  Free(p);
  ctx.UseSize(64);
}

void FreeSmallInt(Ctx& ctx, size_t) {
  void* p = reinterpret_cast<void*>(uintptr_t{16});
  AnnounceBad(p);
  g_phase = "bad-call";
  Free(p);
  ctx.UseSize(64);
}

// p = malloc(64); free(p + 64*k), the last 64-byte step from p that stays in
// p's 4 KiB page (k >= 1; the next page if p ends its page). In a slab
// allocator with a 64-byte class this is a block start of the same class
// that the program was never given (still free, or not even carved yet).
void FreeNeverAllocatedNear(Ctx& ctx, size_t) {
  char* p = static_cast<char*>(Malloc(64));
  const uintptr_t a = reinterpret_cast<uintptr_t>(p);
  const uintptr_t page_end = (a | 4095) + 1;
  size_t k = (page_end - 64 - a) / 64;
  if (k == 0) k = 1;
  char* q = p + 64 * k;
  AnnounceBad(q);
  g_phase = "bad-call";
  Free(q);
  ctx.Live(p, 64);
  ctx.UseSize(64);
}

// p = malloc(64); free(q) where q is the start of the last 64 KiB of the
// 2 MiB-aligned window that holds p (2 MiB further on if that is not above
// p). Allocators that reserve 2 MiB or larger aligned regions have not
// handed this address out yet, and usually not even prepared it.
void FreeNeverAllocatedFar(Ctx& ctx, size_t) {
  char* p = static_cast<char*>(Malloc(64));
  const uintptr_t a = reinterpret_cast<uintptr_t>(p);
  uintptr_t q = (a | (2 * kMiB - 1)) + 1 - 64 * kKiB;
  if (q < a + 64) q += 2 * kMiB;
  AnnounceBad(reinterpret_cast<void*>(q));
  g_phase = "bad-call";
  Free(reinterpret_cast<void*>(q));
  ctx.Live(p, 64);
  ctx.UseSize(64);
}

// Records what realloc(old_ptr, size) returned; a returned heap block stays
// live for the check (old_ptr returned for a stack address is not checked:
// that frame is gone by then).
void NoteRealloc(Ctx& ctx, void* old_ptr, bool old_on_heap, void* q, size_t size) {
  if (q == nullptr) {
    snprintf(ctx.ret, sizeof ctx.ret, "NULL");
  } else if (q == old_ptr) {
    snprintf(ctx.ret, sizeof ctx.ret, "same");
    if (old_on_heap) ctx.Live(q, size);
  } else {
    snprintf(ctx.ret, sizeof ctx.ret, "new");
    ctx.Live(q, size);
  }
}

// realloc(p + 32, 128) with p = malloc(64)
void ReallocInterior(Ctx& ctx, size_t) {
  char* p = static_cast<char*>(Malloc(64));
  memset(p, 7, 64);
  AnnounceBad(p + 32);
  g_phase = "bad-call";
  void* q = Hide(realloc(Hide(p + 32), 128));
  g_phase = "after-bad-call";
  NoteRealloc(ctx, p + 32, true, q, 128);
  ctx.Live(p, 64);
  ctx.UseSize(64);
  ctx.UseSize(128);
}

// realloc(stack buffer, 128)
void ReallocStack(Ctx& ctx, size_t) {
  alignas(16) char buf[256];
  memset(Hide(buf), 7, sizeof buf);
  AnnounceBad(buf + 16);
  g_phase = "bad-call";
  void* q = Hide(realloc(Hide(buf + 16), 128));
  g_phase = "after-bad-call";
  NoteRealloc(ctx, buf + 16, false, q, 128);
  ctx.UseSize(128);
}

// malloc_usable_size(p + 32) with p = malloc(64)
void UsableSizeInterior(Ctx& ctx, size_t) {
  char* p = static_cast<char*>(Malloc(64));
  AnnounceBad(p + 32);
  g_phase = "bad-call";
  const size_t n = malloc_usable_size(Hide(p + 32));
  snprintf(ctx.ret, sizeof ctx.ret, "%zu", n);
  ctx.Live(p, 64);
  ctx.UseSize(64);
}

// malloc_usable_size(stack buffer)
void UsableSizeStack(Ctx& ctx, size_t) {
  alignas(16) char buf[256];
  memset(Hide(buf), 7, sizeof buf);
  AnnounceBad(buf + 16);
  g_phase = "bad-call";
  const size_t n = malloc_usable_size(Hide(buf + 16));
  snprintf(ctx.ret, sizeof ctx.ret, "%zu", n);
  ctx.UseSize(64);
}

// Writes `bytes` bytes of 'A' just past the block's usable end (past what
// malloc_usable_size says, so past any slack the allocator rounded up to),
// then frees the block.
void Overflow(Ctx& ctx, size_t size, size_t bytes) {
  char* p = static_cast<char*>(Malloc(size));
  size_t usable = malloc_usable_size(p);
  if (usable < size) usable = size;
  AnnounceBad(p);
  g_phase = "bad-write";
  memset(Hide(p + usable), 'A', bytes);
  g_phase = "free-overflowed";
  Free(p);
  ctx.UseSize(size);
}
void Overflow1(Ctx& ctx, size_t size) { Overflow(ctx, size, 1); }
void Overflow16(Ctx& ctx, size_t size) { Overflow(ctx, size, 16); }

// free(p); memset(p, 'A', size); then malloc(size) four times (kept live).
void UseAfterFree(Ctx& ctx, size_t size) {
  char* p = static_cast<char*>(Malloc(size));
  AnnounceBad(p);
  g_phase = "valid-free";
  Free(p);
  g_phase = "bad-write";
  memset(Hide(p), 'A', size);
  g_phase = "later-malloc";
  for (int i = 0; i < 4; ++i) ctx.Live(Malloc(size), size);
  ctx.UseSize(size);
}

// ---- the case table -----------------------------------------------------------

struct Kind {
  const char* prefix;
  void (*run)(Ctx&, size_t);
  const char* what;
  const size_t* sizes;  // nullptr: no size in the name
};

constexpr size_t kAllSizes[] = {16, 100, kKiB, 8 * kKiB, 64 * kKiB, 256 * kKiB, 3 * kMiB, 0};
constexpr size_t kTierSizes[] = {16, 8 * kKiB, 256 * kKiB, 3 * kMiB, 0};
constexpr size_t kInteriorSizes[] = {64, 8 * kKiB, 256 * kKiB, 3 * kMiB, 0};
constexpr size_t kMisalignedSizes[] = {64, 3 * kMiB, 0};
constexpr size_t kOverflowSizes[] = {16, 8 * kKiB, 0};
constexpr size_t kUafSizes[] = {16, 8 * kKiB, 3 * kMiB, 0};

const Kind kKinds[] = {
    {"double_free", DoubleFree, "a = malloc(n); free(a); free(a)", kAllSizes},
    {"double_free_aba", DoubleFreeAba, "a = malloc(n); b = malloc(n); free(a); free(b); free(a)", kAllSizes},
    {"double_free_thread", DoubleFreeThread,
     "a = malloc(n) on main; a second thread mallocs its own block, then free(a); free(a)", kTierSizes},
    {"double_free_fresh_thread", DoubleFreeFreshThread,
     "a = malloc(n) on main; a new thread whose only calls are free(a); free(a)", kTierSizes},
    {"double_free_other_then_owner", DoubleFreeOtherThenOwner,
     "a = malloc(n) on main; a second thread mallocs its own block, frees a once and exits; then main "
     "frees a again",
     kTierSizes},
    {"free_interior", FreeInterior, "p = malloc(n); free(p + n/2) (p stays live)", kInteriorSizes},
    {"free_misaligned", FreeMisaligned, "p = malloc(n); free(p + 1) (p stays live)", kMisalignedSizes},
    {"free_stack", FreeStack, "free(address inside a stack array)", nullptr},
    {"free_global", FreeGlobal, "free(address inside a static array)", nullptr},
    {"free_high_address", FreeHigh, "free((void*)0xffff800000001000) (above 2^47, kernel half)", nullptr},
    {"free_small_int", FreeSmallInt, "free((void*)16)", nullptr},
    {"free_never_allocated_near", FreeNeverAllocatedNear,
     "p = malloc(64); free(p + 64*k), the last 64-byte step from p inside p's 4 KiB page", nullptr},
    {"free_never_allocated_far", FreeNeverAllocatedFar,
     "p = malloc(64); free(start of the last 64 KiB of the 2 MiB-aligned window holding p)", nullptr},
    {"realloc_interior", ReallocInterior, "p = malloc(64); realloc(p + 32, 128)", nullptr},
    {"realloc_stack", ReallocStack, "realloc(address inside a stack array, 128)", nullptr},
    {"usable_size_interior", UsableSizeInterior, "p = malloc(64); malloc_usable_size(p + 32)", nullptr},
    {"usable_size_stack", UsableSizeStack, "malloc_usable_size(address inside a stack array)", nullptr},
    {"overflow_1", Overflow1, "p = malloc(n); write 1 byte past malloc_usable_size(p); free(p)", kOverflowSizes},
    {"overflow_16", Overflow16, "p = malloc(n); write 16 bytes past malloc_usable_size(p); free(p)",
     kOverflowSizes},
    {"use_after_free", UseAfterFree, "p = malloc(n); free(p); memset(p, 'A', n); malloc(n) x 4", kUafSizes},
};

void SizeName(size_t n, char* out, size_t cap) {
  if (n >= kMiB && n % kMiB == 0) {
    snprintf(out, cap, "%zum", n / kMiB);
  } else if (n >= kKiB && n % kKiB == 0) {
    snprintf(out, cap, "%zuk", n / kKiB);
  } else {
    snprintf(out, cap, "%zu", n);
  }
}

// Calls fn(name, kind, size) for every case, in table order.
template <class Fn>
void ForEachCase(Fn fn) {
  char name[96];
  for (const Kind& k : kKinds) {
    if (k.sizes == nullptr) {
      fn(k.prefix, k, size_t{0});
      continue;
    }
    for (const size_t* s = k.sizes; *s != 0; ++s) {
      char sz[24];
      SizeName(*s, sz, sizeof sz);
      snprintf(name, sizeof name, "%s_%s", k.prefix, sz);
      fn(static_cast<const char*>(name), k, *s);
    }
  }
}

// ---- the check ------------------------------------------------------------------

uint8_t PatternByte(int i) { return static_cast<uint8_t>(i * 131 + 7) | 1; }

// Writes block i's pattern: every byte up to 64 KiB; above, one 8-byte word
// per 4 KiB page and the last word.
void WritePattern(const Block& b, int i) {
  const uint8_t v = PatternByte(i);
  if (b.size <= 64 * kKiB) {
    memset(b.p, v, b.size);
    return;
  }
  uint64_t word;
  memset(&word, v, sizeof word);
  for (size_t off = 0; off + 8 <= b.size; off += 4096) memcpy(b.p + off, &word, 8);
  memcpy(b.p + b.size - 8, &word, 8);
}

bool ReadsBack(const Block& b, int i) {
  const uint8_t v = PatternByte(i);
  if (b.size <= 64 * kKiB) {
    for (size_t j = 0; j < b.size; ++j) {
      if (static_cast<uint8_t>(b.p[j]) != v) return false;
    }
    return true;
  }
  uint64_t word, got;
  memset(&word, v, sizeof word);
  for (size_t off = 0; off + 8 <= b.size; off += 4096) {
    memcpy(&got, b.p + off, 8);
    if (got != word) return false;
  }
  memcpy(&got, b.p + b.size - 8, 8);
  return got == word;
}

int Check(Ctx& ctx) {
  g_phase = "later-malloc";
  int nulls = 0;
  for (int s = 0; s < ctx.num_sizes; ++s) {
    const size_t size = ctx.sizes[s];
    size_t n = 64 * kMiB / size;
    n = std::max<size_t>(8, std::min<size_t>(600, n));
    for (size_t i = 0; i < n && g_num_blocks < kMaxBlocks; ++i) {
      void* p = Malloc(size);
      if (p == nullptr) {
        ++nulls;
        continue;
      }
      g_blocks[g_num_blocks++] = {static_cast<char*>(p), size};
    }
  }

  // Duplicates and overlaps, on a sorted copy (the patterns use the
  // allocation order).
  g_phase = "check";
  static Block sorted[kMaxBlocks];
  std::copy(g_blocks, g_blocks + g_num_blocks, sorted);
  std::sort(sorted, sorted + g_num_blocks, [](const Block& a, const Block& b) { return a.p < b.p; });
  int duplicates = 0, overlaps = 0;
  const char* covered_to = nullptr;  // end of the blocks seen so far
  for (int i = 0; i < g_num_blocks; ++i) {
    if (i > 0 && sorted[i].p == sorted[i - 1].p) {
      ++duplicates;
    } else if (covered_to != nullptr && sorted[i].p < covered_to) {
      ++overlaps;
    }
    if (covered_to == nullptr || sorted[i].p + sorted[i].size > covered_to) covered_to = sorted[i].p + sorted[i].size;
  }
  printf("probe case=%s phase=checked duplicates=%d overlaps=%d nulls=%d\n", g_case, duplicates, overlaps, nulls);
  fflush(stdout);

  g_phase = "check-use";
  for (int i = 0; i < g_num_blocks; ++i) WritePattern(g_blocks[i], i);
  g_phase = "check-use";
  int corrupt = 0;
  for (int i = 0; i < g_num_blocks; ++i) {
    if (!ReadsBack(g_blocks[i], i)) ++corrupt;
  }
  printf("probe case=%s outcome=survived duplicates=%d overlaps=%d corrupt=%d nulls=%d ret=%s\n", g_case, duplicates,
         overlaps, corrupt, nulls, ctx.ret);
  fflush(stdout);
  g_phase = "exit";
  return 0;
}

int Usage() {
  fprintf(stderr, "usage: bad_input_probe --list | --describe | CASE\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) return Usage();
  const char* arg = argv[1];
  if (strcmp(arg, "--list") == 0 || strcmp(arg, "--describe") == 0) {
    const bool describe = arg[2] == 'd';
    ForEachCase([&](const char* name, const Kind& k, size_t size) {
      if (!describe) {
        printf("%s\n", name);
      } else if (size == 0) {
        printf("%s\t%s\n", name, k.what);
      } else {
        printf("%s\t%s (n = %zu)\n", name, k.what, size);
      }
    });
    return 0;
  }

  static char case_name[96];
  const Kind* kind = nullptr;
  size_t size = 0;
  ForEachCase([&](const char* name, const Kind& k, size_t s) {
    if (kind == nullptr && strcmp(name, arg) == 0) {
      snprintf(case_name, sizeof case_name, "%s", name);
      kind = &k;
      size = s;
    }
  });
  if (kind == nullptr) {
    fprintf(stderr, "bad_input_probe: unknown case '%s' (see --list)\n", arg);
    return 2;
  }
  g_case = case_name;
  InstallHandlers();
  Ctx ctx;
  kind->run(ctx, size);
  return Check(ctx);
}
