// JSON output of a head-to-head run (schema "hakmem-bench/2", bench/README.md).
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "bench/runner/report.h"

namespace hakmem_bench {
namespace {

std::string Quote(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out + "\"";
}

std::string Number(double v) {
  if (!std::isfinite(v)) return "null";
  char buf[40];
  snprintf(buf, sizeof buf, "%.6g", v);
  if (std::fabs(v) >= 1e6) snprintf(buf, sizeof buf, "%.1f", v);
  return buf;
}

// A value the workload reported: a JSON number if it is one, else a string.
std::string Scalar(const std::string& s) {
  char* end = nullptr;
  strtod(s.c_str(), &end);
  const bool numeric = !s.empty() && *end == '\0' && s.find_first_of("xXnN") == std::string::npos;
  return numeric ? s : Quote(s);
}

std::string StatJson(const Stat& s) {
  if (!s.valid) return "null";
  return "{\"median\": " + Number(s.median) + ", \"min\": " + Number(s.min) +
         ", \"max\": " + Number(s.max) + "}";
}

std::string PositiveOrNull(double r) { return r > 0 ? Number(r) : "null"; }

// [low, high] of a valid interval, else null.
std::string IntervalOrNull(const Interval& i) {
  return i.valid ? "[" + Number(i.low) + ", " + Number(i.high) + "]" : "null";
}

std::string NameOrNull(const AllocatorRuns* a) {
  return a == nullptr ? "null" : Quote(a->allocator.name);
}

std::string RunJson(const Experiment& e, const Run& r) {
  std::string s = "{\"round\": " + std::to_string(r.round) + ", \"status\": " +
                  Quote(r.ok ? "ok" : "failed") + ", \"error\": " + Quote(r.error) +
                  ", \"rate\": " + Number(r.rate) + ", \"wall_s\": " + Number(r.wall_s) +
                  ", \"user_s\": " + Number(r.user_s) + ", \"sys_s\": " + Number(r.sys_s) +
                  ", \"cpu_s\": " + Number(r.user_s + r.sys_s) +
                  ", \"peak_rss_kib\": " + std::to_string(r.peak_rss_kib) +
                  ", \"malloc_lib\": " + Quote(r.malloc_lib) +
                  ", \"steal_share\": " + Number(r.steal_share) +
                  ", \"attempts\": " + std::to_string(r.attempts);
  if (e.kind == Kind::kWorkload) {
    s += ", \"ops\": " + std::to_string(r.ops) + ", \"elapsed_s\": " + Number(r.elapsed_s) +
         ", \"self_peak_rss_kib\": " + std::to_string(r.self_peak_rss_kib);
  } else {
    s += ", \"processes\": " + std::to_string(r.processes);
  }
  // App-specific numbers (app_redis), the phase workload's quiet-phase RSS.
  s += ", \"details\": {";
  bool first = true;
  for (const auto& [k, v] : r.details) {
    s += (first ? "" : ", ") + Quote(k) + ": " + Number(v);
    first = false;
  }
  return s + "}}";
}

std::string InstructionsJson(const InstructionCount& ic) {
  if (!ic.attempted) return "null";
  return "{\"status\": " + Quote(ic.valid ? "ok" : "failed") + ", \"error\": " + Quote(ic.error) +
         ", \"instructions\": " + std::to_string(ic.instructions) +
         ", \"ops\": " + std::to_string(ic.ops) + "}";
}

std::string AllocatorJson(const Experiment& e, const AllocatorRuns& a, const Comparison& c) {
  std::string s = "        {\"name\": " + Quote(a.allocator.name) +
                  ", \"library\": " + Quote(a.allocator.preload) +
                  ", \"subject\": " + (a.allocator.subject ? "true" : "false") +
                  ",\n         \"ok_runs\": " +
                  std::to_string(a.runs.size() - FailedRuns(a)) +
                  ", \"failed_runs\": " + std::to_string(FailedRuns(a)) +
                  ",\n         \"rate\": " + StatJson(RateStat(a)) +
                  ",\n         \"peak_rss_mib\": " + StatJson(RssMibStat(a)) +
                  ",\n         \"wall_s\": " + StatJson(WallStat(a)) +
                  ",\n         \"cpu_s\": " + StatJson(CpuStat(a)) +
                  ",\n         \"hakmem_rate_ratio\": " + PositiveOrNull(RateRatio(c.hakmem, &a)) +
                  ", \"hakmem_paired_rate_ratio\": " + PositiveOrNull(PairedRateRatio(c.hakmem, &a)) +
                  ", \"hakmem_rss_ratio\": " + PositiveOrNull(RssRatio(c.hakmem, &a)) +
                  ",\n         \"instructions_per_op\": " +
                  PositiveOrNull(a.instructions.PerOp()) +
                  ", \"hakmem_instructions_ratio\": " + PositiveOrNull(InstructionRatio(c.hakmem, &a)) +
                  ", \"instructions\": " + InstructionsJson(a.instructions) +
                  ",\n         \"runs\": [";
  for (size_t i = 0; i < a.runs.size(); ++i) {
    s += (i ? ",\n           " : "\n           ") + RunJson(e, a.runs[i]);
  }
  return s + "]}";
}

std::string ExperimentJson(const Experiment& e, const Report& r) {
  const Comparison c = Compare(e);
  std::string s = "    {\"name\": " + Quote(e.name) + ", \"workload\": " + Quote(e.workload) +
                  ", \"kind\": " + Quote(e.kind == Kind::kApp ? "app" : "workload") +
                  ", \"family\": " + Quote(e.family) + ", \"metric\": " + Quote(e.metric) +
                  ", \"threads\": " + std::to_string(e.threads) +
                  ",\n     \"description\": " + Quote(DescribeConfig(e, r.rounds)) +
                  ",\n     \"config\": {";
  bool first = true;
  for (const auto& [k, v] : e.config) {
    s += (first ? "" : ", ") + Quote(k) + ": " + Scalar(v);
    first = false;
  }
  s += "},\n     \"note\": " + (e.note.empty() ? "null" : Quote(e.note));
  s += ",\n     \"allocators\": [\n";
  for (size_t i = 0; i < e.results.size(); ++i) {
    s += AllocatorJson(e, e.results[i], c) + (i + 1 < e.results.size() ? ",\n" : "\n");
  }
  s += "     ],\n     \"skipped\": [";
  for (size_t i = 0; i < e.skipped.size(); ++i) {
    s += (i ? ", " : "") + std::string("{\"name\": ") + Quote(e.skipped[i].name) +
         ", \"reason\": " + Quote(e.skipped[i].reason) + "}";
  }
  s += "],\n     \"summary\": {\"best_peer\": " + NameOrNull(c.best_peer) +
       ", \"hakmem_vs_best_rate\": " + PositiveOrNull(RateRatio(c.hakmem, c.best_peer)) +
       ", \"hakmem_vs_best_rate_paired\": " + PositiveOrNull(PairedRateRatio(c.hakmem, c.best_peer)) +
       ", \"hakmem_vs_best_rate_paired_95\": " +
       IntervalOrNull(PairedRateInterval(c.hakmem, c.best_peer)) +
       ", \"hakmem_vs_best_rss\": " + PositiveOrNull(RssRatio(c.hakmem, c.best_peer)) +
       ",\n                 \"lowest_rss_peer\": " + NameOrNull(c.lowest_rss_peer) +
       ", \"hakmem_vs_lowest_rss\": " + PositiveOrNull(RssRatio(c.hakmem, c.lowest_rss_peer)) +
       ", \"median_peer_rss_mib\": " + PositiveOrNull(c.median_peer_rss_mib) +
       ", \"hakmem_vs_median_peer_rss\": " + PositiveOrNull(MedianPeerRssRatio(c)) +
       ",\n                 \"fewest_instructions_peer\": " + NameOrNull(c.fewest_instructions_peer) +
       ", \"hakmem_vs_fewest_instructions\": " +
       PositiveOrNull(InstructionRatio(c.hakmem, c.fewest_instructions_peer)) + "}";
  s += ",\n     \"profile\": " + (e.profile_path.empty() ? "null" : Quote(e.profile_path)) + "}";
  return s;
}

std::string MapJson(const std::map<std::string, std::string>& m) {
  std::string s = "{";
  bool first = true;
  for (const auto& [k, v] : m) {
    s += (first ? "" : ", ") + Quote(k) + ": " + Quote(v);
    first = false;
  }
  return s + "}";
}

std::string HostJson(const Host& h) {
  return "{\"cpu_model\": " + Quote(h.cpu_model) + ", \"cpus\": " + std::to_string(h.cpus) +
         ", \"kernel\": " + Quote(h.kernel) + ", \"machine\": " + Quote(h.machine) +
         ", \"glibc\": " + Quote(h.glibc) + ",\n          \"hakmem_commit\": " +
         Quote(h.hakmem_commit) + ",\n          \"allocator_versions\": " +
         MapJson(h.allocator_versions) + ",\n          \"program_versions\": " +
         MapJson(h.program_versions) + "}";
}

}  // namespace

std::string FormatJson(const Report& r) {
  std::string s = "{\"schema\": \"hakmem-bench/2\",\n \"host\": " + HostJson(r.host) +
                  ",\n \"rounds\": " + std::to_string(r.rounds) +
                  ", \"instructions\": " + (r.instructions ? "true" : "false") +
                  ",\n \"experiments\": [\n";
  for (size_t i = 0; i < r.experiments.size(); ++i) {
    s += ExperimentJson(r.experiments[i], r) + (i + 1 < r.experiments.size() ? ",\n" : "\n");
  }
  return s + " ]}\n";
}

}  // namespace hakmem_bench
