// The soak as a program (tests/soak.h):
//   bazel run //tests:soak -- --threads=16 --seconds=60 [--seed=N]
// Prints a line every 10 s and a verdict; exits 0 on PASS, 1 on FAIL, 2 on bad flags.
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "tests/soak.h"

namespace {

// Parses --name=value into *out; false if arg is not that flag.
bool Flag(const char* arg, const char* name, const char** out) {
  const size_t n = std::strlen(name);
  if (std::strncmp(arg, "--", 2) != 0 || std::strncmp(arg + 2, name, n) != 0 || arg[2 + n] != '=') {
    return false;
  }
  *out = arg + 3 + n;
  return true;
}

int Usage(const char* arg) {
  std::fprintf(stderr, "soak: bad argument '%s'\nusage: soak [--threads=N] [--seconds=S] [--seed=N]\n",
               arg);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  hakmem_test::SoakConfig cfg;
  for (int i = 1; i < argc; ++i) {
    const char* v = nullptr;
    char* end = nullptr;
    if (Flag(argv[i], "threads", &v)) {
      cfg.threads = static_cast<int>(std::strtol(v, &end, 10));
      if (*end != '\0' || cfg.threads < 1 || cfg.threads > 1024) return Usage(argv[i]);
    } else if (Flag(argv[i], "seconds", &v)) {
      cfg.seconds = std::strtod(v, &end);
      if (*end != '\0' || !(cfg.seconds >= 1 && cfg.seconds <= 86400)) return Usage(argv[i]);
    } else if (Flag(argv[i], "seed", &v)) {
      cfg.seed = std::strtoull(v, &end, 10);
      if (*end != '\0') return Usage(argv[i]);
    } else {
      return Usage(argv[i]);
    }
  }
  return hakmem_test::RunSoak(cfg).ok() ? 0 : 1;
}
