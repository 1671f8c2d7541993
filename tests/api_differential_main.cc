// The differential API test (api_differential.h) as a program, to run for as
// long as you like: round after round of random sequences, each round with a
// fresh random seed (or --seed=S for one given seed). It prints every round's
// seed and summary; on a failure, the FAILURE reports (seed, sequence,
// operation, the replay command) and exits 1.
//
//   bazel run //tests:api_differential_main -- --rounds=0          # until a failure
//   bazel run //tests:api_differential_main -- --seed=S --first=N --sequences=1 --threads=1
//
// Linked with //preload:hakmem: malloc and operator new are hakmem's.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cstdint>
#include <random>

#include "tests/api_differential.h"

int main(int argc, char** argv) {
  hakmem::test::DiffConfig config;
  config.sequences = 20000;
  uint64_t rounds = 1;
  bool fixed_seed = false;
  for (int i = 1; i < argc; ++i) {
    if (strncmp(argv[i], "--rounds=", 9) == 0) {
      rounds = strtoull(argv[i] + 9, nullptr, 0);
      continue;
    }
    if (!hakmem::test::ParseDiffFlag(argv[i], &config)) {
      fprintf(stderr,
              "usage: api_differential_main [flags]\n"
              "  --rounds=R        rounds to run, 0 = until a failure (default 1); each\n"
              "                    round takes a fresh random seed unless --seed is given\n"
              "  (--sequences defaults to 20000 here)\n%s",
              hakmem::test::kDiffFlagsHelp);
      return 2;
    }
    fixed_seed |= strncmp(argv[i], "--seed=", 7) == 0;
  }
  std::random_device entropy;
  for (uint64_t round = 1; rounds == 0 || round <= rounds; ++round) {
    if (!fixed_seed) config.seed = (uint64_t{entropy()} << 32) ^ entropy();
    printf("round %llu: seed %#llx\n", static_cast<unsigned long long>(round),
           static_cast<unsigned long long>(config.seed));
    fflush(stdout);
    const hakmem::test::DiffResult r = hakmem::test::RunDifferential(config);
    hakmem::test::PrintSummary(stdout, config, r);
    fflush(stdout);
    if (r.failures != 0 || r.rejected_frees != 0 || r.blocks_left != 0) {
      printf("FAILED with seed %#llx (the reports above name the sequences)\n",
             static_cast<unsigned long long>(config.seed));
      return 1;
    }
  }
  return 0;
}
