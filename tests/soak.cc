// The soak's workers and controller (the workload is described in tests/soak.h,
// block contents in tests/soak_blocks.h, the RSS rule in tests/soak_rss.h).
#include "tests/soak.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cinttypes>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "core/hakmem.h"
#include "core/stats.h"
#include "tests/soak_blocks.h"
#include "tests/resident_memory.h"
#include "tests/soak_rss.h"

namespace hakmem_test {
namespace {

using namespace soak;  // NOLINT: the soak's own helpers
using Clock = std::chrono::steady_clock;

// Paced by operations, not by the clock: threads retire and hak_trim runs after
// numbers of operations derived from a nominal rate (plain build, 16 threads, 2
// cores: ~400k/s), so a loaded machine runs the same workload more slowly, not
// another one (fewer operations between trims: emptier caches, and the RSS rule
// would measure the load).
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool kSanitizer = true;
constexpr double kNominalOpsPerSecond = 15e3;
#else
constexpr bool kSanitizer = false;
constexpr double kNominalOpsPerSecond = 400e3;
#endif

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }
double MiB(double bytes) { return bytes / static_cast<double>(kMiB); }

using hakmem::test::ResidentBytes;

struct alignas(64) Seat {
  std::vector<void*> slots = std::vector<void*>(kSlots, nullptr);
  std::thread thread;
  int generation = 0;
  std::atomic<uint64_t> ops{0};
  std::atomic<int64_t> live{0};  // requested bytes: + by allocations, - by frees
};

class Soak {
 public:
  explicit Soak(const SoakConfig& cfg)
      : cfg_(cfg), seats_(static_cast<size_t>(cfg.threads)), exchange_(kSlots * kExchangeWays) {}
  SoakResult Run();

 private:
  friend class Worker;
  void Start(int seat);
  void Report(const char* label, double t);
  void RssVerdict();
  uint64_t TotalOps() { return Sum(&Seat::ops); }
  int64_t LiveBytes() { return Sum(&Seat::live); }
  template <typename T>
  T Sum(std::atomic<T> Seat::*field) {
    T sum = 0;
    for (Seat& seat : seats_) sum += (seat.*field).load(std::memory_order_relaxed);
    return sum;
  }

  const SoakConfig cfg_;
  std::vector<Seat> seats_;
  std::vector<std::atomic<void*>> exchange_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> errors_{0};
  std::mutex mu_;
  std::condition_variable retired_cv_;
  std::vector<int> retired_;  // seats whose thread has finished (under mu_)
  std::vector<RssSample> samples_;  // every 100 ms
  uint64_t last_ops_ = 0;
  double last_t_ = 0;
  SoakResult result_;
};

// One thread in one seat, or the controller's final sweep (seat -1).
class Worker {
 public:
  Worker(Soak& s, int seat, int generation)
      : s_(s), seat_(seat), gen_(generation),
        rng_(Mix(s.cfg_.seed ^ Mix((uint64_t(seat + 1) << 32) + uint64_t(generation)))) {}

  void Run() {
    Seat& seat = s_.seats_[seat_];
    // Lives 0.25-2.5 nominal seconds (a 60 s run: ~700 threads), less in short runs.
    const double life_s = std::min(0.25, s_.cfg_.seconds / 240) * (1 + rng_.Below(9001) / 1000.0);
    const double life = std::max(256.0, life_s * kNominalOpsPerSecond / s_.cfg_.threads);
    for (double done = 0; done < life; done += 128) {
      if (s_.stop_.load(std::memory_order_relaxed)) return;  // the sweep frees the rest
      for (int i = 0; i < 128; ++i) Step(seat, static_cast<int>(rng_.Below(kSlots)));
      seat.ops.fetch_add(128, std::memory_order_relaxed);
    }
    // Retire: free half the blocks, hand the rest to the seat's next thread.
    what_ = "retire";
    for (void*& p : seat.slots) {
      if (p != nullptr && rng_.Below(2) == 0) Release(std::exchange(p, nullptr), &seat);
    }
  }

