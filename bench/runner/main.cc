// The head-to-head runner: runs a workload (bench/workload) or a real program
// (an app_* experiment, runner/apps.cc) under hakmem and under every peer
// allocator on the machine, each in its own child process via LD_PRELOAD,
// interleaved (A B C D E, B C D E A, ... for --rounds rounds), checks that each
// child's malloc really is the allocator asked for, measures peak RSS (wait4),
// optionally counts instructions under callgrind (--instructions), and prints a
// table (or markdown, or JSON) with medians and hakmem's ratios.
// bench/README.md has the flags, the presets and the JSON schema.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_split.h"
#include "bench/runner/allocators.h"
#include "bench/runner/apps.h"
#include "bench/runner/child.h"
#include "bench/runner/families.h"
#include "bench/runner/host.h"
#include "bench/runner/instructions.h"
#include "bench/runner/report.h"
#include "bench/runner/scratch.h"
#include "bench/runner/steal.h"
#include "tools/cpp/runfiles/runfiles.h"

ABSL_FLAG(std::string, preset, "",
          "a workload preset (--list_presets), an app experiment (app_python, app_sqlite_mem, "
          "app_sqlite_file, app_gxx, app_redis), apps (every app_*) or all; comma list");
ABSL_FLAG(std::string, workload, "",
          "mid | tiny | large | larson | xthread | phase (instead of --preset)");
ABSL_FLAG(std::string, threads, "", "thread counts, comma list (default: the preset's, or 1)");
ABSL_FLAG(double, seconds, 2.0, "timed phase of each workload run (the phase preset: 15)");
ABSL_FLAG(uint64_t, ops, 0, "if > 0, ops per thread instead of --seconds");
ABSL_FLAG(uint64_t, min_size, 0, "smallest request (0: the workload's default)");
ABSL_FLAG(uint64_t, max_size, 0, "largest request (0: the workload's default)");
ABSL_FLAG(uint64_t, slots, 0, "live blocks per thread (0: the workload's default)");
ABSL_FLAG(uint64_t, seed, 1, "workload seed");
ABSL_FLAG(std::string, touch, "", "ends | pages | lines (default: the workload's, pages)");
ABSL_FLAG(uint64_t, larson_round_ops, 0, "larson: ops per thread before a hand-over");
ABSL_FLAG(int, rounds, 3, "interleaved rounds per allocator (0 with --instructions: no timed runs)");
ABSL_FLAG(std::string, allocators, "", "only these (comma list of hakmem,glibc,mimalloc,jemalloc,tcmalloc)");
ABSL_FLAG(std::string, hakmem, "", "path of libhakmem.so (default: the Bazel runfile)");
ABSL_FLAG(std::string, workload_bin, "", "path of the workload program (default: the runfile)");
ABSL_FLAG(std::string, format, "table", "table | markdown | json (stdout)");
ABSL_FLAG(std::string, json_out, "", "also write the JSON report to this file");
ABSL_FLAG(std::string, markdown_out, "", "also write the markdown report to this file");
ABSL_FLAG(bool, profile, false, "also run hakmem once under gperftools' CPU profiler");
ABSL_FLAG(std::string, profile_dir, "", "where profiles go (default: the working directory)");
ABSL_FLAG(double, timeout, 0, "kill a child after this many seconds (0: 10 x --seconds + 60)");
ABSL_FLAG(double, max_steal, 0.05,
          "repeat a run during which the hypervisor stole more than this share of the machine's "
          "CPU time (/proc/stat steal, over wall time x all CPUs)");
ABSL_FLAG(int, steal_retries, 2,
          "at most this many repeats of one run, the least-stolen counting; 0: no repeats");
ABSL_FLAG(bool, list_presets, false, "print the presets and exit");
ABSL_FLAG(bool, instructions, false,
          "also run each single-thread workload once per allocator under callgrind and report "
          "instructions per op (--ops, default 200000)");
ABSL_FLAG(double, app_scale, 1.0, "fraction of each app experiment's fixed load (tests: 0.02)");
ABSL_FLAG(std::string, hakmem_commit, "",
          "hakmem's commit for the report (default: git rev-parse HEAD in the workspace)");

