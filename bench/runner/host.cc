#include "bench/runner/host.h"

#include <gnu/libc-version.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "bench/runner/child.h"

namespace hakmem_bench {
namespace {

constexpr char kGit[] = "/usr/bin/git";
constexpr char kDpkgQuery[] = "/usr/bin/dpkg-query";

std::string Trim(const std::string& s) {
  const size_t b = s.find_first_not_of(" \t\r\n");
  const size_t e = s.find_last_not_of(" \t\r\n");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

std::string CpuModel() {
  std::ifstream f("/proc/cpuinfo");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("model name", 0) == 0 && line.find(':') != std::string::npos) {
      return Trim(line.substr(line.find(':') + 1));
    }
  }
  return "unknown";
}

// stdout of a helper program, or "" if it failed; its stderr is dropped.
std::string Output(std::vector<std::string> argv, bool* exited_zero = nullptr) {
  if (access(argv[0].c_str(), X_OK) != 0) return "";
  ChildSpec spec;
  spec.argv = std::move(argv);
  spec.quiet = true;
  spec.timeout_s = 30;
  const ChildResult c = RunChild(spec);
  if (exited_zero != nullptr) *exited_zero = c.exited && c.exit_code == 0;
  return c.exited ? c.output : "";
}

std::string GitCommit() {
  const char* ws = getenv("BUILD_WORKSPACE_DIRECTORY");
  if (ws == nullptr || ws[0] == '\0') return "unknown";
  bool ok = false;
  const std::string head = Trim(Output({kGit, "-C", ws, "rev-parse", "HEAD"}, &ok));
  if (!ok || head.empty()) return "unknown";
  const std::string changes =
      Output({kGit, "-C", ws, "status", "--porcelain", "--untracked-files=no"}, &ok);
  return ok && !Trim(changes).empty() ? head + "-dirty" : head;
}

// Package -> version, for those installed (one dpkg-query for all of them).
std::map<std::string, std::string> DebianVersions(const std::vector<std::string>& packages) {
  std::map<std::string, std::string> out;
  if (packages.empty()) return out;
  std::vector<std::string> argv = {kDpkgQuery, "-W", "-f=${Package}\t${Version}\t${db:Status-Status}\n"};
  argv.insert(argv.end(), packages.begin(), packages.end());
  std::istringstream lines(Output(argv));
  std::string line;
  while (std::getline(lines, line)) {
    std::istringstream fields(line);
    std::string package, version, status;
    if (std::getline(fields, package, '\t') && std::getline(fields, version, '\t') &&
        std::getline(fields, status) && status == "installed") {
      out[package] = version;
    }
  }
  return out;
}

}  // namespace

Host CollectHost(const std::vector<Allocator>& allocators, const std::string& hakmem_commit,
                 const std::map<std::string, std::string>& programs) {
  Host h;
  h.cpu_model = CpuModel();
  h.cpus = static_cast<int>(sysconf(_SC_NPROCESSORS_ONLN));
  utsname u{};
  if (uname(&u) == 0) {
    h.kernel = u.release;
    h.machine = u.machine;
  }
  h.glibc = gnu_get_libc_version();
  h.hakmem_commit = hakmem_commit.empty() ? GitCommit() : hakmem_commit;

  std::vector<std::string> packages;
  for (const auto& a : allocators) {
    if (!a.package.empty()) packages.push_back(a.package);
  }
  for (const auto& [program, package] : programs) packages.push_back(package);
  const auto versions = DebianVersions(packages);
  auto version_of = [&](const std::string& package) {
    const auto it = versions.find(package);
    return it == versions.end() ? std::string("unknown") : it->second;
  };
  for (const auto& a : allocators) {
    h.allocator_versions[a.name] = a.subject ? h.hakmem_commit : version_of(a.package);
  }
  for (const auto& [program, package] : programs) h.program_versions[program] = version_of(package);
  return h;
}

std::string HostLine(const Host& h) {
  std::string commit = h.hakmem_commit;
  if (commit != "unknown" && commit.size() > 12) {
    const bool dirty = commit.size() > 6 && commit.compare(commit.size() - 6, 6, "-dirty") == 0;
    commit = commit.substr(0, 12) + (dirty ? "-dirty" : "");
  }
  return h.cpu_model + ", " + std::to_string(h.cpus) + " CPUs, Linux " + h.kernel + " " +
         h.machine + ", glibc " + h.glibc + ", hakmem " + commit;
}

}  // namespace hakmem_bench
