// JSON output of a head-to-head run (schema "hakmem-bench/1", bench/README.md).
#include <sys/utsname.h>
#include <unistd.h>

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

std::string RatioJson(double r) { return r > 0 ? Number(r) : "null"; }

std::string NameOrNull(const AllocatorRuns* a) {
  return a == nullptr ? "null" : Quote(a->allocator.name);
}

std::string RunJson(const Run& r) {
  return "{\"round\": " + std::to_string(r.round) + ", \"status\": " +
         Quote(r.ok ? "ok" : "failed") + ", \"error\": " + Quote(r.error) +
         ", \"ops_per_sec\": " + Number(r.ops_per_sec) + ", \"ops\": " + std::to_string(r.ops) +
         ", \"elapsed_s\": " + Number(r.elapsed_s) + ", \"wall_s\": " + Number(r.wall_s) +
         ", \"peak_rss_kib\": " + std::to_string(r.peak_rss_kib) +
         ", \"self_peak_rss_kib\": " + std::to_string(r.self_peak_rss_kib) +
         ", \"malloc_lib\": " + Quote(r.malloc_lib) + "}";
}

std::string AllocatorJson(const AllocatorRuns& a, const Comparison& c) {
  std::string s = "        {\"name\": " + Quote(a.allocator.name) +
                  ", \"library\": " + Quote(a.allocator.preload) +
                  ", \"subject\": " + (a.allocator.subject ? "true" : "false") +
                  ",\n         \"ok_runs\": " +
                  std::to_string(a.runs.size() - FailedRuns(a)) +
                  ", \"failed_runs\": " + std::to_string(FailedRuns(a)) +
                  ",\n         \"ops_per_sec\": " + StatJson(OpsStat(a)) +
                  ",\n         \"peak_rss_mib\": " + StatJson(RssMibStat(a)) +
                  ",\n         \"hakmem_ops_ratio\": " + RatioJson(OpsRatio(c.hakmem, &a)) +
                  ", \"hakmem_rss_ratio\": " + RatioJson(RssRatio(c.hakmem, &a)) +
                  ",\n         \"runs\": [";
  for (size_t i = 0; i < a.runs.size(); ++i) {
    s += (i ? ",\n           " : "\n           ") + RunJson(a.runs[i]);
  }
  return s + "]}";
}

std::string ExperimentJson(const Experiment& e, const Report& r) {
  const Comparison c = Compare(e);
  std::string s = "    {\"name\": " + Quote(e.name) + ", \"workload\": " + Quote(e.workload) +
                  ", \"threads\": " + std::to_string(e.threads) +
                  ",\n     \"description\": " + Quote(DescribeConfig(e, r.rounds)) +
                  ",\n     \"config\": {";
  bool first = true;
  for (const auto& [k, v] : e.config) {
    s += (first ? "" : ", ") + Quote(k) + ": " + Scalar(v);
    first = false;
  }
  s += "},\n     \"allocators\": [\n";
  for (size_t i = 0; i < e.results.size(); ++i) {
    s += AllocatorJson(e.results[i], c) + (i + 1 < e.results.size() ? ",\n" : "\n");
  }
  s += "     ],\n     \"skipped\": [";
  for (size_t i = 0; i < e.skipped.size(); ++i) {
    s += (i ? ", " : "") + std::string("{\"name\": ") + Quote(e.skipped[i].name) +
         ", \"reason\": " + Quote(e.skipped[i].reason) + "}";
  }
  s += "],\n     \"summary\": {\"best_peer\": " + NameOrNull(c.best_peer) +
       ", \"hakmem_vs_best_ops\": " + RatioJson(OpsRatio(c.hakmem, c.best_peer)) +
       ", \"hakmem_vs_best_rss\": " + RatioJson(RssRatio(c.hakmem, c.best_peer)) +
       ", \"lowest_rss_peer\": " + NameOrNull(c.lowest_rss_peer) +
       ", \"hakmem_vs_lowest_rss\": " + RatioJson(RssRatio(c.hakmem, c.lowest_rss_peer)) + "}";
  s += ",\n     \"profile\": " + (e.profile_path.empty() ? "null" : Quote(e.profile_path)) + "}";
  return s;
}

}  // namespace

std::string FormatJson(const Report& r) {
  utsname u{};
  uname(&u);
  std::string s = "{\"schema\": \"hakmem-bench/1\",\n \"host\": {\"cpus\": " +
                  std::to_string(sysconf(_SC_NPROCESSORS_ONLN)) +
                  ", \"kernel\": " + Quote(u.release) + ", \"machine\": " + Quote(u.machine) +
                  "},\n \"rounds\": " + std::to_string(r.rounds) + ",\n \"experiments\": [\n";
  for (size_t i = 0; i < r.experiments.size(); ++i) {
    s += ExperimentJson(r.experiments[i], r) + (i + 1 < r.experiments.size() ? ",\n" : "\n");
  }
  return s + " ]}\n";
}

}  // namespace hakmem_bench
