#include "core/config.h"

#include <atomic>

#include "core/log.h"

extern char** environ;

namespace hakmem {
namespace {

Config g_config;
std::atomic<bool> g_loaded{false};

// One row per variable: how to parse it and where it goes.
// kRatio: a decimal like "1.4", stored x100 (140).
enum class Type { kFlag, kCount, kBytes, kRatio, kInvalidFreeMode };
struct Setting {
  const char* name;
  Type type;
  uint64_t min;
  uint64_t max;
  uint32_t Config::*u32;
  uint64_t Config::*u64;
};

constexpr uint64_t kMaxBytes = uint64_t{1} << 40;
const Setting kSettings[] = {
    {"HAKMEM_VERBOSE", Type::kFlag, 0, 1, &Config::verbose, nullptr},
    {"HAKMEM_STATS", Type::kFlag, 0, 1, &Config::stats, nullptr},
    {"HAKMEM_TINY_USE_SUPERSLAB", Type::kFlag, 0, 1, &Config::tiny_use_superslab, nullptr},
    {"HAKMEM_TINY_REFILL_MAX", Type::kCount, 1, 1024, &Config::tiny_refill_max, nullptr},
    {"HAKMEM_LARGE_CACHE_BYTES", Type::kBytes, 0, kMaxBytes, nullptr,
     &Config::large_cache_bytes},
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

// "1", "1.4", "1.25" -> 100, 140, 125 (two decimals at most).
bool ParseRatio(const char* s, uint64_t* out) {
  uint64_t whole = 0;
  const char* p = s;
  for (; *p >= '0' && *p <= '9'; ++p) {
    if (whole > 1000) return false;
    whole = whole * 10 + static_cast<uint64_t>(*p - '0');
  }
  if (p == s) return false;
  uint64_t frac = 0;
  if (*p == '.') {
    ++p;
    int digits = 0;
    for (; *p >= '0' && *p <= '9'; ++p, ++digits) {
      if (digits >= 2) return false;
      frac = frac * 10 + static_cast<uint64_t>(*p - '0');
    }
    if (digits == 0) return false;
    if (digits == 1) frac *= 10;
  }
  if (*p != '\0') return false;
  *out = whole * 100 + frac;
  return true;
}

bool ParseValue(const Setting& s, const char* text, uint64_t* out) {
  if (s.type == Type::kInvalidFreeMode) {
    if (StrEq(text, "warn")) return *out = 0, true;
    if (StrEq(text, "abort")) return *out = 1, true;
    if (StrEq(text, "quiet")) return *out = 2, true;
    return false;
  }
  const bool ok = s.type == Type::kRatio ? ParseRatio(text, out)
                                        : ParseNumber(text, s.type == Type::kBytes, out);
  return ok && *out >= s.min && *out <= s.max;
}

void PutValue(LogLine& line, const Setting& s, const Config& c) {
  if (s.type == Type::kInvalidFreeMode) {
    const char* names[] = {"warn", "abort", "quiet"};
    line.Str(names[c.invalid_free < 3 ? c.invalid_free : 0]);
  } else if (s.type == Type::kRatio) {
    line.Fixed(c.*(s.u32), 2);
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
      uint64_t v;
      if (!ParseValue(s, text, &v)) {
        Warn(s, text, defaults);
      } else if (s.u32) {
        out->*(s.u32) = static_cast<uint32_t>(v);
      } else {
        out->*(s.u64) = v;
      }
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

void PrintConfig(int fd) {
  LogLine(fd).Str("hakmem: configuration");
  for (const Setting& s : kSettings) {
    LogLine line(fd);
    line.Str("hakmem:   ").Str(s.name).Str("=");
    PutValue(line, s, g_config);
  }
}

}  // namespace hakmem