  // Frees (checked) every block left in a seat and in the exchange array.
  void Sweep() {
    what_ = "final sweep";
    for (Seat& seat : s_.seats_) {
      for (void*& p : seat.slots) Release(std::exchange(p, nullptr), nullptr);
    }
    for (auto& x : s_.exchange_) Release(x.exchange(nullptr), nullptr);
  }

 private:
  void Step(Seat& seat, int slot) {
    ++op_;
    void*& p = seat.slots[slot];
    const uint64_t r = p == nullptr ? 0 : rng_.Below(100);
    if (r < 40) {  // allocate into an empty slot, or replace
      what_ = "free";
      Release(std::exchange(p, nullptr), &seat);
      what_ = "alloc";
      p = NewBlock(HomeBand(slot), &seat);
    } else if (r < 55) {
      Realloc(p, HomeBand(slot), &seat);
    } else if (r < 80) {  // swap with whatever another thread left in the exchange
      what_ = "exchange";
      auto& x = s_.exchange_[slot * kExchangeWays + rng_.Below(kExchangeWays)];
      p = x.exchange(p, std::memory_order_acq_rel);
      if (p != nullptr && !Check(p)) p = nullptr;  // leaked: never free a corrupt block
    } else if (r < 90) {  // free, refilled when the slot is next picked
      what_ = "free";
      Release(std::exchange(p, nullptr), &seat);
    } else {
      what_ = "check";
      if (!Check(p)) p = nullptr;
    }
  }

  void* NewBlock(Band band, Seat* seat) {
    size_t size = PickSize(rng_, band);
    const uint64_t kind = rng_.Below(100);
    void* p;
    if (kind < 10) {  // calloc(n, size / n)
      const size_t n = 1 + rng_.Below(std::min<size_t>(8, size / kMinSize));
      size = size / n * n;
      p = hakmem::hak_calloc(n, size / n);
      const Mismatch m = p != nullptr ? CheckZero(p, size) : Mismatch{};
      if (m.found) Fail("calloc not zeroed", p, size, m);
    } else if (kind < 22) {  // aligned: 16 B - 64 KiB, one in 32 up to 2 MiB
      const size_t align = rng_.Below(32) == 0 ? size_t{1} << (17 + rng_.Below(5))
                                               : size_t{16} << rng_.Below(13);
      p = hakmem::hak_alloc_aligned(align, size);
      if (p != nullptr && reinterpret_cast<uintptr_t>(p) % align != 0) {
        Fail("misaligned", p, size, Mismatch{true, 0, align, reinterpret_cast<uintptr_t>(p) % align});
      }
    } else {
      p = hakmem::hak_alloc(size);
    }
    if (p == nullptr) {
      Fail("allocation returned NULL", nullptr, size, Mismatch{});
      return nullptr;
    }
    FillBlock(p, size, s_.cfg_.seed);
    if (seat != nullptr) seat->live.fetch_add(static_cast<int64_t>(size), std::memory_order_relaxed);
    return p;
  }

  // Checks the block at p; returns its size, or 0 after reporting a failure.
  size_t Check(const void* p) {
    const size_t size = static_cast<const uint64_t*>(p)[0] ^ SizeTag(s_.cfg_.seed, p);
    if (size < kMinSize || size > kMaxSize) {
      Fail("word 0 (size tag) clobbered", p, 0, Mismatch{true, 0, 0, size});
      return 0;
    }
    if (const size_t usable = hakmem::hak_usable_size(p); usable < size) {
      Fail("usable size below the request", p, size, Mismatch{true, 0, size, usable});
      return 0;
    }
    if (const Mismatch m = CheckPattern(p, p, size, size, s_.cfg_.seed); m.found) {
      Fail("content", p, size, m);
      return 0;
    }
    return size;
  }

  void Release(void* p, Seat* seat) {
    if (p == nullptr) return;
    const size_t size = Check(p);
    if (size == 0) return;  // reported; a corrupt block is leaked, not freed
    hakmem::hak_free(p);
    if (seat != nullptr) seat->live.fetch_sub(static_cast<int64_t>(size), std::memory_order_relaxed);
  }

