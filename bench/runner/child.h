// Runs one program (a workload, an app, a helper) under one allocator and
// reports how it ended, what it printed and what it cost (wait4 rusage).
#ifndef HAKMEM_BENCH_RUNNER_CHILD_H_
#define HAKMEM_BENCH_RUNNER_CHILD_H_

#include <sys/types.h>

#include <chrono>
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
  std::string stdout_path;  // stdout goes to this file; empty: captured in ChildResult
  bool quiet = false;       // stderr to /dev/null (helpers such as dpkg-query); else inherited
};

struct ChildResult {
  bool exited = false;     // exited normally (not killed or timed out)
  int exit_code = -1;
  int signal = 0;
  bool timed_out = false;
  // From wait4: the child and the descendants it waited for (g++ and its cc1plus).
  uint64_t peak_rss_kib = 0;  // ru_maxrss: the largest of them
  double user_s = 0;          // ru_utime, summed
  double sys_s = 0;           // ru_stime, summed
  double wall_s = 0;
  std::string error;                          // why it failed to start, if it did
  std::string output;                         // stdout (the first 4 MiB), when captured
  std::map<std::string, std::string> fields;  // the hakmem_bench_result line
  bool has_result_line = false;
};

// One started child. Its stdin is /dev/null, and it gets
// SIGKILL if the runner dies first (PR_SET_PDEATHSIG); the destructor kills and
// reaps a child that is still running, so no early return leaves one behind.
class Child {
 public:
  Child() = default;
  ~Child();
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  // Starts argv with the environment of this process, LD_PRELOAD replaced by
  // spec.preload (removed when empty) plus extra_env. False (with *error) if the
  // program could not be started.
  bool Start(const ChildSpec& spec, std::string* error);

  // True while the child has not exited (it is not reaped by this check).
  bool Running() const;
  void Signal(int sig) const;

  // Reads stdout to EOF and waits for the exit, for at most max_wait_s (< 0:
  // until spec.timeout_s after the start); a child still running then is killed
  // and reported as timed out.
  ChildResult Wait(double max_wait_s = -1);

 private:
  using Clock = std::chrono::steady_clock;
  void KillAndReap();

  pid_t pid_ = -1;
  int out_fd_ = -1;  // stdout pipe, while it is open
  int pid_fd_ = -1;  // pidfd: poll() wakes when the child exits
  Clock::time_point start_;
  double timeout_s_ = 0;
};

// Start + Wait.
ChildResult RunChild(const ChildSpec& spec);

// Why a finished child's run cannot count: it did not start, timed out or was
// killed by a signal. "" if it exited on its own (with any exit code).
std::string ChildFailure(const ChildResult& c);

// Parses "<tag> k=v k=v ..." (values %XX-escaped) into *fields. False if the
// line does not start with the word tag.
bool ParseTaggedLine(const std::string& line, const std::string& tag,
                     std::map<std::string, std::string>* fields);

// ParseTaggedLine for the workload's "hakmem_bench_result" line.
bool ParseResultLine(const std::string& line, std::map<std::string, std::string>* fields);

}  // namespace hakmem_bench

#endif  // HAKMEM_BENCH_RUNNER_CHILD_H_
