// Time the hypervisor gave to other guests while this VM's CPUs wanted to run
// ("steal" in /proc/stat). On a shared VM it is the largest source of noise in
// a timed run: on the 2-core Xeon VM, alloc_test_1t under hakmem ran at 24-27
// M ops/s in runs that lost under 9% of the machine's CPU time and at 13-19 M
// in runs that lost 14-23%. The runner repeats a run that lost too much
// (main.cc).
#ifndef HAKMEM_BENCH_RUNNER_STEAL_H_
#define HAKMEM_BENCH_RUNNER_STEAL_H_

#include <string>

namespace hakmem_bench {

// Seconds stolen from all CPUs together since boot, from the text of
// /proc/stat (its first, "cpu " line); 0 if the kernel reports none.
double StealSecondsIn(const std::string& proc_stat, long ticks_per_second);

// StealSecondsIn of this machine's /proc/stat now.
double StealSecondsNow();

// The share of the machine's CPU time stolen during a run: `stolen_s` seconds
// over `wall_s` seconds of all `cpus` CPUs; 0 for an empty run.
double StealShare(double stolen_s, double wall_s, int cpus);

}  // namespace hakmem_bench

#endif  // HAKMEM_BENCH_RUNNER_STEAL_H_
