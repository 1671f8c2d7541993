// The machine and the software a report was measured with (the JSON report's
// "host" section, bench/README.md).
#ifndef HAKMEM_BENCH_RUNNER_HOST_H_
#define HAKMEM_BENCH_RUNNER_HOST_H_

#include <map>
#include <string>
#include <vector>

#include "bench/runner/allocators.h"

namespace hakmem_bench {

struct Host {
  std::string cpu_model = "unknown";  // /proc/cpuinfo "model name"
  int cpus = 0;                       // online CPUs
  std::string kernel = "unknown";     // uname -r
  std::string machine = "unknown";    // uname -m
  std::string glibc = "unknown";      // gnu_get_libc_version()
  std::string hakmem_commit = "unknown";  // git commit; "-dirty" when the tree has changes
  // Allocator name -> version: hakmem's commit, the Debian package version of
  // each peer (glibc: libc6's), "unknown" when it cannot be found.
  std::map<std::string, std::string> allocator_versions;
  // Program (app_* and valgrind) -> the Debian package version it came from.
  std::map<std::string, std::string> program_versions;
};

// Fills Host for these allocators. hakmem_commit: the --hakmem_commit flag; if
// empty, `git rev-parse HEAD` in $BUILD_WORKSPACE_DIRECTORY (set by bazel run).
// programs: program name -> Debian package, for program_versions.
Host CollectHost(const std::vector<Allocator>& allocators, const std::string& hakmem_commit,
                 const std::map<std::string, std::string>& programs);

// One line for the table and the markdown, e.g. "AMD EPYC, 2 CPUs, Linux
// 6.1.0 x86_64, glibc 2.36, hakmem 5610172".
std::string HostLine(const Host& h);

}  // namespace hakmem_bench

#endif  // HAKMEM_BENCH_RUNNER_HOST_H_
