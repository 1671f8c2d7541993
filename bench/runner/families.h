// Which family of benchmarks an experiment belongs to: the report groups
// experiments by family (one chart panel each, bench/README.md "Families").
#ifndef HAKMEM_BENCH_RUNNER_FAMILIES_H_
#define HAKMEM_BENCH_RUNNER_FAMILIES_H_

#include <string>

namespace hakmem_bench {

// The family of a workload (//bench:workload --workload=...) or app experiment
// (app_*): e.g. "larson" for larson_sized, "cache" for cache_thrash and
// cache_scratch, "hakmem_own" for hakmem's own mid/tiny/large/larson/xthread/
// phase, "apps" for every app_*. A workload it does not know is its own family.
std::string FamilyOf(const std::string& workload);

}  // namespace hakmem_bench

#endif  // HAKMEM_BENCH_RUNNER_FAMILIES_H_
