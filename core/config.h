// hakmem's settings: HAKMEM_* environment variables, read once at start-up
// straight from `environ` (no getenv, no allocation). Every variable is listed
// in docs/ENV_VARS.md. A bad value prints one warning line and keeps the default.
#ifndef HAKMEM_CORE_CONFIG_H_
#define HAKMEM_CORE_CONFIG_H_

#include <cstdint>

namespace hakmem {

enum class InvalidFreeMode : uint32_t { kWarn = 0, kAbort = 1, kQuiet = 2 };

struct Config {
  uint32_t verbose = 0;            // HAKMEM_VERBOSE: print the configuration at start
  uint32_t stats = 0;              // HAKMEM_STATS: print counters at exit
  uint32_t tiny_use_superslab = 1; // HAKMEM_TINY_USE_SUPERSLAB: accepted; 0 is ignored
  uint32_t tiny_refill_max = 96;   // HAKMEM_TINY_REFILL_MAX: blocks per Tiny refill
  uint64_t large_cache_bytes = uint64_t{32} << 20;  // HAKMEM_LARGE_CACHE_BYTES
  uint32_t superslab_cache = 2;    // HAKMEM_SUPERSLAB_CACHE: empty SuperSlabs kept
  uint32_t invalid_free = 0;       // HAKMEM_INVALID_FREE: warn | abort | quiet
};

// The configuration in force. Defaults until LoadConfig has run.
const Config& GetConfig();

// Parses the environment (idempotent; the first call that finds `environ` set
// wins). Returns false if `environ` was not available yet.
bool LoadConfig();

// Test hook: parse from an explicit NULL-terminated "NAME=value" array into
// *out (starting from defaults). Warnings go to stderr as in LoadConfig.
void ParseConfig(char* const* env, Config* out);

// Prints the effective configuration, one line per setting (HAKMEM_VERBOSE=1).
void PrintConfig(int fd);

}  // namespace hakmem

#endif  // HAKMEM_CORE_CONFIG_H_
