// The phase workload: a program whose behaviour changes while it runs, as a
// batch job's does between stages. Each thread cycles through four phases,
// switching on the clock, and in each one replaces random blocks of its live
// set as the slot workloads do (slots.cc), with the phase's size range and
// number of live blocks:
//
//   phase   sizes          live blocks        length          (defaults)
//   build-A 2 - 8 KiB      --slots            1.0 x phase_ms  8192 blocks, ~40 MiB
//   lull    1 - 2 KiB      --slots / 16       1.5 x phase_ms    512 blocks, <1 MiB
//   build-C 12 - 32 KiB    --slots / 4        1.0 x phase_ms  2048 blocks, ~44 MiB
//   lull    1 - 2 KiB      --slots / 16       1.5 x phase_ms
//
// A build phase grows a large live set in one group of Mid classes; the lull
// after it frees nearly all of it and allocates only small blocks; the next
// build phase uses other classes. An allocator that keeps the emptied pages
// of a class for that class alone carries build-A's memory into build-C's
// peak; one that hands them back (or on to other classes) does not. The
// live set shrinks at once when a phase starts (the slots beyond the new count
// are freed) and grows as the replacements fill empty slots.
//
// --phase_ms (default 3000) sets the lengths: one cycle takes 5 x phase_ms,
// 15 s by default, which is what the `phase` preset runs (`phase_short`: 1000,
// lulls of 1.5 s). --min_size and --max_size are not used.
//
// The RSS is sampled every 50 ms (rss_sampler.h). quiet_rss_kib is its mean
// over the last 40% of every lull: what the program holds once it has been
// quiet for a while (an allocator that gives memory back by time has done so
// by then). --rss_trace=FILE writes the samples, one "ms rss_kib phase" line
// each. Each run also prints the rate in each phase to stderr ("phase
// rates: build-A ... lull-2", the threads' rates summed): where an allocator
// gains or loses.
#include <array>
#include <cstdio>
#include <thread>
#include <vector>

#include "bench/workload/common.h"
#include "bench/workload/rss_sampler.h"

