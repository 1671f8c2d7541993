// The results of a head-to-head run, their statistics, and the three output
// formats (text table, markdown, JSON; the JSON schema is in bench/README.md).
#ifndef HAKMEM_BENCH_RUNNER_REPORT_H_
#define HAKMEM_BENCH_RUNNER_REPORT_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "bench/runner/allocators.h"
#include "bench/runner/child.h"
#include "bench/runner/host.h"

namespace hakmem_bench {

struct Run {
  int round = 0;
  bool ok = false;
  std::string error;          // why the run was refused or failed
  double rate = 0;            // the figure of merit, higher is better (Experiment::metric)
  double wall_s = 0;          // the whole child process (app_redis: the server's life)
  double user_s = 0;          // wait4 rusage of the child and the children it waited for
  double sys_s = 0;
  uint64_t peak_rss_kib = 0;  // wait4 ru_maxrss
  std::string malloc_lib;     // what malloc resolved to in the child
  double steal_share = 0;     // of the machine's CPU time, stolen by the hypervisor (steal.h)
  int attempts = 1;           // runs made for this one (repeated while steal was high)
  // Workload runs only.
  uint64_t ops = 0;
  double elapsed_s = 0;            // the workload's timed phase
  uint64_t self_peak_rss_kib = 0;  // the child's own VmHWM
  // App runs only: processes that proved their allocator, and app-specific
  // numbers (app_redis: requests/s of each redis-benchmark test).
  int processes = 0;
  std::map<std::string, double> details;
};

// Wall time, user+sys time and peak RSS of a finished child, into r.
void TakeUsage(const ChildResult& c, Run* r);

// --instructions: one run of the workload under callgrind.
struct InstructionCount {
  bool attempted = false;
  bool valid = false;
  uint64_t instructions = 0;  // Ir of the whole process
  uint64_t ops = 0;           // as the workload reported them
  std::string error;
  double PerOp() const { return valid && ops > 0 ? static_cast<double>(instructions) / ops : 0; }
};

struct AllocatorRuns {
  Allocator allocator;
  std::vector<Run> runs;
  InstructionCount instructions;
};

enum class Kind { kWorkload, kApp };

struct Experiment {
  std::string name;      // e.g. mid_4t, app_python
  std::string workload;  // the workload, or the app's name
  Kind kind = Kind::kWorkload;
  std::string family;            // FamilyOf(workload)
  std::string metric = "ops/s";  // unit of Run::rate: ops/s, runs/s or requests/s
  int threads = 1;
  double seconds = 0;  // timed phase per run; 0: --seconds (workloads only)
  std::vector<std::string> extra_args;  // more workload flags (a preset's)
  // The effective workload configuration, as the workload itself reported it.
  std::map<std::string, std::string> config;
  std::string app_description;  // apps: what runs, e.g. "python3 python_load.py 1"
  std::vector<AllocatorRuns> results;
  std::vector<Skipped> skipped;
  std::string profile_path;  // hakmem CPU profile, if --profile
  std::string note;          // why the experiment has no runs (a missing program, ...)
};

struct Report {
  int rounds = 0;
  Host host;
  bool instructions = false;  // --instructions was given
  std::vector<Experiment> experiments;
};

// Median, min and max over the successful runs; valid == false if none.
struct Stat {
  bool valid = false;
  double median = 0;
  double min = 0;
  double max = 0;
};
Stat RateStat(const AllocatorRuns& a);    // Run::rate
Stat RssMibStat(const AllocatorRuns& a);  // peak RSS, MiB
Stat WallStat(const AllocatorRuns& a);    // wall_s
Stat CpuStat(const AllocatorRuns& a);     // user_s + sys_s
Stat DetailStat(const AllocatorRuns& a, const std::string& key);  // Run::details[key]
// Run::details key of the phase workload's RSS late in its quiet phases.
inline constexpr char kQuietRssMib[] = "quiet_rss_mib";

// hakmem against the peers of one experiment. Pointers are null when there is
// no such allocator or no successful run.
struct Comparison {
  const AllocatorRuns* hakmem = nullptr;
  const AllocatorRuns* best_peer = nullptr;        // highest median rate
  const AllocatorRuns* lowest_rss_peer = nullptr;  // lowest median peak RSS
  double median_peer_rss_mib = 0;  // median over the peers' median peak RSS; 0: none
  const AllocatorRuns* fewest_instructions_peer = nullptr;  // --instructions
};
Comparison Compare(const Experiment& e);

// hakmem's median divided by a's median (rate and RSS); 0 if either is missing.
double RateRatio(const AllocatorRuns* hakmem, const AllocatorRuns* a);
double RssRatio(const AllocatorRuns* hakmem, const AllocatorRuns* a);
// The median over the rounds of hakmem's rate divided by a's in the same round
// (both runs ok); 0 if no round has both. The rounds are interleaved, so a
// ratio within one round cancels the VM's drift between rounds, which a ratio
// of medians keeps.
double PairedRateRatio(const AllocatorRuns* hakmem, const AllocatorRuns* a);
// An interval that holds the median of the distribution `values` come from
// with probability 95 % or more: the k-th smallest and the k-th largest, for
// the largest k at which each tail misses it with probability at most 2.5 %
// (the count of values below the median is binomial if the values are
// independent draws around one median; 6 - 8 values give their whole range).
// tools/ab_env.py's median_interval gives the same (exact to about a thousand
// values, where n choose j overflows a double). Not valid below 6 values,
// where no such interval reaches 95 %.
struct Interval {
  bool valid = false;
  double low = 0;
  double high = 0;
};
Interval MedianInterval(std::vector<double> values);
// MedianInterval of the per-round ratios behind PairedRateRatio: with 6 rounds
// or more, whether hakmem and a differ beyond this VM's spread (the interval
// leaves out 1) or not. Against the best peer, picked as the fastest of the
// peers in these same rounds, it leans below 1.
Interval PairedRateInterval(const AllocatorRuns* hakmem, const AllocatorRuns* a);
// hakmem's median peak RSS over the median peer's; 0 if unknown.
double MedianPeerRssRatio(const Comparison& c);
// hakmem's instructions per op over a's (below 1: hakmem runs fewer); 0 if unknown.
double InstructionRatio(const AllocatorRuns* hakmem, const AllocatorRuns* a);

// One line describing the configuration, e.g. "mid, 4 threads, 2 KiB..32 KiB, ...".
std::string DescribeConfig(const Experiment& e, int rounds);

// How a rate of this metric is shown: the column label (e.g. "Mops/s") and the
// factor from the metric's unit to it (1e-6).
struct RateDisplay {
  std::string label;
  double scale;
};
RateDisplay DisplayOf(const std::string& metric);

int FailedRuns(const AllocatorRuns& a);

std::string FormatTable(const Report& r);
std::string FormatMarkdown(const Report& r);
std::string FormatJson(const Report& r);

}  // namespace hakmem_bench

#endif  // HAKMEM_BENCH_RUNNER_REPORT_H_
