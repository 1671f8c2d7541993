// The workload program that the head-to-head runner starts once per allocator
// and round (bench/README.md describes each workload). Run alone it is an
// ordinary benchmark: `bazel run //bench:workload -- --workload=mid --threads=4`.
//
// It prints exactly one line on stdout, space-separated key=value pairs after a
// fixed first word (values escaped with %XX, see identify.h):
//   hakmem_bench_result workload=mid threads=4 seconds=2 ops_limit=0 min_size=2048
//     max_size=32768 slots=256 seed=1 touch=pages larson_round_ops=0 ops=...
//     elapsed_s=... ops_per_sec=... handoffs=0 errors=0 self_peak_rss_kib=...
//     quiet_rss_kib=... (phase; 0 for the others)
//     malloc_lib=/lib/x86_64-linux-gnu/libc.so.6 free_lib=... direct_malloc_lib=...
//     status=ok
// status is "ok", or "corrupt" when a block's tag changed or a block was
// misaligned (exit code 3). Bad flags: a message on stderr and exit code 2.
#include <cstdio>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "bench/workload/common.h"
#include "bench/workload/identify.h"

ABSL_FLAG(std::string, workload, "mid",
          "mid | tiny | large | larson | larson_sized | xthread | phase | xmalloc | rptest | "
          "mstress | cache_thrash | cache_scratch | glibc_simple | glibc_thread | alloc_test | "
          "bigbuf | thread_churn | bignum | espresso | realloc_grow | aligned | idle_holder | "
          "deferred_free | bulk");
ABSL_FLAG(int, threads, 1,
          "worker threads (larson: chains; xthread, xmalloc, deferred_free: an even number; "
          "thread_churn: most alive at once)");
ABSL_FLAG(double, seconds, 2.0, "run time of the timed phase");
ABSL_FLAG(uint64_t, ops, 0,
          "if > 0, run this fixed amount of work instead of --seconds: ops per thread, or as "
          "the workload defines it (bench/README.md)");
ABSL_FLAG(uint64_t, min_size, 0, "smallest request in bytes (0: the workload's default)");
ABSL_FLAG(uint64_t, max_size, 0, "largest request in bytes (0: the workload's default)");
ABSL_FLAG(uint64_t, slots, 0,
          "live blocks per thread; xthread, xmalloc: queue capacity; cache_*: writes per "
          "object; thread_churn: blocks per thread; idle_holder: the holder's blocks; "
          "deferred_free: the keeper's table (0: the workload's default)");
ABSL_FLAG(uint64_t, seed, 1, "seed of the size and slot choices");
ABSL_FLAG(std::string, touch, "pages", "ends | pages | lines: what of each new block is written");
ABSL_FLAG(uint64_t, larson_round_ops, 0, "larson: ops before a hand-over (0: 100 x slots)");
ABSL_FLAG(uint64_t, phase_ms, 3000, "phase: a build phase's length in ms (a cycle is 5 x this)");
ABSL_FLAG(std::string, rss_trace, "", "phase: write the RSS sampled every 50 ms to this file");
ABSL_FLAG(uint64_t, pass_one_in, 4,
          "rptest: 1 in this many replaced blocks is offered to the next thread's inbox (a full "
          "inbox: freed locally); 0: none, every thread frees only its own");