namespace hakmem_bench {
namespace {

struct Phase {
  size_t min_size;
  size_t max_size;
  size_t slots_div;    // live blocks = --slots / slots_div
  uint32_t length_x2;  // length in half phase_ms units
  bool lull;           // a quiet phase (quiet_rss_kib samples these)
};

constexpr Phase kPhases[] = {
    {2 << 10, 8 << 10, 1, 2, false},
    {1 << 10, 2 << 10, 16, 3, true},
    {12 << 10, 32 << 10, 4, 2, false},
    {1 << 10, 2 << 10, 16, 3, true},
};
constexpr int kNumPhases = sizeof(kPhases) / sizeof(kPhases[0]);
constexpr const char* kPhaseNames[kNumPhases] = {"build-A", "lull-1", "build-C", "lull-2"};

uint64_t CycleHalves() {
  uint64_t n = 0;
  for (const Phase& p : kPhases) n += p.length_x2;
  return n;
}

struct PhasePosition {
  int phase;
  double progress;  // 0 at the phase's start .. 1 at its end
};

// Where the schedule is `ms` milliseconds into the run.
PhasePosition PositionAt(double ms, uint64_t phase_ms) {
  const double half = phase_ms / 2 > 0 ? static_cast<double>(phase_ms / 2) : 1.0;
  const double cycle = half * static_cast<double>(CycleHalves());
  double t = ms - cycle * static_cast<double>(static_cast<uint64_t>(ms / cycle));
  for (int i = 0; i < kNumPhases; ++i) {
    const double length = half * kPhases[i].length_x2;
    if (t < length) return {i, t / length};
    t -= length;
  }
  return {0, 0};
}

// The phase in force `ms` milliseconds into the run.
int PhaseAt(uint64_t ms, uint64_t phase_ms) {
  return PositionAt(static_cast<double>(ms), phase_ms).phase;
}

size_t SlotsOf(const Config& cfg, int phase) {
  const size_t n = cfg.slots / kPhases[phase].slots_div;
  return n > 0 ? n : 1;
}

// Per phase of the schedule, what one thread did in it (summed over cycles).
struct PhaseTally {
  uint64_t ops = 0;
  double ms = 0;
};
using PhaseTallies = std::array<PhaseTally, kNumPhases>;

void PhaseThread(const Config& cfg, int index, RunControl* ctl, ThreadResult* result,
                 PhaseTallies* tallies) {
  Rng rng(cfg.seed, static_cast<uint64_t>(index));
  uint64_t errors = 0;
  // One Config per phase (the size range NewBlock draws from), made before
  // the clock starts.
  std::vector<Config> per_phase(kNumPhases, cfg);
  for (int i = 0; i < kNumPhases; ++i) {
    per_phase[i].min_size = kPhases[i].min_size;
    per_phase[i].max_size = kPhases[i].max_size;
  }
  auto* blocks = static_cast<Block*>(calloc(cfg.slots, sizeof(Block)));
  int phase = 0;
  size_t live = SlotsOf(cfg, phase);
  for (size_t i = 0; i < live; ++i) blocks[i] = NewBlock(rng, per_phase[phase], &errors);

  ctl->WaitForGo();
  uint64_t ops = 0;
  uint64_t ops_at_look = 0;
  double ms_at_look = 0;
  for (;;) {
    if (cfg.ops > 0 ? ops >= cfg.ops : ctl->stop.load(std::memory_order_relaxed)) break;
    if ((ops & 255) == 0) {
      const double now_ms = SecondsBetween(ctl->start, Clock::now()) * 1000;
      // What was done since the last look counts for the phase then in force.
      (*tallies)[phase].ops += ops - ops_at_look;
      (*tallies)[phase].ms += now_ms - ms_at_look;
      ops_at_look = ops;
      ms_at_look = now_ms;
      const uint64_t ms = static_cast<uint64_t>(now_ms);
      const int now = PhaseAt(ms, cfg.phase_ms);
      if (now != phase) {
        phase = now;
        const size_t want = SlotsOf(cfg, phase);
        for (size_t i = want; i < live; ++i) {  // the live set shrinks at once
          FreeBlock(blocks[i], &errors);
          blocks[i] = Block();
        }
        live = want;  // and grows as replacements fill the empty slots
      }
    }
    Replace(blocks[rng.Below(live)], rng, per_phase[phase], &errors);
    ++ops;
  }
  FinishSlots(blocks, cfg.slots, ops, errors, result);
}

// Mean RSS of the samples in the last 40% of a lull; 0 if there is none.
uint64_t QuietRssKib(const std::vector<RssSample>& samples, uint64_t phase_ms) {
  uint64_t sum = 0;
  uint64_t n = 0;
  for (const RssSample& s : samples) {
    const PhasePosition at = PositionAt(s.ms, phase_ms);
    if (kPhases[at.phase].lull && at.progress >= 0.6) {
      sum += s.rss_kib;
      ++n;
    }
  }
  return n > 0 ? sum / n : 0;
}

void WriteTrace(const std::vector<RssSample>& samples, const Config& cfg) {
  FILE* f = fopen(cfg.rss_trace.c_str(), "w");
  if (f == nullptr) {
    fprintf(stderr, "phase: cannot write --rss_trace=%s\n", cfg.rss_trace.c_str());
    return;
  }
  for (const RssSample& s : samples) {
    fprintf(f, "%.1f %llu %d\n", s.ms, static_cast<unsigned long long>(s.rss_kib),
            PositionAt(s.ms, cfg.phase_ms).phase);
  }
  fclose(f);
}

}  // namespace

Outcome RunPhases(const Config& cfg) {
  RssSampler sampler;
  const double seconds = cfg.ops > 0 ? 600 : cfg.seconds;
  std::vector<PhaseTallies> tallies(cfg.threads);
  Outcome out = RunIndependentThreads(
      cfg,
      [&](const Config& c, int i, RunControl* ctl, ThreadResult* r) {
        PhaseThread(c, i, ctl, r, &tallies[i]);
      },
      [&](const RunControl& ctl) { sampler.Start(&ctl, seconds); }, [&] { sampler.Stop(); });
  // The rate in each phase (the threads' summed) on stderr, as glibc_simple's
  // per-combination figures: where an allocator gains or loses.
  fprintf(stderr, "phase rates:");
  for (int i = 0; i < kNumPhases; ++i) {
    double rate = 0;
    for (const PhaseTallies& t : tallies) rate += t[i].ms > 0 ? t[i].ops / t[i].ms * 1e3 : 0;
    fprintf(stderr, "  %s %.2f Mops/s", kPhaseNames[i], rate / 1e6);
  }
  fprintf(stderr, "\n");
  out.quiet_rss_kib = QuietRssKib(sampler.samples(), cfg.phase_ms);
  if (!cfg.rss_trace.empty()) WriteTrace(sampler.samples(), cfg);
  return out;
}

}  // namespace hakmem_bench
