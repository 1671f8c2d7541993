// The results of a head-to-head run, their statistics, and the three output
// formats (text table, markdown, JSON; the JSON schema is in bench/README.md).
#ifndef HAKMEM_BENCH_RUNNER_REPORT_H_
#define HAKMEM_BENCH_RUNNER_REPORT_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "bench/runner/allocators.h"

namespace hakmem_bench {

struct Run {
  int round = 0;
  bool ok = false;
  std::string error;          // why the run was refused or failed
  double ops_per_sec = 0;
  uint64_t ops = 0;
  double elapsed_s = 0;       // the workload's timed phase
  double wall_s = 0;          // the whole child process
  uint64_t peak_rss_kib = 0;  // wait4 ru_maxrss
  uint64_t self_peak_rss_kib = 0;  // the child's own VmHWM
  std::string malloc_lib;     // what malloc resolved to in the child
};

struct AllocatorRuns {
  Allocator allocator;
  std::vector<Run> runs;
};

struct Experiment {
  std::string name;  // e.g. mid_4t
  std::string workload;
  int threads = 1;
  double seconds = 0;  // timed phase per run; 0: --seconds
  // The effective workload configuration, as the workload itself reported it.
  std::map<std::string, std::string> config;
  std::vector<AllocatorRuns> results;
  std::vector<Skipped> skipped;
  std::string profile_path;  // hakmem CPU profile, if --profile
};

struct Report {
  int rounds = 0;
  std::vector<Experiment> experiments;
};

// Median, min and max over the successful runs; valid == false if none.
struct Stat {
  bool valid = false;
  double median = 0;
  double min = 0;
  double max = 0;
};
Stat OpsStat(const AllocatorRuns& a);     // ops/s
Stat RssMibStat(const AllocatorRuns& a);  // peak RSS, MiB

// hakmem against the peers of one experiment. Pointers are null when there is
// no such allocator or no successful run.
struct Comparison {
  const AllocatorRuns* hakmem = nullptr;
  const AllocatorRuns* best_peer = nullptr;        // highest median ops/s
  const AllocatorRuns* lowest_rss_peer = nullptr;  // lowest median peak RSS
};
Comparison Compare(const Experiment& e);

// hakmem's median divided by a's median (ops/s and RSS); 0 if either is missing.
double OpsRatio(const AllocatorRuns* hakmem, const AllocatorRuns* a);
double RssRatio(const AllocatorRuns* hakmem, const AllocatorRuns* a);

// One line describing the configuration, e.g. "mid, 4 threads, 2 KiB..32 KiB, ...".
std::string DescribeConfig(const Experiment& e, int rounds);

int FailedRuns(const AllocatorRuns& a);

std::string FormatTable(const Report& r);
std::string FormatMarkdown(const Report& r);
std::string FormatJson(const Report& r);

}  // namespace hakmem_bench

#endif  // HAKMEM_BENCH_RUNNER_REPORT_H_