  // Grows or shrinks within the slot's band, or (one in four) into a neighbour.
  void Realloc(void*& p, Band home, Seat* seat) {
    what_ = "realloc";
    const size_t old_size = Check(p);
    if (old_size == 0) return void(p = nullptr);  // reported, leaked
    const Band band = rng_.Below(4) != 0 ? home : home == kTiny ? kMid : home == kLarge ? kL25
                                                : Band(home + (rng_.Below(2) ? 1 : -1));
    const size_t size = PickSize(rng_, band);
    const void* const was = p;
    void* q = hakmem::hak_realloc(p, size);
    if (q == nullptr) {
      Fail("realloc returned NULL", p, size, Mismatch{});
      return;  // p is untouched
    }
    p = q;
    if (const Mismatch m = CheckPattern(q, was, old_size, std::min(old_size, size), s_.cfg_.seed);
        m.found) {
      Fail(size > old_size ? "realloc (grow) lost contents" : "realloc (shrink) lost contents", q,
           size, m);
      p = nullptr;
      return;
    }
    FillBlock(q, size, s_.cfg_.seed);
    seat->live.fetch_add(static_cast<int64_t>(size) - static_cast<int64_t>(old_size),
                         std::memory_order_relaxed);
  }

  void Fail(const char* what, const void* p, size_t size, const Mismatch& m) {
    const uint64_t n = s_.errors_.fetch_add(1) + 1;
    s_.stop_.store(true);  // stop at the first error: the report matters, not the run
    if (n > 20) return;
    std::fprintf(stderr,
                 "soak: FAILED %s: seed %" PRIu64 " seat %d generation %d op %" PRIu64
                 " (%s): block %p size %zu usable %zu; at byte %zu want %#" PRIx64 " got %#" PRIx64
                 "\n",
                 what, s_.cfg_.seed, seat_, gen_, op_, what_, p, size,
                 p != nullptr ? hakmem::hak_usable_size(p) : 0, m.offset, m.want, m.got);
  }

