#include "bench/runner/child.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <sstream>

extern char** environ;

namespace hakmem_bench {
namespace {

constexpr size_t kMaxOutput = 4 << 20;

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Undoes the workload's %XX escaping (identify.h).
std::string Unescape(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && HexDigit(s[i + 1]) >= 0 && HexDigit(s[i + 2]) >= 0) {
      out += static_cast<char>(HexDigit(s[i + 1]) * 16 + HexDigit(s[i + 2]));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

std::vector<std::string> BuildEnv(const ChildSpec& spec) {
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string kv = *e;
    const std::string key = kv.substr(0, kv.find('='));
    if (key == "LD_PRELOAD" || spec.extra_env.count(key) > 0) continue;
    env.push_back(kv);
  }
  if (!spec.preload.empty()) env.push_back("LD_PRELOAD=" + spec.preload);
  for (const auto& [k, v] : spec.extra_env) env.push_back(k + "=" + v);
  return env;
}

std::vector<char*> CStrings(std::vector<std::string>& v) {
  std::vector<char*> out;
  for (auto& s : v) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

double Seconds(const timeval& tv) { return static_cast<double>(tv.tv_sec) + tv.tv_usec / 1e6; }

void CloseFd(int* fd) {
  if (*fd >= 0) close(*fd);
  *fd = -1;
}

}  // namespace

bool ParseResultLine(const std::string& line, std::map<std::string, std::string>* fields) {
  return ParseTaggedLine(line, "hakmem_bench_result", fields);
}

bool ParseTaggedLine(const std::string& line, const std::string& tag,
                     std::map<std::string, std::string>* fields) {
  std::istringstream in(line);
  std::string word;
  if (!(in >> word) || word != tag) return false;
  while (in >> word) {
    const size_t eq = word.find('=');
    if (eq == std::string::npos) continue;
    (*fields)[word.substr(0, eq)] = Unescape(word.substr(eq + 1));
  }
  return true;
}

Child::~Child() {
  if (pid_ > 0) KillAndReap();
  CloseFd(&out_fd_);
  CloseFd(&pid_fd_);
}

void Child::KillAndReap() {
  kill(pid_, SIGKILL);
  while (waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
  }
  pid_ = -1;
}

bool Child::Start(const ChildSpec& spec, std::string* error) {
  std::vector<std::string> argv_s = spec.argv;
  std::vector<std::string> env_s = BuildEnv(spec);
  std::vector<char*> argv = CStrings(argv_s);
  std::vector<char*> envp = CStrings(env_s);
  timeout_s_ = spec.timeout_s;

  // Everything the child needs is opened here: between fork and exec it only
  // calls async-signal-safe functions.
  const int in_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  const int err_fd = spec.quiet ? open("/dev/null", O_WRONLY | O_CLOEXEC) : -1;
  int out[2] = {-1, -1};
  if (spec.stdout_path.empty()) {
    if (pipe2(out, O_CLOEXEC) != 0) out[0] = out[1] = -1;
  } else {
    out[1] = open(spec.stdout_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  }
  int exec_err[2] = {-1, -1};
  if (in_fd < 0 || out[1] < 0 || pipe2(exec_err, O_CLOEXEC) != 0) {
    *error = std::string("cannot set up ") + spec.argv[0] + ": " + strerror(errno);
    for (int fd : {in_fd, err_fd, out[0], out[1], exec_err[0], exec_err[1]}) {
      if (fd >= 0) close(fd);
    }
    return false;
  }

  const pid_t parent = getpid();
  start_ = Clock::now();
  const pid_t pid = fork();
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);  // the runner is already gone
    dup2(in_fd, STDIN_FILENO);
    dup2(out[1], STDOUT_FILENO);
    if (err_fd >= 0) dup2(err_fd, STDERR_FILENO);
    execve(argv[0], argv.data(), envp.data());
    const int e = errno;
    (void)!write(exec_err[1], &e, sizeof e);
    _exit(127);
  }
  const int fork_errno = errno;
  close(in_fd);
  if (err_fd >= 0) close(err_fd);
  close(out[1]);
  close(exec_err[1]);
  if (pid < 0) {
    close(exec_err[0]);
    if (out[0] >= 0) close(out[0]);
    *error = std::string("fork: ") + strerror(fork_errno);
    return false;
  }
  int child_errno = 0;
  ssize_t got;
  while ((got = read(exec_err[0], &child_errno, sizeof child_errno)) < 0 && errno == EINTR) {
  }
  close(exec_err[0]);
  pid_ = pid;
  if (got == static_cast<ssize_t>(sizeof child_errno)) {
    if (out[0] >= 0) close(out[0]);
    KillAndReap();
    *error = "cannot start " + spec.argv[0] + ": " + strerror(child_errno);
    return false;
  }
  out_fd_ = out[0];
  // -1 before Linux 5.3: Wait then looks every 2 ms.
  pid_fd_ = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  return true;
}

bool Child::Running() const {
  if (pid_ <= 0) return false;
  siginfo_t info{};
  return waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOHANG | WNOWAIT) == 0 &&
         info.si_pid == 0;
}