namespace hakmem_bench {
namespace {

struct WorkloadDefaults {
  const char* name;
  size_t min_size;
  size_t max_size;
  size_t slots;
  Outcome (*run)(const Config&);
};

constexpr WorkloadDefaults kWorkloads[] = {
    {"mid", 2 << 10, 32 << 10, 256, RunSlots},
    {"tiny", 8, 1 << 10, 1024, RunSlots},
    {"large", 64 << 10, 4 << 20, 16, RunSlots},
    {"larson", 8, 1000, 1000, RunLarson},
    {"larson_sized", 8, 1000, 1000, RunLarson},
    {"xthread", 8, 4 << 10, 256, RunXthread},
    // Sizes as reported; each phase has its own range (phase.cc).
    {"phase", 1 << 10, 32 << 10, 8192, RunPhases},
    {"xmalloc", 64, 64, 256, RunXmalloc},
    {"rptest", 16, 16 << 10, 4096, RunRptest},
    {"mstress", 24, 320, 4096, RunMstress},
    {"cache_thrash", 8, 8, 100, RunCache},
    {"cache_scratch", 8, 8, 100, RunCache},
    // glibc_simple, bignum and espresso have fixed sizes and counts: their
    // entries are what they report, not settings (the files say so).
    {"glibc_simple", 16, 4 << 10, 10000, RunGlibcSimple},
    {"glibc_thread", 4, 4 << 10, 1024, RunGlibcThread},
    {"alloc_test", 8, 64 << 10, 8192, RunAllocTest},
    {"bigbuf", 5 << 20, 25 << 20, 20, RunBigbuf},
    {"thread_churn", 16, 256, 48, RunThreadChurn},
    {"bignum", 16, 64, 64, RunBignum},
    {"espresso", 16, 1 << 10, 48, RunEspresso},
    {"realloc_grow", 64, 64 << 10, 64, RunReallocGrow},
    {"aligned", 16, 4 << 10, 1024, RunAligned},
    {"idle_holder", 16, 2 << 10, 32 << 20, RunIdleHolder},
    {"deferred_free", 64, 64, 1 << 20, RunDeferredFree},
    {"bulk", 64 << 10, 512 << 10, 4096, RunBulk},
};

const char* TouchName(Touch t) {
  return t == Touch::kEnds ? "ends" : t == Touch::kLines ? "lines" : "pages";
}

int Fail(const std::string& msg) {
  fprintf(stderr, "workload: %s\n", msg.c_str());
  return 2;
}

int Main() {
  Config cfg;
  cfg.workload = absl::GetFlag(FLAGS_workload);
  const WorkloadDefaults* w = nullptr;
  for (const auto& d : kWorkloads) {
    if (cfg.workload == d.name) w = &d;
  }
  if (w == nullptr) return Fail("unknown --workload=" + cfg.workload);
  cfg.threads = absl::GetFlag(FLAGS_threads);
  cfg.seconds = absl::GetFlag(FLAGS_seconds);
  cfg.ops = absl::GetFlag(FLAGS_ops);
  cfg.min_size = absl::GetFlag(FLAGS_min_size);
  cfg.max_size = absl::GetFlag(FLAGS_max_size);
  cfg.slots = absl::GetFlag(FLAGS_slots);
  cfg.seed = absl::GetFlag(FLAGS_seed);
  cfg.larson_round_ops = absl::GetFlag(FLAGS_larson_round_ops);
  cfg.phase_ms = absl::GetFlag(FLAGS_phase_ms);
  cfg.rss_trace = absl::GetFlag(FLAGS_rss_trace);
  cfg.pass_one_in = absl::GetFlag(FLAGS_pass_one_in);
  if (cfg.phase_ms < 2) return Fail("--phase_ms must be >= 2");
  if (cfg.min_size == 0) cfg.min_size = w->min_size;
  if (cfg.max_size == 0) cfg.max_size = w->max_size;
  if (cfg.slots == 0) cfg.slots = w->slots;
  if (cfg.larson_round_ops == 0) cfg.larson_round_ops = 100 * cfg.slots;
  const std::string touch = absl::GetFlag(FLAGS_touch);
  if (touch == "ends") {
    cfg.touch = Touch::kEnds;
  } else if (touch == "lines") {
    cfg.touch = Touch::kLines;
  } else if (touch != "pages") {
    return Fail("--touch must be ends, pages or lines");
  }
  if (cfg.threads < 1 || cfg.threads > 1024) return Fail("--threads must be in 1..1024");
  if ((cfg.workload == "xthread" || cfg.workload == "xmalloc" ||
       cfg.workload == "deferred_free") &&
      cfg.threads % 2 != 0) {
    return Fail(cfg.workload + " runs pairs of threads: --threads must be even");
  }
  if (cfg.workload == "mstress" && cfg.min_size < 24) {
    return Fail("mstress keeps each object's size in bytes 8-15: --min_size must be >= 24");
  }
  const bool larson = cfg.workload == "larson" || cfg.workload == "larson_sized";
  if (cfg.workload == "larson_sized") cfg.api = Api::kSizedNew;
  if (cfg.ops == 0 && !(cfg.seconds > 0)) return Fail("--seconds must be > 0");
  if (cfg.min_size < 1 || cfg.min_size > cfg.max_size) {
    return Fail("need 1 <= --min_size <= --max_size");
  }
  if (cfg.slots < 1) return Fail("--slots must be >= 1");

  // Identify first: if the allocator is not the expected one, the runner
  // still learns which one it was.
  const AllocatorIdentity id = IdentifyAllocator();
  const Outcome out = w->run(cfg);
  const double ops_per_sec = out.elapsed_s > 0 ? static_cast<double>(out.ops) / out.elapsed_s : 0;

  printf(
      "hakmem_bench_result workload=%s threads=%d seconds=%g ops_limit=%llu min_size=%zu "
      "max_size=%zu slots=%zu seed=%llu touch=%s larson_round_ops=%llu ops=%llu "
      "elapsed_s=%.6f ops_per_sec=%.1f handoffs=%llu errors=%llu self_peak_rss_kib=%llu "
      "quiet_rss_kib=%llu malloc_lib=%s free_lib=%s direct_malloc_lib=%s status=%s\n",
      cfg.workload.c_str(), cfg.threads, cfg.seconds, static_cast<unsigned long long>(cfg.ops),
      cfg.min_size, cfg.max_size, cfg.slots, static_cast<unsigned long long>(cfg.seed),
      TouchName(cfg.touch),
      static_cast<unsigned long long>(larson ? cfg.larson_round_ops : 0),
      static_cast<unsigned long long>(out.ops), out.elapsed_s, ops_per_sec,
      static_cast<unsigned long long>(out.handoffs), static_cast<unsigned long long>(out.errors),
      static_cast<unsigned long long>(PeakRssKib()),
      static_cast<unsigned long long>(out.quiet_rss_kib), EscapeValue(id.malloc_lib).c_str(),
      EscapeValue(id.free_lib).c_str(), EscapeValue(id.direct_lib).c_str(),
      out.errors == 0 ? "ok" : "corrupt");
  fflush(stdout);
  return out.errors == 0 ? 0 : 3;
}

}  // namespace
}  // namespace hakmem_bench

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  return hakmem_bench::Main();
}
