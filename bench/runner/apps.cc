#include "bench/runner/apps.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <sstream>

#include "bench/runner/app_redis.h"
#include "bench/runner/child.h"
#include "bench/runner/families.h"
#include "bench/runner/scratch.h"

namespace hakmem_bench {
namespace {

// How a run's result is judged.
enum class Check {
  kSameOutput,  // stdout equal, byte for byte, to the glibc reference run's
  kObjectFile,  // exit 0 and a non-empty object file (object bytes are not compared)
  kRedis,       // app_redis.cc: every redis-benchmark test succeeded
};

struct AppDef {
  const char* name;
  const char* program;
  const char* package;  // Debian's
  const char* metric;   // unit of Run::rate
  Check check;
  double nominal_s;  // one run at --app_scale=1 on glibc, about (2-core EPYC VM)
};

constexpr AppDef kApps[] = {
    {"app_python", "/usr/bin/python3", "python3", "runs/s", Check::kSameOutput, 2.2},
    {"app_sqlite_mem", "/usr/bin/sqlite3", "sqlite3", "runs/s", Check::kSameOutput, 2.0},
    {"app_sqlite_file", "/usr/bin/sqlite3", "sqlite3", "runs/s", Check::kSameOutput, 2.4},
    {"app_gxx", "/usr/bin/g++", "g++", "runs/s", Check::kObjectFile, 3.5},
    {"app_redis", "/usr/bin/redis-server", "redis-server", "requests/s", Check::kRedis, 10.0},
};

// The SQL load's row count at --app_scale=1 (bench/apps/sqlite_load.sql).
constexpr double kSqliteRows = 250000;

const AppDef* Find(const std::string& name) {
  for (const auto& a : kApps) {
    if (name == a.name) return &a;
  }
  return nullptr;
}

std::string Scale(double scale) {
  char buf[32];
  snprintf(buf, sizeof buf, "%g", scale);
  return buf;
}

long SqliteRows(double scale) { return std::max(600L, std::lround(kSqliteRows * scale)); }

// The command line of a run-to-completion app; it writes only under dir.
std::vector<std::string> Argv(const AppDef& app, const AppEnv& env, const std::string& dir) {
  const std::string name = app.name;
  if (name == "app_python") {
    return {app.program, "-s", "-B", env.data_dir + "/python_load.py", Scale(env.scale)};
  }
  if (name == "app_gxx") {
    return {app.program, "-std=c++17", "-O2", "-c", env.data_dir + "/gxx_load.cc",
            "-o", dir + "/gxx_load.o"};
  }
  const std::string db = name == "app_sqlite_file" ? dir + "/load.db" : ":memory:";
  return {app.program, "-bail", "-batch", db,
          ".parameter set @rows " + std::to_string(SqliteRows(env.scale)),
          ".read " + env.data_dir + "/sqlite_load.sql"};
}

std::string Describe(const AppDef& app, const AppEnv& env) {
  const std::string name = app.name;
  if (name == "app_python") {
    return "python3 bench/apps/python_load.py (objects, dicts, strings, lists), scale " +
           Scale(env.scale);
  }
  if (name == "app_gxx") return "g++ -std=c++17 -O2 -c bench/apps/gxx_load.cc (templates, STL)";
  if (name == "app_redis") return RedisDescription(env);
  return std::string("sqlite3 ") + (name == "app_sqlite_file" ? "on a file" : "in memory") +
         ", bench/apps/sqlite_load.sql with @rows=" + std::to_string(SqliteRows(env.scale)) +
         " (inserts, indexes, joins, group-by, updates)";
}

// Where two outputs first differ, for the error message.
std::string FirstDifference(const std::string& got, const std::string& want) {
  size_t i = 0;
  while (i < got.size() && i < want.size() && got[i] == want[i]) ++i;
  const size_t line_start = got.rfind('\n', i == 0 ? 0 : i - 1);
  const size_t from = line_start == std::string::npos || i == 0 ? 0 : line_start + 1;
  std::string excerpt = got.substr(from, 60);
  for (char& c : excerpt) {
    if (c == '\n') c = ' ';
  }
  return "output differs from the glibc run at byte " + std::to_string(i) + " (" +
         std::to_string(got.size()) + " bytes, expected " + std::to_string(want.size()) +
         "): \"" + excerpt + "\"";
}

// One run of a run-to-completion app. With reference == nullptr the output is
// not compared (the reference run itself).
Run RunProgram(const AppEnv& env, const AppDef& app, const Allocator& a,
               const std::string* reference, int round, std::string* output) {
  Run r;
  r.round = round;
  ScratchDir dir;
  if (!dir.ok()) {
    r.error = dir.error();
    return r;
  }
  const std::string identify = dir.File("identify.txt");
  ChildSpec spec;
  spec.argv = Argv(app, env, dir.path());
  spec.preload = AppPreload(env, a);
  spec.extra_env = {{"BENCH_IDENTIFY_FILE", identify},
                    {"TMPDIR", dir.path()},
                    {"SQLITE_TMPDIR", dir.path()},
                    {"PYTHONHASHSEED", "0"},
                    {"LC_ALL", "C"}};
  spec.timeout_s = AppTimeout(env, app.nominal_s);
  const ChildResult c = RunChild(spec);
  TakeUsage(c, &r);
  if (output != nullptr) *output = c.output;
  struct stat st {};
  if (std::string bad = ChildFailure(c); !bad.empty()) {
    r.error = bad;
  } else if (c.exit_code != 0) {
    r.error = "exit code " + std::to_string(c.exit_code);
  } else if (std::string bad = CheckIdentifyFile(identify, a, &r.processes, &r.malloc_lib);
             !bad.empty()) {
    r.error = "refused: " + bad;
  } else if (app.check == Check::kObjectFile &&
             (stat(dir.File("gxx_load.o").c_str(), &st) != 0 || st.st_size == 0)) {
    r.error = "g++ exited 0 but wrote no gxx_load.o";
  } else if (app.check == Check::kSameOutput && reference != nullptr && c.output != *reference) {
    r.error = FirstDifference(c.output, *reference);
  } else {
    r.ok = true;
    r.rate = c.wall_s > 0 ? 1.0 / c.wall_s : 0;
  }
  return r;
}

Allocator Glibc() { return {"glibc", "", false, "libc6"}; }

}  // namespace

bool IsApp(const std::string& name) { return Find(name) != nullptr; }

std::vector<std::string> AppNames() {
  std::vector<std::string> out;
  for (const auto& a : kApps) out.push_back(a.name);
  return out;
}

Experiment AppExperiment(const std::string& name, const AppEnv& env) {
  const AppDef& app = *Find(name);
  Experiment e;
  e.name = name;
  e.workload = name;
  e.kind = Kind::kApp;
  e.family = FamilyOf(name);
  e.metric = app.metric;
  e.threads = 1;
  e.app_description = Describe(app, env);
  return e;
}

std::pair<std::string, std::string> AppProgram(const std::string& name) {
  const AppDef& app = *Find(name);
  std::string program = app.program;
  return {program.substr(program.rfind('/') + 1), app.package};
}

double AppNominalSeconds(const std::string& name) { return Find(name)->nominal_s; }

std::string AppMissing(const std::string& name) {
  const AppDef& app = *Find(name);
  std::vector<std::string> needed = {app.program};
  if (app.check == Check::kRedis) needed.push_back(kRedisBenchmark);
  for (const auto& p : needed) {
    if (access(p.c_str(), X_OK) != 0) return p + " is not installed (tools/setup.sh installs it)";
  }
  return "";
}

std::string PrepareApp(const AppEnv& env, const Experiment& e, std::string* reference) {
  const AppDef& app = *Find(e.name);
  if (app.check == Check::kRedis) return "";
  const Run r = RunProgram(env, app, Glibc(), nullptr, 0, reference);
  return r.ok ? "" : "the reference run on glibc failed: " + r.error;
}

Run RunApp(const AppEnv& env, const Experiment& e, const Allocator& a,
           const std::string& reference, int round) {
  const AppDef& app = *Find(e.name);
  if (app.check == Check::kRedis) return RunRedis(env, a, app.nominal_s, round);
  return RunProgram(env, app, a, &reference, round, nullptr);
}

std::string AppPreload(const AppEnv& env, const Allocator& a) {
  return (a.preload.empty() ? env.libc : a.preload) + ":" + env.identify_so;
}

std::string CheckIdentifyFile(const std::string& path, const Allocator& a, int* processes,
                              std::string* malloc_lib) {
  *processes = 0;
  std::string text;
  if (!ReadFile(path, &text) || text.empty()) {
    return "no process reported its allocator (identify_preload wrote nothing)";
  }
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    std::map<std::string, std::string> f;
    if (!ParseTaggedLine(line, "identify", &f)) continue;
    ++*processes;
    if (malloc_lib->empty()) *malloc_lib = f["malloc_lib"];
    for (const char* key : {"malloc_lib", "free_lib"}) {
      if (std::string bad = CheckLibrary(a, key, f[key]); !bad.empty()) {
        return f["exe"] + " (pid " + f["pid"] + "): " + bad;
      }
    }
  }
  return *processes > 0 ? "" : "no identify line in " + path;
}

double AppTimeout(const AppEnv& env, double nominal_s) {
  return env.timeout_s > 0 ? env.timeout_s : 10 * nominal_s + 60;
}

}  // namespace hakmem_bench