void Child::Signal(int sig) const {
  if (pid_ > 0) kill(pid_, sig);
}

ChildResult Child::Wait(double max_wait_s) {
  ChildResult r;
  if (pid_ <= 0) {
    r.error = "no child to wait for";
    return r;
  }
  auto deadline = start_ + std::chrono::duration_cast<Clock::duration>(
                               std::chrono::duration<double>(timeout_s_));
  if (max_wait_s >= 0) {
    deadline = std::min(deadline, Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                                     std::chrono::duration<double>(max_wait_s)));
  }
  // Until stdout is closed and the process has exited, or the deadline.
  for (;;) {
    if (out_fd_ < 0 && !Running()) break;
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) {
      r.timed_out = true;
      kill(pid_, SIGKILL);
      break;
    }
    pollfd p[2];
    nfds_t n = 0;
    if (out_fd_ >= 0) p[n++] = {out_fd_, POLLIN, 0};
    if (pid_fd_ >= 0) p[n++] = {pid_fd_, POLLIN, 0};
    // Without a pidfd an exit is noticed by looking again every 2 ms.
    const int64_t cap = pid_fd_ >= 0 ? 1000 : 2;
    const int ready = poll(p, n, static_cast<int>(std::min<int64_t>(left.count(), cap)));
    if (ready < 0 && errno != EINTR) break;
    if (ready <= 0 || out_fd_ < 0 || (p[0].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
    char buf[4096];
    const ssize_t got = read(out_fd_, buf, sizeof buf);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) {
      CloseFd(&out_fd_);
    } else if (r.output.size() < kMaxOutput) {
      r.output.append(buf, static_cast<size_t>(got));
    }
  }
  CloseFd(&out_fd_);
  CloseFd(&pid_fd_);

  int status = 0;
  rusage usage{};
  while (wait4(pid_, &status, 0, &usage) < 0 && errno == EINTR) {
  }
  pid_ = -1;
  r.wall_s = std::chrono::duration<double>(Clock::now() - start_).count();
  r.peak_rss_kib = static_cast<uint64_t>(usage.ru_maxrss);
  r.user_s = Seconds(usage.ru_utime);
  r.sys_s = Seconds(usage.ru_stime);
  if (WIFEXITED(status)) {
    r.exited = !r.timed_out;
    r.exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    r.signal = WTERMSIG(status);
  }

  std::istringstream lines(r.output);
  std::string line;
  while (std::getline(lines, line)) {
    if (ParseResultLine(line, &r.fields)) r.has_result_line = true;
  }
  return r;
}

std::string ChildFailure(const ChildResult& c) {
  if (!c.error.empty()) return c.error;
  if (c.timed_out) {
    char buf[64];
    snprintf(buf, sizeof buf, "timed out after %.1f s (--timeout)", c.wall_s);
    return buf;
  }
  if (c.signal != 0) {
    return "killed by signal " + std::to_string(c.signal) + " (" + strsignal(c.signal) + ")";
  }
  return "";
}

ChildResult RunChild(const ChildSpec& spec) {
  Child child;
  ChildResult r;
  if (!child.Start(spec, &r.error)) return r;
  return child.Wait();
}

}  // namespace hakmem_bench