namespace hakmem_bench {
namespace {

constexpr char kProfiler[] = "/usr/lib/x86_64-linux-gnu/libprofiler.so.0";

struct Preset {
  const char* name;
  const char* workload;
  std::vector<int> threads;
  double seconds = 0;  // the run length this preset needs; 0: --seconds
  std::vector<std::string> args = {};  // more workload flags
};
const std::vector<Preset> kPresets = {
    {"mid_1t", "mid", {1}},       {"mid_4t", "mid", {4}},   {"tiny_1t", "tiny", {1}},
    {"tiny_4t", "tiny", {4}},     {"large", "large", {1, 2}}, {"larson", "larson", {4}},
    {"xthread", "xthread", {2}},
    // One whole cycle of the phase schedule (bench/workload/phase.cc), long
    // enough for the learner's windows and dwell to act in each phase.
    {"phase", "phase", {1}, 15.0},
    // Phases of 1-2.5 s (1 s builds, 1.5 s lulls), two cycles, 2 threads: does
    // memory go back within a short quiet phase (quiet_rss_kib)?
    {"phase_short", "phase", {2}, 10.0, {"--phase_ms=1000"}},
    // The classic allocator benchmarks (bench/README.md, "Workloads").
    {"larson_2t", "larson", {2}},
    {"larson_sized_2t", "larson_sized", {2}},
    {"xmalloc_2x2", "xmalloc", {4}},  // 2 producers + 2 consumers
    {"rptest_2t", "rptest", {2}},
    {"rptest_4t", "rptest", {4}},
    {"mstress_4t", "mstress", {4}},
    {"cache_thrash_1t", "cache_thrash", {1}},
    {"cache_thrash_2t", "cache_thrash", {2}},
    {"cache_scratch_1t", "cache_scratch", {1}},
    {"cache_scratch_2t", "cache_scratch", {2}},
    {"glibc_simple", "glibc_simple", {1}},
    {"glibc_thread_1t", "glibc_thread", {1}},
    {"glibc_thread_2t", "glibc_thread", {2}},
    {"glibc_thread_4t", "glibc_thread", {4}},
    {"alloc_test_1t", "alloc_test", {1}},
    {"alloc_test_2t", "alloc_test", {2}},
    // Fixed work: with 20 live buffers the live set's peak grows with the
    // number of replacements, so in a timed run the faster allocators reached
    // higher peaks (hakmem 412 MiB live at its peak in 2 s, a 10x slower
    // allocator ~340 MiB) and the RSS column compared different programs.
    {"bigbuf", "bigbuf", {1}, 0, {"--ops=500"}},
    {"thread_churn", "thread_churn", {4}},  // at most 4 threads alive at once
    {"bignum", "bignum", {1}},
    {"espresso", "espresso", {1}},
};

// Whether --seconds was on the command line (this Abseil keeps
// CommandLineFlag::IsSpecifiedOnCommandLine private, so main() looks).
bool g_seconds_given = false;

// A preset's own run length applies unless --seconds is on the command line.
double SecondsFor(double preset_seconds) {
  return preset_seconds > 0 && !g_seconds_given ? preset_seconds : absl::GetFlag(FLAGS_seconds);
}

// A path the user gave relative to where they ran `bazel run` from.
std::string UserPath(const std::string& p) {
  if (p.empty() || p[0] == '/') return p;
  const char* wd = getenv("BUILD_WORKING_DIRECTORY");
  return wd != nullptr ? std::string(wd) + "/" + p : p;
}

bool WriteFile(const std::string& path, const std::string& text) {
  std::ofstream f(path);
  f << text;
  f.close();
  if (!f) fprintf(stderr, "runner: cannot write %s\n", path.c_str());
  return static_cast<bool>(f);
}

std::vector<int> ParseThreads(const std::string& s, bool* ok) {
  std::vector<int> out;
  for (absl::string_view part : absl::StrSplit(s, ',', absl::SkipEmpty())) {
    const int n = atoi(std::string(part).c_str());
    if (n < 1) *ok = false;
    out.push_back(n);
  }
  return out;
}

// The experiments the flags ask for, in order and without repeats; false (with
// a message) if the flags are inconsistent. Without --preset and --workload, a
// binary named after a preset (bazel-bin/bench/mid_4t run directly, without the
// target's args) runs that preset.
bool PlanExperiments(const std::string& argv0, const AppEnv& env, std::vector<Experiment>* plan) {
  std::string preset = absl::GetFlag(FLAGS_preset);
  const std::string workload = absl::GetFlag(FLAGS_workload);
  if (preset.empty() && workload.empty()) {
    const std::string base = argv0.substr(argv0.rfind('/') + 1);
    for (const auto& p : kPresets) {
      if (base == p.name) preset = base;
    }
  }
  bool ok = true;
  const std::vector<int> threads = ParseThreads(absl::GetFlag(FLAGS_threads), &ok);
  if (!ok) return fprintf(stderr, "runner: bad --threads\n"), false;
  auto add = [&](const std::string& w, const std::vector<int>& counts, double seconds,
                 const std::vector<std::string>& args, const std::string& name) {
    for (int t : threads.empty() ? counts : threads) {
      Experiment e;
      e.workload = w;
      e.threads = t;
      e.seconds = SecondsFor(seconds);
      e.extra_args = args;
      e.name = (args.empty() ? w : name) + "_" + std::to_string(t) + "t";
      const bool seen = std::any_of(plan->begin(), plan->end(),
                                    [&](const Experiment& p) { return p.name == e.name; });
      if (!seen) plan->push_back(e);
    }
  };
  if (!preset.empty() && !workload.empty()) {
    return fprintf(stderr, "runner: give --preset or --workload, not both\n"), false;
  }
  auto add_app = [&](const std::string& name) {
    const bool seen = std::any_of(plan->begin(), plan->end(),
                                  [&](const Experiment& p) { return p.name == name; });
    if (!seen) plan->push_back(AppExperiment(name, env));
  };
  if (!workload.empty()) add(workload, {1}, 0, {}, workload);
  for (absl::string_view name : absl::StrSplit(preset, ',', absl::SkipEmpty())) {
    bool found = false;
    for (const auto& p : kPresets) {
      if (name == p.name || name == "all") {
        add(p.workload, p.threads, p.seconds, p.args, p.name);
        found = true;
      }
    }
    for (const auto& app : AppNames()) {
      if (name == app || name == "apps" || name == "all") {
        add_app(app);
        found = true;
      }
    }
    if (!found) return fprintf(stderr, "runner: unknown preset %s\n", std::string(name).c_str()), false;
  }
  if (plan->empty()) return fprintf(stderr, "runner: give --preset or --workload\n"), false;
  for (auto& e : *plan) e.family = FamilyOf(e.workload);
  return true;
}

// ops_override > 0 replaces --ops (the callgrind runs).
std::vector<std::string> WorkloadArgs(const std::string& bin, const Experiment& e,
                                      uint64_t ops_override) {
  std::vector<std::string> a = {bin, "--workload=" + e.workload,
                                "--threads=" + std::to_string(e.threads),
                                "--seconds=" + std::to_string(e.seconds),
                                "--seed=" + std::to_string(absl::GetFlag(FLAGS_seed))};
  auto opt = [&](const char* name, uint64_t v) {
    if (v != 0) a.push_back(std::string("--") + name + "=" + std::to_string(v));
  };
  opt("ops", ops_override > 0 ? ops_override : absl::GetFlag(FLAGS_ops));
  opt("min_size", absl::GetFlag(FLAGS_min_size));
  opt("max_size", absl::GetFlag(FLAGS_max_size));
  opt("slots", absl::GetFlag(FLAGS_slots));
  opt("larson_round_ops", absl::GetFlag(FLAGS_larson_round_ops));
  if (!absl::GetFlag(FLAGS_touch).empty()) a.push_back("--touch=" + absl::GetFlag(FLAGS_touch));
  a.insert(a.end(), e.extra_args.begin(), e.extra_args.end());
  return a;
}

// Turns what a child did into a Run: ok only if it exited 0, reported a clean
// result, and its malloc was the allocator under test.
Run Judge(const Allocator& a, const ChildResult& c, int round) {
  Run r;
  r.round = round;
  TakeUsage(c, &r);
  auto field = [&](const char* k) {
    const auto it = c.fields.find(k);
    return it == c.fields.end() ? std::string() : it->second;
  };
  r.malloc_lib = field("malloc_lib");
  r.rate = atof(field("ops_per_sec").c_str());
  r.ops = strtoull(field("ops").c_str(), nullptr, 10);
  r.elapsed_s = atof(field("elapsed_s").c_str());
  r.self_peak_rss_kib = strtoull(field("self_peak_rss_kib").c_str(), nullptr, 10);
  if (const uint64_t quiet = strtoull(field("quiet_rss_kib").c_str(), nullptr, 10); quiet > 0) {
    r.details[kQuietRssMib] = static_cast<double>(quiet) / 1024.0;
  }
  if (std::string bad = ChildFailure(c); !bad.empty()) {
    r.error = bad;
  } else if (!c.has_result_line) {
    r.error = "no result line (exit code " + std::to_string(c.exit_code) + ")";
  } else if (std::string bad = CheckIdentity(a, c.fields); !bad.empty()) {
    r.error = "refused: " + bad;
  } else if (field("status") != "ok") {
    r.error = "workload status=" + field("status") + " (" + field("errors") + " bad blocks)";
  } else if (c.exit_code != 0) {
    r.error = "exit code " + std::to_string(c.exit_code);
  } else {
    r.ok = true;
  }
  return r;
}

ChildSpec SpecFor(const std::string& bin, const Experiment& e, const Allocator& a,
                  uint64_t ops_override = 0) {
  ChildSpec spec;
  spec.argv = WorkloadArgs(bin, e, ops_override);
  spec.preload = a.preload;
  const double t = absl::GetFlag(FLAGS_timeout);
  spec.timeout_s = t > 0 ? t : 10 * e.seconds + 60;
  return spec;
}

// One extra hakmem run under the CPU profiler (not counted in the results).
void Profile(const std::string& bin, Experiment* e, const Allocator& hakmem) {
  if (access(kProfiler, R_OK) != 0) {
    fprintf(stderr, "runner: --profile needs %s (libgoogle-perftools-dev)\n", kProfiler);
    return;
  }
  std::string dir = UserPath(absl::GetFlag(FLAGS_profile_dir));
  if (dir.empty()) dir = UserPath(".");
  const std::string path = RealPath(dir) + "/hakmem_" + e->name + ".prof";
  ChildSpec spec = SpecFor(bin, *e, hakmem);
  spec.preload = hakmem.preload + ":" + kProfiler;
  spec.extra_env["CPUPROFILE"] = path;
  if (getenv("CPUPROFILE_FREQUENCY") == nullptr) spec.extra_env["CPUPROFILE_FREQUENCY"] = "1000";
  fprintf(stderr, "[%s] profiling hakmem -> %s\n", e->name.c_str(), path.c_str());
  unlink(path.c_str());  // so an old profile is never taken for this run's
  const Run r = Judge(hakmem, RunChild(spec), 0);
  if (!r.ok) {
    fprintf(stderr, "runner: profile run failed: %s\n", r.error.c_str());
  } else if (access(path.c_str(), R_OK) != 0) {
    fprintf(stderr, "runner: the profiler wrote no %s\n", path.c_str());
  } else {
    e->profile_path = path;
    fprintf(stderr, "[%s] view: google-pprof --text %s %s\n", e->name.c_str(), bin.c_str(),
            path.c_str());
  }
}

// Progress on stderr, one line per child run.
void Progress(const Experiment& e, int round, int rounds, const AllocatorRuns& ar, const Run& r) {
  if (r.ok) {
    const RateDisplay d = DisplayOf(e.metric);
    fprintf(stderr, "[%s %d/%d] %-9s %10.3f %s  %8.1f MiB  (%.1f s, steal %.0f%%", e.name.c_str(),
            round, rounds, ar.allocator.name.c_str(), r.rate * d.scale, d.label.c_str(),
            r.peak_rss_kib / 1024.0, r.wall_s, 100 * r.steal_share);
    if (r.attempts > 1) fprintf(stderr, ", least-stolen of %d runs", r.attempts);
    fprintf(stderr, ")\n");
  } else {
    fprintf(stderr, "[%s %d/%d] %-9s FAILED: %s", e.name.c_str(), round, rounds,
            ar.allocator.name.c_str(), r.error.c_str());
    if (r.attempts > 1) fprintf(stderr, " (run %d, repeated for steal)", r.attempts);
    fprintf(stderr, "\n");
  }
}

// The workload's effective configuration, from the first result line.
void TakeConfig(const ChildResult& c, Experiment* e) {
  if (!e->config.empty() || !c.has_result_line) return;
  for (const char* k : {"seconds", "ops_limit", "min_size", "max_size", "slots", "seed", "touch",
                        "larson_round_ops"}) {
    if (c.fields.count(k)) e->config[k] = c.fields.at(k);
  }
}

void AddNote(Experiment* e, const std::string& note) {
  e->note += (e->note.empty() ? "" : "; ") + note;
}

// --instructions: one callgrind run per allocator of a single-thread workload;
// false if any failed.
bool MeasureInstructions(const std::string& bin, Experiment* e) {
  const uint64_t ops = absl::GetFlag(FLAGS_ops) > 0 ? absl::GetFlag(FLAGS_ops)
                                                    : kDefaultInstructionOps;
  bool all_ok = true;
  for (auto& ar : e->results) {
    InstructionCount& ic = ar.instructions;
    ic.attempted = true;
    ScratchDir dir;
    if (!dir.ok()) {
      ic.error = dir.error();
      continue;
    }
    ChildSpec spec = SpecFor(bin, *e, ar.allocator, ops);
    spec.timeout_s = std::max(spec.timeout_s, 600.0);  // callgrind runs ~50x slower
    const ChildResult c = RunChild(UnderCallgrind(spec, dir.path()));
    TakeConfig(c, e);
    const Run r = Judge(ar.allocator, c, 0);
    if (!r.ok) {
      ic.error = r.error;
    } else if (ReadInstructions(dir.path(), &ic.instructions, &ic.error)) {
      ic.ops = r.ops;
      ic.valid = ic.ops > 0;
      if (!ic.valid) ic.error = "the workload reported 0 ops";
    }
    if (ic.valid) {
      fprintf(stderr, "[%s callgrind] %-9s %12.1f instructions/op  (%llu ops)\n", e->name.c_str(),
              ar.allocator.name.c_str(), ic.PerOp(), static_cast<unsigned long long>(ic.ops));
    } else {
      all_ok = false;
      fprintf(stderr, "[%s callgrind] %-9s FAILED: %s\n", e->name.c_str(),
              ar.allocator.name.c_str(), ic.error.c_str());
    }
  }
  return all_ok;
}

// Runs `run_once` (one child run, judged) and runs it again while the
// hypervisor stole more than --max_steal of the machine's CPU time during it,
// at most --steal_retries times; the run that lost the least counts. Every
// allocator gets the same treatment, so a busy neighbour's minute no longer
// decides a row. A failed run is returned at once: failures are reported, not
// retried away.
template <typename RunOnce>
Run WithLittleSteal(RunOnce run_once) {
  static const int cpus = static_cast<int>(sysconf(_SC_NPROCESSORS_ONLN));
  const double max_share = absl::GetFlag(FLAGS_max_steal);
  const int max_attempts = 1 + std::max(0, absl::GetFlag(FLAGS_steal_retries));
  Run best;
  int attempt = 1;
  for (;; ++attempt) {
    const double stolen_before = StealSecondsNow();
    Run r = run_once();
    r.steal_share = StealShare(StealSecondsNow() - stolen_before, r.wall_s, cpus);
    if (attempt == 1 || !r.ok || r.steal_share < best.steal_share) best = r;
    if (!r.ok || r.steal_share <= max_share || attempt == max_attempts) break;
  }
  best.attempts = attempt;
  return best;
}

// The allocator the next round starts at (RunRounds), across experiments.
size_t g_next_round_start = 0;

// Runs `rounds` interleaved rounds of e, `run(allocator runs, round)` for one
// run; false if any run failed. Each round starts at the allocator after the
// one the last round (of any experiment) started at (A B C, B C A, C A B,
// ...), so that no allocator always takes the first run of a round or of an
// experiment, right after another experiment's runs (whose exit may keep the
// machine busy for a moment: memory given back, huge pages collapsed). Each
// allocator has one run per round; the paired ratios match runs by their
// round (Run::round), not by position.
template <class RunOne>
bool RunRounds(int rounds, Experiment* e, RunOne run) {
  bool all_ok = true;
  const size_t n = e->results.size();
  for (int round = 1; round <= rounds; ++round) {
    const size_t start = g_next_round_start++;
    for (size_t i = 0; i < n; ++i) {
      AllocatorRuns& ar = e->results[(start + i) % n];
      const Run r = WithLittleSteal([&] { return run(ar, round); });
      all_ok &= r.ok;
      Progress(*e, round, rounds, ar, r);
      ar.runs.push_back(r);
    }
  }
  return all_ok;
}

// The interleaved rounds of a workload experiment; false if any run failed.
bool RunWorkload(const std::string& bin, int rounds, Experiment* e) {
  return RunRounds(rounds, e, [&](const AllocatorRuns& ar, int round) {
    const ChildResult c = RunChild(SpecFor(bin, *e, ar.allocator));
    TakeConfig(c, e);
    return Judge(ar.allocator, c, round);
  });
}

// The reference run, then the interleaved rounds of an app experiment; false if
// any run failed. A program that is not installed skips the experiment.
bool RunAppRounds(const AppEnv& env, int rounds, Experiment* e) {
  if (std::string missing = AppMissing(e->name); !missing.empty()) {
    AddNote(e, "skipped: " + missing);
    fprintf(stderr, "runner: skipping %s: %s\n", e->name.c_str(), missing.c_str());
    return true;
  }
  std::string reference;
  if (rounds > 0) {
    if (std::string bad = PrepareApp(env, *e, &reference); !bad.empty()) {
      AddNote(e, bad);
      fprintf(stderr, "[%s] %s\n", e->name.c_str(), bad.c_str());
      return false;
    }
  }
  return RunRounds(rounds, e, [&](const AllocatorRuns& ar, int round) {
    return RunApp(env, *e, ar.allocator, reference, round);
  });
}

// About how long the plan takes: workloads rounds x allocators x (seconds +
// 0.15 s of start-up and fill), apps their nominal time (+1 reference run).
double EstimateSeconds(const std::vector<Experiment>& plan, int rounds, size_t allocators,
                       double app_scale) {
  double total = 0;
  for (const auto& e : plan) {
    if (e.kind == Kind::kApp) {
      total += AppNominalSeconds(e.name) * app_scale * (rounds * allocators + 1);
    } else {
      total += rounds * allocators * (e.seconds + 0.15);
    }
  }
  return total;
}

void ListPresets() {
  for (const auto& p : kPresets) {
    printf("%s: --workload=%s --threads=", p.name, p.workload);
    for (size_t i = 0; i < p.threads.size(); ++i) printf("%s%d", i ? "," : "", p.threads[i]);
    if (p.seconds > 0) printf(" --seconds=%g", p.seconds);
    for (const auto& arg : p.args) printf(" %s", arg.c_str());
    printf("  (family %s)\n", FamilyOf(p.workload).c_str());
  }
  for (const auto& app : AppNames()) {
    printf("%s: app experiment, about %g s per run on glibc  (family %s)\n", app.c_str(),
           AppNominalSeconds(app), FamilyOf(app).c_str());
  }
}

int Main(const char* argv0) {
  if (absl::GetFlag(FLAGS_list_presets)) {
    ListPresets();
    return 0;
  }
  const std::string format = absl::GetFlag(FLAGS_format);
  if (format != "table" && format != "markdown" && format != "json") {
    return fprintf(stderr, "runner: --format must be table, markdown or json\n"), 2;
  }
  Report report;
  report.rounds = absl::GetFlag(FLAGS_rounds);
  report.instructions = absl::GetFlag(FLAGS_instructions);
  if (report.rounds < (report.instructions ? 0 : 1)) {
    return fprintf(stderr, "runner: --rounds must be >= 1 (>= 0 with --instructions)\n"), 2;
  }
  if (report.instructions && access(kValgrind, X_OK) != 0) {
    return fprintf(stderr, "runner: --instructions needs %s (tools/setup.sh)\n", kValgrind), 2;
  }
  if (!(absl::GetFlag(FLAGS_app_scale) > 0)) {
    return fprintf(stderr, "runner: --app_scale must be > 0\n"), 2;
  }

  // The workload, libhakmem.so and the app files come from this target's
  // runfiles unless given.
  std::string err;
  std::unique_ptr<bazel::tools::cpp::runfiles::Runfiles> rf(
      bazel::tools::cpp::runfiles::Runfiles::Create(argv0, &err));
  auto runfile = [&](const char* rpath) {
    const std::string p = rf ? rf->Rlocation(rpath) : "";
    return !p.empty() && access(p.c_str(), R_OK) == 0 ? RealPath(p) : std::string();
  };
  AppEnv env;
  env.identify_so = runfile("hakmem/bench/libidentify_preload.so");
  const std::string python_load = runfile("hakmem/bench/apps/python_load.py");
  env.data_dir = python_load.substr(0, python_load.rfind('/'));
  env.libc = LibcPath();
  env.scale = absl::GetFlag(FLAGS_app_scale);
  env.timeout_s = absl::GetFlag(FLAGS_timeout);
  if (!PlanExperiments(argv0, env, &report.experiments)) return 2;
  const bool any_app = std::any_of(report.experiments.begin(), report.experiments.end(),
                                   [](const Experiment& e) { return e.kind == Kind::kApp; });
  if (any_app && (env.identify_so.empty() || python_load.empty() || env.libc.empty())) {
    return fprintf(stderr, "runner: app experiments need the runfiles libidentify_preload.so and "
                           "bench/apps (run through bazel)\n"), 2;
  }

  std::string bin = UserPath(absl::GetFlag(FLAGS_workload_bin));
  if (bin.empty()) bin = runfile("hakmem/bench/workload");
  if (bin.empty() || access(bin.c_str(), X_OK) != 0) {
    return fprintf(stderr, "runner: no workload program (--workload_bin)\n"), 2;
  }
  std::string hakmem = UserPath(absl::GetFlag(FLAGS_hakmem));
  if (hakmem.empty()) hakmem = runfile("hakmem/preload/libhakmem.so");

  std::vector<std::string> only;
  for (absl::string_view s : absl::StrSplit(absl::GetFlag(FLAGS_allocators), ',', absl::SkipEmpty())) {
    only.emplace_back(s);
  }
  std::vector<Skipped> skipped;
  const std::vector<Allocator> allocators = FindAllocators(hakmem, only, &skipped, &err);
  if (!err.empty()) return fprintf(stderr, "runner: %s\n", err.c_str()), 2;
  for (const auto& s : skipped) {
    if (s.reason.rfind("not selected", 0) == 0) continue;
    // hakmem is what the run is about: without it there is nothing to compare.
    if (s.name == "hakmem") return fprintf(stderr, "runner: hakmem %s\n", s.reason.c_str()), 2;
    fprintf(stderr, "runner: skipping %s: %s\n", s.name.c_str(), s.reason.c_str());
  }
  if (allocators.empty()) return fprintf(stderr, "runner: no allocator to run\n"), 2;

  std::map<std::string, std::string> programs;
  for (const auto& e : report.experiments) {
    if (e.kind == Kind::kApp) programs.insert(AppProgram(e.name));
  }
  if (report.instructions) programs["valgrind"] = "valgrind";
  report.host = CollectHost(allocators, absl::GetFlag(FLAGS_hakmem_commit), programs);
  fprintf(stderr, "runner: %zu experiment(s) x %zu allocator(s) x %d round(s): about %.1f min "
                  "(host: %s)\n",
          report.experiments.size(), allocators.size(), report.rounds,
          EstimateSeconds(report.experiments, report.rounds, allocators.size(),
                          env.scale) / 60,
          HostLine(report.host).c_str());

  bool all_ok = true;
  for (auto& e : report.experiments) {
    e.skipped = skipped;
    for (const auto& a : allocators) e.results.push_back({a, {}, {}});
    if (e.kind == Kind::kApp) {
      all_ok &= RunAppRounds(env, report.rounds, &e);
      if (report.instructions) AddNote(&e, "no instruction counts: apps have no op count");
      continue;
    }
    all_ok &= RunWorkload(bin, report.rounds, &e);
    if (absl::GetFlag(FLAGS_profile) && allocators.front().subject) {
      Profile(bin, &e, allocators.front());
    }
    if (report.instructions && e.threads == 1) {
      all_ok &= MeasureInstructions(bin, &e);
    } else if (report.instructions) {
      AddNote(&e, "no instruction counts: --instructions measures single-thread experiments only");
    }
  }

  const std::string json = FormatJson(report);
  const std::string markdown = FormatMarkdown(report);
  const std::string text = format == "json" ? json : format == "markdown" ? markdown : FormatTable(report);
  fputs(text.c_str(), stdout);
  fflush(stdout);
  if (!absl::GetFlag(FLAGS_json_out).empty()) {
    all_ok &= WriteFile(UserPath(absl::GetFlag(FLAGS_json_out)), json);
  }
  if (!absl::GetFlag(FLAGS_markdown_out).empty()) {
    all_ok &= WriteFile(UserPath(absl::GetFlag(FLAGS_markdown_out)), markdown);
  }
  return all_ok ? 0 : 1;
}

}  // namespace
}  // namespace hakmem_bench

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--") break;
    if (a.rfind("--seconds", 0) == 0 || a.rfind("-seconds", 0) == 0) {
      hakmem_bench::g_seconds_given = true;
    }
  }
  absl::ParseCommandLine(argc, argv);
  return hakmem_bench::Main(argv[0]);
}
