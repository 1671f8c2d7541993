// app_redis: redis-server under the allocator, driven by redis-benchmark over
// loopback (bench/README.md, "App experiments").
#ifndef HAKMEM_BENCH_RUNNER_APP_REDIS_H_
#define HAKMEM_BENCH_RUNNER_APP_REDIS_H_

#include <string>

#include "bench/runner/apps.h"

namespace hakmem_bench {

constexpr char kRedisServer[] = "/usr/bin/redis-server";
constexpr char kRedisBenchmark[] = "/usr/bin/redis-benchmark";

// What one run does, e.g. "redis-server on 127.0.0.1, redis-benchmark -n 100000 ...".
std::string RedisDescription(const AppEnv& env);

// One run: starts redis-server (LD_PRELOAD of the allocator; no persistence;
// 127.0.0.1 on a port the kernel picked), waits until it accepts connections,
// runs redis-benchmark (not preloaded: only the server is measured) for a fixed
// request count, then stops the server with SHUTDOWN NOSAVE (SIGTERM if that
// cannot be sent, SIGKILL after 10 s) and waits for it. The server is never left running: the Child
// that holds it kills it on every early return, and it dies with the runner.
// Run::rate is the mean of the tests' requests/s; peak RSS and user+sys time
// are the server's.
Run RunRedis(const AppEnv& env, const Allocator& a, double nominal_s, int round);

}  // namespace hakmem_bench

#endif  // HAKMEM_BENCH_RUNNER_APP_REDIS_H_
