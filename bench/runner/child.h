// Runs one workload process under one allocator and reads what it reported.
#ifndef HAKMEM_BENCH_RUNNER_CHILD_H_
#define HAKMEM_BENCH_RUNNER_CHILD_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace hakmem_bench {

struct ChildSpec {
  std::vector<std::string> argv;  // argv[0] is the program path
  std::string preload;            // LD_PRELOAD value; empty: none (glibc)
  std::map<std::string, std::string> extra_env;
  double timeout_s = 60;
};

struct ChildResult {
  bool exited = false;     // exited normally (not killed or timed out)
  int exit_code = -1;
  int signal = 0;
  bool timed_out = false;
  uint64_t peak_rss_kib = 0;  // wait4 rusage ru_maxrss
  double wall_s = 0;
  std::string error;                          // why it failed to start, if it did
  std::map<std::string, std::string> fields;  // the hakmem_bench_result line
  bool has_result_line = false;
};

// Starts argv with the environment of this process, LD_PRELOAD replaced by
// spec.preload (removed when empty) plus extra_env; stderr is inherited, stdout
// is read for the result line. Kills the child after timeout_s.
ChildResult RunChild(const ChildSpec& spec);

// Parses "hakmem_bench_result k=v k=v ..." (values %XX-escaped). False if the
// line is not a result line.
bool ParseResultLine(const std::string& line, std::map<std::string, std::string>* fields);

}  // namespace hakmem_bench

#endif  // HAKMEM_BENCH_RUNNER_CHILD_H_