  Soak& s_;
  const int seat_, gen_;
  Rng rng_;
  uint64_t op_ = 0;
  const char* what_ = "";
};

void Soak::Start(int seat) {
  const int gen = seats_[seat].generation++;
  ++result_.threads_started;
  seats_[seat].thread = std::thread([this, seat, gen] {
    Worker(*this, seat, gen).Run();
    std::lock_guard<std::mutex> lock(mu_);
    retired_.push_back(seat);
    retired_cv_.notify_one();
  });
}

void Soak::Report(const char* label, double t) {
  const uint64_t ops = TotalOps();
  const RssSample& last = samples_.back();
  hakmem::Stats st;
  hakmem::GetStats(&st);
  std::fprintf(cfg_.out,
               "soak: %-5s t=%5.1fs ops=%" PRIu64 " ops/s=%.0f rss=%.1fMiB live=%.1fMiB (hakmem "
               "mapped=%.1fMiB large-cached=%.1fMiB) threads=%" PRIu64 " errors=%" PRIu64 "\n",
               label, t, ops, static_cast<double>(ops - last_ops_) / std::max(t - last_t_, 1e-3),
               MiB(last.rss), MiB(last.live), MiB(st.bytes_mapped), MiB(st.bytes_large_cached),
               result_.threads_started, errors_.load());
  std::fflush(cfg_.out);
  last_ops_ = ops;
  last_t_ = t;
  result_.ops = ops;
}

// The rule is in soak_rss.h. Under ASan and TSan RSS is mostly the sanitizer's
// shadow and bookkeeping, which grow with every address touched: the verdict is
// printed, not judged.
void Soak::RssVerdict() {
  const soak::RssVerdict v = ApplyRssRule(samples_, cfg_.seconds, kNominalOpsPerSecond);
  result_.rss_baseline = v.base_rss;
  result_.rss_max_later = v.later_rss;
  result_.rss_grew = v.grew && !kSanitizer;
  if (!v.judged) {
    std::fprintf(cfg_.out, "soak: rss   too few samples for the RSS rule\n");
    return;
  }
  std::fprintf(cfg_.out,
               "soak: rss   baseline (max over %.1f-%.1fs) rss=%.1fMiB overhead=%.1fMiB; after: "
               "max rss=%.1fMiB, max overhead=%.1fMiB at %.1fs; limit (+%.0f%% of rss) "
               "%.1fMiB: %s\n",
               v.base_from, v.base_to, MiB(v.base_rss), MiB(v.base_over), MiB(v.later_rss),
               MiB(v.later_over), v.later_over_t, v.allowance * 100, MiB(v.limit),
               v.grew ? (kSanitizer ? "grew (not judged under a sanitizer)" : "GREW") : "ok");
}

SoakResult Soak::Run() {
  std::fprintf(cfg_.out, "soak: %d threads, %.0f s, seed %" PRIu64 "\n", cfg_.threads,
               cfg_.seconds, cfg_.seed);
  const auto sample_every = std::chrono::duration<double>(std::min(0.1, cfg_.seconds / 50));
  const double report_every = cfg_.seconds >= 30 ? 10 : cfg_.seconds / 5;
  const double trim_every = kNominalOpsPerSecond * cfg_.seconds / 20;  // operations
  const auto t0 = Clock::now();
  for (int i = 0; i < cfg_.threads; ++i) Start(i);
  auto next_sample = t0;
  double next_report = report_every, next_trim = trim_every, t = 0;
  while (t < cfg_.seconds && errors_.load() == 0) {
    std::vector<int> retired;
    {
      std::unique_lock<std::mutex> lock(mu_);
      retired_cv_.wait_until(lock, next_sample, [&] { return !retired_.empty(); });
      retired.swap(retired_);
    }
    for (int seat : retired) {
      seats_[seat].thread.join();
      Start(seat);
    }
    t = Seconds(Clock::now() - t0);
    if (Clock::now() >= next_sample) {
      samples_.push_back({t, TotalOps(), ResidentBytes(), LiveBytes()});
      next_sample += std::chrono::duration_cast<Clock::duration>(sample_every);
      if (next_sample < Clock::now()) next_sample = Clock::now();  // fell behind: no burst
    }
    if (static_cast<double>(TotalOps()) >= next_trim) {
      hakmem::hak_trim(0);
      next_trim += trim_every;
    }
    if (t >= next_report && t < cfg_.seconds && !samples_.empty()) {
      Report("", t);
      next_report += report_every;
    }
  }
  stop_.store(true);
  for (Seat& seat : seats_) seat.thread.join();
  t = Seconds(Clock::now() - t0);
  samples_.push_back({t, TotalOps(), ResidentBytes(), LiveBytes()});
  last_ops_ = 0, last_t_ = 0;
  Report("end", t);  // ops/s over the whole run
  RssVerdict();
  Worker(*this, -1, 0).Sweep();
  hakmem::hak_trim(0);
  hakmem::Stats st;
  hakmem::GetStats(&st);
  result_.errors = errors_.load();
  result_.invalid_frees = st.invalid_frees;
  std::fprintf(cfg_.out,
               "soak: after the sweep and hak_trim: rss=%.1fMiB; hakmem: %" PRIu64
               " thread heaps set up, %" PRIu64 " remote frees, %" PRIu64 " large allocs (%" PRIu64
               " from the big cache), %" PRIu64 " invalid frees\n",
               MiB(ResidentBytes()), st.threads_created, st.remote_frees, st.large_allocs,
               st.large_cache_hits, st.invalid_frees);
  std::fprintf(cfg_.out, "soak: %s (%" PRIu64 " errors, %" PRIu64 " invalid frees, RSS %s)\n",
               result_.ok() ? "PASS" : "FAIL", result_.errors, result_.invalid_frees,
               result_.rss_grew ? "grew" : "level");
  return result_;
}

}  // namespace

SoakResult RunSoak(const SoakConfig& cfg) { return std::make_unique<Soak>(cfg)->Run(); }

}  // namespace hakmem_test
