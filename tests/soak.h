// The soak: hakmem's release gate ("no crashes in a 60-second stress test with 16
// threads"), on the internal API (core/hakmem.h) so that the same code runs in the
// plain build and under ASan and TSan.
//
// `threads` seats each hold 64 blocks, 8 B - 4 MiB (most below 1 KiB, a good share
// 1-64 KiB, some 64 KiB - 1 MiB, a few 1-4 MiB), allocated with hak_alloc,
// hak_calloc (checked zeroed) and hak_alloc_aligned (16 B - 64 KiB, a few up to
// 2 MiB; checked aligned), resized with hak_realloc (contents checked), passed
// between threads through a shared exchange array of atomic slots and freed by
// whoever holds them last. A seat's thread retires after a random lifetime: it
// frees half its blocks, leaves the rest to the new thread that takes the seat
// over, and exits. The controller calls hak_trim now and then, samples RSS every
// 100 ms, prints a line every 10 s and fails the run on any content, alignment,
// zeroing or usable-size error, on an invalid free reported by hakmem, and when
// RSS grows for the same live set (the rule: soak_rss.h). Short runs scale the
// timings. Files: soak_blocks.h (sizes, slots, patterns), soak_rss.h (the RSS
// rule), soak.cc (workers, controller), soak_main.cc and soak_test.cc.
#ifndef HAKMEM_TESTS_SOAK_H_
#define HAKMEM_TESTS_SOAK_H_

#include <cstddef>
#include <cstdint>
#include <cstdio>

namespace hakmem_test {

struct SoakConfig {
  int threads = 16;   // seats; each seat's thread is replaced as it retires
  double seconds = 60;
  uint64_t seed = 1;  // per-thread random streams and the block patterns
  FILE* out = stdout;  // progress lines; errors go to stderr
};

struct SoakResult {
  uint64_t ops = 0;
  uint64_t threads_started = 0;
  uint64_t errors = 0;         // content, alignment, zeroing, usable size, NULL
  uint64_t invalid_frees = 0;  // hakmem's count: our frees are all valid
  bool rss_grew = false;
  size_t rss_baseline = 0;  // max RSS in the baseline window, bytes
  size_t rss_max_later = 0;  // max RSS after it
  bool ok() const { return errors == 0 && invalid_frees == 0 && !rss_grew; }
};

SoakResult RunSoak(const SoakConfig& cfg);

}  // namespace hakmem_test

#endif  // HAKMEM_TESTS_SOAK_H_
