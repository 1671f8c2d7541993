#include "bench/runner/app_redis.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <sstream>
#include <vector>

#include "bench/runner/scratch.h"

namespace hakmem_bench {
namespace {

// The tests redis-benchmark runs, as it names them in its CSV output.
constexpr const char* kTests[] = {"SET", "GET", "LPUSH", "LPOP", "INCR"};
constexpr char kTestList[] = "set,get,lpush,lpop,incr";
constexpr int kClients = 50;
constexpr double kRequests = 100000;  // per test, at --app_scale=1
constexpr double kStartSeconds = 10;  // for the server to accept connections
constexpr double kStopSeconds = 10;   // for it to exit after SHUTDOWN

long Requests(double scale) { return std::max(1000L, std::lround(kRequests * scale)); }

// A TCP socket connected to 127.0.0.1:port, or -1.
int Connect(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

// A port on 127.0.0.1 that was free a moment ago: the kernel picks it for a
// socket bound to port 0, which is then closed for the server to bind.
int FreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  int port = -1;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  close(fd);
  return port;
}

void SleepMs(int ms) {
  timespec ts{0, ms * 1000000L};
  nanosleep(&ts, nullptr);
}

// Waits until the server accepts a connection; "" or why it did not.
std::string WaitUntilReady(const Child& server, int port) {
  const auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                            std::chrono::duration<double>(kStartSeconds));
  while (std::chrono::steady_clock::now() < deadline) {
    if (!server.Running()) return "redis-server exited at start";
    const int fd = Connect(port);
    if (fd >= 0) {
      close(fd);
      return "";
    }
    SleepMs(10);
  }
  return "redis-server did not accept connections within 10 s";
}

// Sends SHUTDOWN NOSAVE; false if the server could not be reached.
bool SendShutdown(int port) {
  const int fd = Connect(port);
  if (fd < 0) return false;
  static const char kCommand[] = "*2\r\n$8\r\nSHUTDOWN\r\n$6\r\nNOSAVE\r\n";
  const bool sent = write(fd, kCommand, sizeof kCommand - 1) == sizeof kCommand - 1;
  close(fd);
  return sent;
}

// redis-benchmark --csv: "test","rps",... per test. Fills details with each
// test's requests/s; "" if every test in kTests is there with a rate > 0.
std::string ParseBenchmark(const std::string& csv, std::map<std::string, double>* details) {
  std::istringstream lines(csv);
  std::string line;
  while (std::getline(lines, line)) {
    std::vector<std::string> cells;
    std::istringstream in(line);
    std::string cell;
    while (std::getline(in, cell, ',')) {
      cell.erase(std::remove(cell.begin(), cell.end(), '"'), cell.end());
      cells.push_back(cell);
    }
    if (cells.size() >= 2 && cells[0] != "test") (*details)[cells[0]] = atof(cells[1].c_str());
  }
  for (const char* test : kTests) {
    const auto it = details->find(test);
    if (it == details->end() || !(it->second > 0)) {
      return std::string("redis-benchmark reported no rate for ") + test;
    }
  }
  return "";
}

// The last line of redis-server's log, for an error message.
std::string LastLogLine(const std::string& path) {
  std::string text;
  if (!ReadFile(path, &text)) return "";
  while (!text.empty() && text.back() == '\n') text.pop_back();
  const size_t nl = text.rfind('\n');
  return " (log: " + text.substr(nl == std::string::npos ? 0 : nl + 1) + ")";
}

}  // namespace

std::string RedisDescription(const AppEnv& env) {
  return "redis-server on 127.0.0.1 (no persistence), redis-benchmark -n " +
         std::to_string(Requests(env.scale)) + " -c " + std::to_string(kClients) + " -t " +
         kTestList + "; rate: mean requests/s of the tests";
}

Run RunRedis(const AppEnv& env, const Allocator& a, double nominal_s, int round) {
  Run r;
  r.round = round;
  ScratchDir dir;
  if (!dir.ok()) {
    r.error = dir.error();
    return r;
  }
  const int port = FreePort();
  if (port <= 0) {
    r.error = "no free port on 127.0.0.1";
    return r;
  }
  const std::string identify = dir.File("identify.txt");
  const std::string log = dir.File("redis.log");
  ChildSpec server_spec;
  server_spec.argv = {kRedisServer, "--bind", "127.0.0.1", "--port", std::to_string(port),
                      "--save", "", "--appendonly", "no", "--daemonize", "no",
                      "--dir", dir.path(), "--logfile", log};
  server_spec.preload = AppPreload(env, a);
  server_spec.extra_env = {{"BENCH_IDENTIFY_FILE", identify}};
  server_spec.stdout_path = dir.File("redis.stdout");
  server_spec.timeout_s = AppTimeout(env, nominal_s);

  Child server;  // killed and reaped on every return below, if still running
  if (!server.Start(server_spec, &r.error)) return r;
  if (std::string bad = WaitUntilReady(server, port); !bad.empty()) {
    r.error = bad + LastLogLine(log);
    return r;
  }

  ChildSpec bench;
  bench.argv = {kRedisBenchmark, "-h", "127.0.0.1", "-p", std::to_string(port),
                "-n", std::to_string(Requests(env.scale)), "-c", std::to_string(kClients),
                "-t", kTestList, "--csv"};
  bench.timeout_s = server_spec.timeout_s;
  const ChildResult b = RunChild(bench);

  if (!SendShutdown(port)) server.Signal(SIGTERM);
  const ChildResult s = server.Wait(kStopSeconds);
  TakeUsage(s, &r);
  if (std::string bad = ChildFailure(b); !bad.empty()) {
    r.error = "redis-benchmark: " + bad;
  } else if (b.exit_code != 0) {
    r.error = "redis-benchmark exit code " + std::to_string(b.exit_code) + LastLogLine(log);
  } else if (std::string bad = ParseBenchmark(b.output, &r.details); !bad.empty()) {
    r.error = bad;
  } else if (std::string bad = ChildFailure(s); !bad.empty()) {
    r.error = "redis-server: " + bad;
  } else if (s.exit_code != 0) {
    r.error = "redis-server exit code " + std::to_string(s.exit_code) + LastLogLine(log);
  } else if (std::string bad = CheckIdentifyFile(identify, a, &r.processes, &r.malloc_lib);
             !bad.empty()) {
    r.error = "refused: " + bad;
  } else {
    double sum = 0;
    for (const char* test : kTests) sum += r.details[test];
    r.rate = sum / (sizeof kTests / sizeof kTests[0]);
    r.ok = true;
  }
  return r;
}

}  // namespace hakmem_bench
