#include "core/base/config.h"

#include <atomic>

#include "core/base/log.h"

extern char** environ;

namespace hakmem {
namespace {

Config g_config;
std::atomic<bool> g_loaded{false};

// One row per variable: how to parse it and where it goes.
// kRatio: a decimal like "1.4", stored x100 (140). kFraction: "0.65" or
// "0.005", stored x10000 (6500, 50). kRatioList: "1.4,1.6" (kRatio each, at
// least one, at most kMaxRatioList). kPath: any text of 1..kMaxPathLen bytes.
enum class Type { kFlag, kCount, kBytes, kRatio, kFraction, kInvalidFreeMode, kRatioList, kPath };
struct Setting {
  const char* name;
  Type type;
  uint64_t min;
  uint64_t max;
  uint32_t Config::*u32;
  uint64_t Config::*u64;
  RatioList Config::*list = nullptr;
  PathText Config::*path = nullptr;
};

constexpr uint64_t kMaxBytes = uint64_t{1} << 40;
const Setting kSettings[] = {
    {"HAKMEM_VERBOSE", Type::kFlag, 0, 1, &Config::verbose, nullptr},
    {"HAKMEM_STATS", Type::kFlag, 0, 1, &Config::stats, nullptr},
    {"HAKMEM_TINY_USE_SUPERSLAB", Type::kFlag, 0, 1, &Config::tiny_use_superslab, nullptr},
    {"HAKMEM_TINY_REFILL_MAX", Type::kCount, 1, 1024, &Config::tiny_refill_max, nullptr},
    {"HAKMEM_LARGE_CACHE_BYTES", Type::kBytes, 0, kMaxBytes, nullptr,
     &Config::large_cache_bytes},
    {"HAKMEM_THREAD_CACHE_BYTES", Type::kBytes, 64 << 10, kMaxBytes, nullptr,
     &Config::thread_cache_bytes},
    {"HAKMEM_DECAY_MS", Type::kCount, 0, 3600000, &Config::decay_ms, nullptr},
    {"HAKMEM_DECAY_THREAD", Type::kFlag, 0, 1, &Config::decay_thread, nullptr},
    {"HAKMEM_HUGE_PAGES", Type::kFlag, 0, 1, &Config::huge_pages, nullptr},
    {"HAKMEM_SUPERSLAB_CACHE", Type::kCount, 0, 64, &Config::superslab_cache, nullptr},
    {"HAKMEM_INVALID_FREE", Type::kInvalidFreeMode, 0, 2, &Config::invalid_free, nullptr},
    {"HAKMEM_POOL_REFILL_BATCH", Type::kCount, 1, 4, &Config::pool_refill_batch, nullptr},
    {"HAKMEM_CAP_MID", Type::kCount, 0, 4096, &Config::cap_mid, nullptr},
    {"HAKMEM_CAP_MIN_MID", Type::kCount, 0, 4096, &Config::cap_min_mid, nullptr},
    {"HAKMEM_CAP_MAX_MID", Type::kCount, 1, 4096, &Config::cap_max_mid, nullptr},
    {"HAKMEM_CAP_LARGE", Type::kCount, 0, 4096, &Config::cap_large, nullptr},
    {"HAKMEM_WMAX_MID", Type::kRatio, 100, 400, &Config::wmax_mid, nullptr},
    {"HAKMEM_WMAX_LARGE", Type::kRatio, 100, 400, &Config::wmax_large, nullptr},
    {"HAKMEM_POOL_RETAIN_BYTES", Type::kBytes, 0, kMaxBytes, nullptr,
     &Config::pool_retain_bytes},
    // The learner; ranges as in the C version's tables (shared/reference).
    {"HAKMEM_LEARN", Type::kFlag, 0, 1, &Config::learn, nullptr},
    {"HAKMEM_LEARN_WINDOW_MS", Type::kCount, 500, 5000, &Config::learn_window_ms, nullptr},
    {"HAKMEM_LEARN_MIN_SAMPLES", Type::kCount, 64, 1024, &Config::learn_min_samples, nullptr},
    {"HAKMEM_TARGET_HIT_MID", Type::kFraction, 5000, 9000, &Config::target_hit_mid, nullptr},
    {"HAKMEM_CAP_STEP_MID", Type::kCount, 1, 16, &Config::cap_step_mid, nullptr},
    {"HAKMEM_CAP_DWELL_SEC_MID", Type::kCount, 1, 10, &Config::cap_dwell_sec_mid, nullptr},
    {"HAKMEM_WMAX_LEARN", Type::kFlag, 0, 1, &Config::wmax_learn, nullptr},
    {"HAKMEM_WMAX_CANDIDATES_MID", Type::kRatioList, 100, 400, nullptr, nullptr,
     &Config::wmax_candidates_mid},
    {"HAKMEM_WMAX_CANARY", Type::kFlag, 0, 1, &Config::wmax_canary, nullptr},
    {"HAKMEM_WMAX_TRIAL_SEC", Type::kCount, 3, 15, &Config::wmax_trial_sec, nullptr},
    {"HAKMEM_WMAX_ADOPT_PCT", Type::kFraction, 50, 500, &Config::wmax_adopt, nullptr},
    {"HAKMEM_LEARN_LOG", Type::kPath, 1, kMaxPathLen, nullptr, nullptr, nullptr,
     &Config::learn_log},
};

bool StrEq(const char* a, const char* b) {
  while (*a && *a == *b) ++a, ++b;
  return *a == *b;
}

// Decimal with an optional K/M/G suffix (bytes only). False on junk or overflow.
bool ParseNumber(const char* s, bool allow_suffix, uint64_t* out) {
  if (*s == '\0') return false;
  uint64_t v = 0;
  for (; *s >= '0' && *s <= '9'; ++s) {
    if (v > (UINT64_MAX - 9) / 10) return false;
    v = v * 10 + static_cast<uint64_t>(*s - '0');
  }
  if (allow_suffix && *s != '\0' && s[1] == '\0') {
    int shift = *s == 'K' || *s == 'k' ? 10 : *s == 'M' || *s == 'm' ? 20 : *s == 'G' || *s == 'g' ? 30 : -1;
    if (shift < 0 || v > (UINT64_MAX >> shift)) return false;
    v <<= shift;
    ++s;
  }
  if (*s != '\0') return false;
  *out = v;
  return true;
}

// A decimal scaled by 10^decimals, stopping at `end` (a NUL or a ','):
// "1", "1.4", "1.25" -> 100, 140, 125 with two decimals; "0.005" -> 50 with four.
bool ParseDecimal(const char* s, int decimals, char end, uint64_t* out, const char** rest) {
  uint64_t whole = 0;
  const char* p = s;
  for (; *p >= '0' && *p <= '9'; ++p) {
    if (whole > 1000) return false;
    whole = whole * 10 + static_cast<uint64_t>(*p - '0');
  }
  if (p == s) return false;
  uint64_t frac = 0;
  int digits = 0;
  if (*p == '.') {
    ++p;
    for (; *p >= '0' && *p <= '9'; ++p, ++digits) {
      if (digits >= decimals) return false;
      frac = frac * 10 + static_cast<uint64_t>(*p - '0');
    }
    if (digits == 0) return false;
  }
  if (*p != '\0' && *p != end) return false;
  uint64_t scale = 1;
  for (int i = 0; i < decimals; ++i) scale *= 10;
  for (; digits < decimals; ++digits) frac *= 10;
  *out = whole * scale + frac;
  if (rest != nullptr) *rest = p;
  return true;
}

bool ParseRatio(const char* s, uint64_t* out) { return ParseDecimal(s, 2, '\0', out, nullptr); }

// "1.4,1.6,1.7" into a fixed array: every entry in [min, max], 1..kMaxRatioList
// of them, no empty entry.
bool ParseRatioList(const char* s, uint64_t min, uint64_t max, RatioList* out) {
  RatioList list = {};
  for (const char* p = s;;) {
    uint64_t v;
    if (list.count == kMaxRatioList || !ParseDecimal(p, 2, ',', &v, &p)) return false;
    if (v < min || v > max) return false;
    list.x100[list.count++] = static_cast<uint32_t>(v);
    if (*p == '\0') break;
    ++p;  // the ','
  }
  *out = list;
  return true;
}

bool ParsePath(const char* s, PathText* out) {
  size_t n = 0;
  while (s[n] != '\0') {
    if (n == kMaxPathLen) return false;
    ++n;
  }
  if (n == 0) return false;
  for (size_t i = 0; i <= n; ++i) out->text[i] = s[i];
  return true;
}

bool ParseValue(const Setting& s, const char* text, uint64_t* out) {
  if (s.type == Type::kInvalidFreeMode) {
    if (StrEq(text, "warn")) return *out = 0, true;
    if (StrEq(text, "abort")) return *out = 1, true;
    if (StrEq(text, "quiet")) return *out = 2, true;
    return false;
  }
  bool ok;
  if (s.type == Type::kRatio) {
    ok = ParseRatio(text, out);
  } else if (s.type == Type::kFraction) {
    ok = ParseDecimal(text, 4, '\0', out, nullptr);
  } else {
    ok = ParseNumber(text, s.type == Type::kBytes, out);
  }
  return ok && *out >= s.min && *out <= s.max;
}

// Parses `text` into the setting's field of *out; false if it is invalid.
bool ParseInto(const Setting& s, const char* text, Config* out) {
  if (s.type == Type::kRatioList) return ParseRatioList(text, s.min, s.max, &(out->*(s.list)));
  if (s.type == Type::kPath) return ParsePath(text, &(out->*(s.path)));
  uint64_t v;
  if (!ParseValue(s, text, &v)) return false;
  if (s.u32) {
    out->*(s.u32) = static_cast<uint32_t>(v);
  } else {
    out->*(s.u64) = v;
  }
  return true;
}

void PutValue(LogLine& line, const Setting& s, const Config& c) {
  if (s.type == Type::kInvalidFreeMode) {
    const char* names[] = {"warn", "abort", "quiet"};
    line.Str(names[c.invalid_free < 3 ? c.invalid_free : 0]);
  } else if (s.type == Type::kRatio) {
    line.Fixed(c.*(s.u32), 2);
  } else if (s.type == Type::kFraction) {
    line.Fixed(c.*(s.u32), 4);
  } else if (s.type == Type::kRatioList) {
    const RatioList& l = c.*(s.list);
    for (uint32_t i = 0; i < l.count; ++i) {
      if (i > 0) line.Str(",");
      line.Fixed(l.x100[i], 2);
    }
  } else if (s.type == Type::kPath) {
    const char* t = (c.*(s.path)).text;
    line.Str(t[0] != '\0' ? t : "(none)");
  } else if (s.u32) {
    line.Dec(c.*(s.u32));
  } else {
    line.Dec(c.*(s.u64));
  }
}

void Warn(const Setting& s, const char* text, const Config& defaults) {
  LogLine line;
  line.Str("hakmem: warning: ").Str(s.name).Str("=").Str(text).Str(" is invalid (");
  if (s.type == Type::kInvalidFreeMode) {
    line.Str("expected warn, abort or quiet");
  } else if (s.type == Type::kRatio) {
    line.Str("expected ").Fixed(s.min, 2).Str("..").Fixed(s.max, 2);
  } else if (s.type == Type::kFraction) {
    line.Str("expected ").Fixed(s.min, 4).Str("..").Fixed(s.max, 4);
  } else if (s.type == Type::kRatioList) {
    line.Str("expected 1..").Dec(kMaxRatioList).Str(" comma-separated values in ")
        .Fixed(s.min, 2).Str("..").Fixed(s.max, 2);
  } else if (s.type == Type::kPath) {
    line.Str("expected a path of 1..").Dec(s.max).Str(" bytes");
  } else {
    line.Str("expected ").Dec(s.min).Str("..").Dec(s.max);
    if (s.type == Type::kBytes) line.Str(", optional K/M/G suffix");
  }
  line.Str("); using the default ");
  PutValue(line, s, defaults);
}

// Value text for "NAME=value" if the entry names `name`, else nullptr.
const char* Match(const char* entry, const char* name) {
  while (*name && *entry == *name) ++entry, ++name;
  return (*name == '\0' && *entry == '=') ? entry + 1 : nullptr;
}

}  // namespace

const Config& GetConfig() { return g_config; }

bool ConfigLoaded() { return g_loaded.load(std::memory_order_acquire); }

// Settings that must agree with each other: one warning, then safe defaults.
static void CheckConsistency(Config* c) {
  const Config d;
  if (c->cap_min_mid > c->cap_max_mid) {
    LogLine().Str("hakmem: warning: HAKMEM_CAP_MIN_MID=").Dec(c->cap_min_mid)
        .Str(" exceeds HAKMEM_CAP_MAX_MID=").Dec(c->cap_max_mid).Str("; using the defaults ")
        .Dec(d.cap_min_mid).Str("..").Dec(d.cap_max_mid);
    c->cap_min_mid = d.cap_min_mid;
    c->cap_max_mid = d.cap_max_mid;
  }
  if (c->cap_mid < c->cap_min_mid) c->cap_mid = c->cap_min_mid;
  if (c->cap_mid > c->cap_max_mid) c->cap_mid = c->cap_max_mid;
}

void ParseConfig(char* const* env, Config* out) {
  const Config defaults;
  *out = defaults;
  if (env == nullptr) return;
  for (char* const* e = env; *e != nullptr; ++e) {
    if ((*e)[0] != 'H' || (*e)[1] != 'A') continue;  // cheap filter: "HAKMEM_"
    for (const Setting& s : kSettings) {
      const char* text = Match(*e, s.name);
      if (text == nullptr) continue;
      if (!ParseInto(s, text, out)) Warn(s, text, defaults);
    }
  }
  CheckConsistency(out);
}

bool LoadConfig() {
  if (g_loaded.load(std::memory_order_acquire)) return true;
  if (environ == nullptr) return false;
  // Start-up is single-threaded in practice; if two threads race here both
  // parse the same environment into the same values.
  Config parsed;
  ParseConfig(environ, &parsed);
  g_config = parsed;
  g_loaded.store(true, std::memory_order_release);
  if (g_config.tiny_use_superslab == 0) {
    LogLine().Str("hakmem: note: HAKMEM_TINY_USE_SUPERSLAB=0 is accepted and ignored; "
                  "Tiny blocks always come from SuperSlabs");
  }
  if (g_config.verbose) PrintConfig(2);
  return true;
}

void SetConfigForTesting(const Config& c) {
  g_config = c;
  g_loaded.store(true, std::memory_order_release);
}

void PrintConfig(int fd) {
  LogLine(fd).Str("hakmem: configuration");
  for (const Setting& s : kSettings) {
    LogLine line(fd);
    line.Str("hakmem:   ").Str(s.name).Str("=");
    PutValue(line, s, g_config);
  }
}

}  // namespace hakmem
