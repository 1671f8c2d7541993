// --instructions: a CPU-independent figure for single-thread workloads. The
// workload runs once per allocator under `valgrind --tool=callgrind` with a fixed
// op count; instructions per op = callgrind's total Ir / the ops the workload
// reports (bench/README.md, "Instruction counts").
#ifndef HAKMEM_BENCH_RUNNER_INSTRUCTIONS_H_
#define HAKMEM_BENCH_RUNNER_INSTRUCTIONS_H_

#include <cstdint>
#include <string>

#include "bench/runner/child.h"

namespace hakmem_bench {

constexpr char kValgrind[] = "/usr/bin/valgrind";
// Ops per run under callgrind when --ops is not given.
constexpr uint64_t kDefaultInstructionOps = 200000;

// The same child under callgrind: its output file and valgrind's own messages
// go to dir (callgrind.out, valgrind.log); LD_PRELOAD still picks the allocator
// (callgrind does not replace malloc).
ChildSpec UnderCallgrind(const ChildSpec& spec, const std::string& dir);

// The total Ir from dir/callgrind.out ("totals:" or "summary:" line). False,
// with *error (including valgrind's first complaint, if any), when there is none.
bool ReadInstructions(const std::string& dir, uint64_t* instructions, std::string* error);

}  // namespace hakmem_bench

#endif  // HAKMEM_BENCH_RUNNER_INSTRUCTIONS_H_
