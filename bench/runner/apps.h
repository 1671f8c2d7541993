// App experiments (app_*): real programs run under each allocator as children
// of the runner, with LD_PRELOAD of the allocator and of //bench:identify_preload,
// timed (wall, user+sys) with their peak RSS, their output checked against a
// run on glibc, and every process they start proven to have used the allocator.
// bench/README.md, "App experiments", describes each one.
#ifndef HAKMEM_BENCH_RUNNER_APPS_H_
#define HAKMEM_BENCH_RUNNER_APPS_H_

#include <map>
#include <string>
#include <vector>

#include "bench/runner/allocators.h"
#include "bench/runner/child.h"
#include "bench/runner/report.h"

namespace hakmem_bench {

struct AppEnv {
  std::string data_dir;     // bench/apps (the scripts and sources), from the runfiles
  std::string identify_so;  // libidentify_preload.so
  std::string libc;         // LibcPath(): what the glibc runs preload (see AppPreload)
  double scale = 1;         // --app_scale: fraction of each app's fixed load
  double timeout_s = 0;     // --timeout; 0: 10 x the app's nominal time + 60 s
};

bool IsApp(const std::string& name);
std::vector<std::string> AppNames();

// The experiment for app `name`: kind, family, metric, description.
Experiment AppExperiment(const std::string& name, const AppEnv& env);

// The program an app runs and its Debian package (for the report's host section).
std::pair<std::string, std::string> AppProgram(const std::string& name);

// About how long one run takes on glibc at --app_scale=1 (the runner's estimate).
double AppNominalSeconds(const std::string& name);

// "" if the app's program is installed; else why the app cannot run.
std::string AppMissing(const std::string& name);

// The untimed reference run on glibc (also a warm-up of the page cache): its
// output, which every timed run must reproduce, goes to *reference. Returns ""
// or why it failed.
std::string PrepareApp(const AppEnv& env, const Experiment& e, std::string* reference);

// One timed run of the app under allocator a.
Run RunApp(const AppEnv& env, const Experiment& e, const Allocator& a,
           const std::string& reference, int round);

// ---- shared by the app implementations (apps.cc, app_redis.cc) ----

// LD_PRELOAD for an app process: the allocator, then the identify library. The
// glibc runs preload libc.so.6 itself, so that glibc's malloc comes first in the
// lookup even in a program linked against another allocator (Debian's
// redis-server links libjemalloc.so.2).
std::string AppPreload(const AppEnv& env, const Allocator& a);

// Checks the lines identify_preload wrote to `path`: "" if there is at least
// one and each names a's library for malloc and free, else why not. Sets
// *processes to the number of lines and *malloc_lib to the first line's.
std::string CheckIdentifyFile(const std::string& path, const Allocator& a, int* processes,
                              std::string* malloc_lib);

// The timeout for one child of an app whose run takes about nominal_s.
double AppTimeout(const AppEnv& env, double nominal_s);

}  // namespace hakmem_bench

#endif  // HAKMEM_BENCH_RUNNER_APPS_H_
