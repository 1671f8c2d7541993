// hakmem's settings: HAKMEM_* environment variables, read once at start-up
// straight from `environ` (no getenv, no allocation). Every variable is listed
// in docs/ENV_VARS.md. A bad value prints one warning line and keeps the default.
#ifndef HAKMEM_CORE_BASE_CONFIG_H_
#define HAKMEM_CORE_BASE_CONFIG_H_

#include <cstdint>

namespace hakmem {

enum class InvalidFreeMode : uint32_t { kWarn = 0, kAbort = 1, kQuiet = 2 };

// A comma list of ratios (HAKMEM_WMAX_CANDIDATES_MID), x100, parsed into a
// fixed array; and a file path (HAKMEM_LEARN_LOG). Neither allocates.
inline constexpr int kMaxRatioList = 8;
inline constexpr int kMaxPathLen = 255;
struct RatioList {
  uint32_t count;
  uint32_t x100[kMaxRatioList];
};
struct PathText {
  char text[kMaxPathLen + 1];  // "" when unset
};

struct Config {
  uint32_t verbose = 0;            // HAKMEM_VERBOSE: print the configuration at start
  uint32_t stats = 0;              // HAKMEM_STATS: print counters at exit
  uint32_t tiny_use_superslab = 1; // HAKMEM_TINY_USE_SUPERSLAB: accepted; 0 is ignored
  uint32_t tiny_refill_max = 96;   // HAKMEM_TINY_REFILL_MAX: blocks per Tiny refill
  uint64_t thread_cache_bytes = uint64_t{4} << 20;  // HAKMEM_THREAD_CACHE_BYTES: a thread's bins
  uint64_t large_cache_bytes = uint64_t{64} << 20;  // HAKMEM_LARGE_CACHE_BYTES
  uint32_t decay_ms = 500;         // HAKMEM_DECAY_MS: unused free memory goes back after this
  uint32_t decay_thread = 1;       // HAKMEM_DECAY_THREAD: a thread runs the decay passes too
  uint32_t huge_pages = 1;         // HAKMEM_HUGE_PAGES: full SuperSlabs go to huge pages
  uint32_t superslab_cache = 2;    // HAKMEM_SUPERSLAB_CACHE: empty SuperSlabs kept
  uint32_t invalid_free = 0;       // HAKMEM_INVALID_FREE: warn | abort | quiet
  // Mid (1-32 KiB) and L2.5 (32 KiB-1 MiB) pages ("spans"), docs/ENV_VARS.md.
  uint32_t pool_refill_batch = 2;  // HAKMEM_POOL_REFILL_BATCH: spans per refill
  uint32_t cap_mid = 64;           // HAKMEM_CAP_MID: idle spans kept per Mid class
  uint32_t cap_min_mid = 8;        // HAKMEM_CAP_MIN_MID
  uint32_t cap_max_mid = 2048;     // HAKMEM_CAP_MAX_MID
  uint32_t cap_large = 0;          // HAKMEM_CAP_LARGE: idle spans kept per L2.5 class
  uint32_t wmax_mid = 140;         // HAKMEM_WMAX_MID (x100): 1.40
  uint32_t wmax_large = 130;       // HAKMEM_WMAX_LARGE (x100): 1.30
  uint64_t pool_retain_bytes = uint64_t{256} << 20;  // HAKMEM_POOL_RETAIN_BYTES
  // The learner (learner/, docs/ENV_VARS.md). Fractions are stored x10000.
  uint32_t learn = 0;                 // HAKMEM_LEARN: run the learner thread
  uint32_t learn_window_ms = 1000;    // HAKMEM_LEARN_WINDOW_MS
  uint32_t learn_min_samples = 256;   // HAKMEM_LEARN_MIN_SAMPLES: requests per window
  uint32_t target_hit_mid = 6500;     // HAKMEM_TARGET_HIT_MID: 0.65
  uint32_t cap_step_mid = 4;          // HAKMEM_CAP_STEP_MID
  uint32_t cap_dwell_sec_mid = 3;     // HAKMEM_CAP_DWELL_SEC_MID
  uint32_t wmax_learn = 0;            // HAKMEM_WMAX_LEARN
  RatioList wmax_candidates_mid = {3, {140, 160, 170}};  // HAKMEM_WMAX_CANDIDATES_MID
  uint32_t wmax_canary = 1;           // HAKMEM_WMAX_CANARY
  uint32_t wmax_trial_sec = 5;        // HAKMEM_WMAX_TRIAL_SEC
  uint32_t wmax_adopt = 100;          // HAKMEM_WMAX_ADOPT_PCT: 0.01
  PathText learn_log = {};            // HAKMEM_LEARN_LOG: CSV of decisions; "" = none
};

// The configuration in force. Defaults until LoadConfig has run.
const Config& GetConfig();

// Parses the environment (idempotent; the first call that finds `environ` set
// wins). Returns false if `environ` was not available yet.
bool LoadConfig();
bool ConfigLoaded();

// Test hook: parse from an explicit NULL-terminated "NAME=value" array into
// *out (starting from defaults). Warnings go to stderr as in LoadConfig.
void ParseConfig(char* const* env, Config* out);

// Test hook: makes `c` the configuration in force (as if parsed at start-up).
void SetConfigForTesting(const Config& c);

// Prints the effective configuration, one line per setting (HAKMEM_VERBOSE=1).
void PrintConfig(int fd);

}  // namespace hakmem

#endif  // HAKMEM_CORE_BASE_CONFIG_H_
