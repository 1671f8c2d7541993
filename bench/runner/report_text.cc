// Text table and markdown output of a head-to-head run.
#include <algorithm>
#include <cctype>
#include <cstdio>
#include <string>
#include <vector>

#include "bench/runner/report.h"

namespace hakmem_bench {
namespace {

std::string Mops(double ops_per_sec) {
  const double m = ops_per_sec / 1e6;
  char buf[32];
  snprintf(buf, sizeof buf, m < 1 ? "%.4f" : m < 100 ? "%.3f" : "%.1f", m);
  return buf;
}

std::string Num(const char* fmt, double v) {
  char buf[32];
  snprintf(buf, sizeof buf, fmt, v);
  return buf;
}

std::string Ratio(double r) { return r > 0 ? Num("%.3fx", r) : "-"; }

// One allocator's line, already formatted; markdown and text differ only in layout.
struct Row {
  std::vector<std::string> cells;
  bool subject = false;
};

const std::vector<std::string> kHeader = {
    "allocator", "Mops/s median", "min", "max", "peak RSS MiB", "hakmem/this ops/s",
    "hakmem/this RSS"};

std::vector<Row> Rows(const Experiment& e, const Comparison& c) {
  std::vector<Row> rows;
  for (const auto& a : e.results) {
    const Stat ops = OpsStat(a), rss = RssMibStat(a);
    Row row;
    row.subject = a.allocator.subject;
    std::string name = a.allocator.name;
    const int failed = FailedRuns(a);
    if (failed > 0) name += " (" + std::to_string(failed) + " failed)";
    row.cells = {name,
                 ops.valid ? Mops(ops.median) : "-",
                 ops.valid ? Mops(ops.min) : "-",
                 ops.valid ? Mops(ops.max) : "-",
                 rss.valid ? Num("%.1f", rss.median) : "-",
                 a.allocator.subject ? "-" : Ratio(OpsRatio(c.hakmem, &a)),
                 a.allocator.subject ? "-" : Ratio(RssRatio(c.hakmem, &a))};
    rows.push_back(row);
  }
  return rows;
}

std::string VersusLine(const Comparison& c) {
  if (c.hakmem == nullptr) return "no successful hakmem run: no ratios";
  if (c.best_peer == nullptr) return "no successful peer run: no ratios";
  std::string s = "hakmem / best peer (" + c.best_peer->allocator.name +
                  "): " + Ratio(OpsRatio(c.hakmem, c.best_peer)) + " ops/s, " +
                  Ratio(RssRatio(c.hakmem, c.best_peer)) + " RSS; hakmem / lowest-RSS peer (" +
                  c.lowest_rss_peer->allocator.name + "): " +
                  Ratio(RssRatio(c.hakmem, c.lowest_rss_peer)) + " RSS";
  return s;
}

std::vector<std::string> Notes(const Experiment& e) {
  std::vector<std::string> notes;
  for (const auto& s : e.skipped) notes.push_back("skipped " + s.name + ": " + s.reason);
  for (const auto& a : e.results) {
    for (const auto& r : a.runs) {
      if (!r.ok) {
        notes.push_back("failed " + a.allocator.name + " round " + std::to_string(r.round) +
                        ": " + r.error);
      }
    }
  }
  if (!e.profile_path.empty()) notes.push_back("hakmem CPU profile: " + e.profile_path);
  return notes;
}

// The cross-experiment summary: one line per experiment.
const std::vector<std::string> kSummaryHeader = {
    "experiment", "hakmem Mops/s", "best peer", "peer Mops/s", "hakmem/best ops/s",
    "hakmem RSS MiB", "lowest-RSS peer", "peer RSS MiB", "hakmem/lowest RSS"};

std::vector<std::vector<std::string>> SummaryRows(const Report& r) {
  std::vector<std::vector<std::string>> rows;
  for (const auto& e : r.experiments) {
    const Comparison c = Compare(e);
    auto ops = [](const AllocatorRuns* a) { return a ? Mops(OpsStat(*a).median) : "-"; };
    auto rss = [](const AllocatorRuns* a) {
      return a ? Num("%.1f", RssMibStat(*a).median) : "-";
    };
    rows.push_back({e.name, ops(c.hakmem), c.best_peer ? c.best_peer->allocator.name : "-",
                    ops(c.best_peer), Ratio(OpsRatio(c.hakmem, c.best_peer)), rss(c.hakmem),
                    c.lowest_rss_peer ? c.lowest_rss_peer->allocator.name : "-",
                    rss(c.lowest_rss_peer), Ratio(RssRatio(c.hakmem, c.lowest_rss_peer))});
  }
  return rows;
}

std::string TextGrid(const std::vector<std::string>& header,
                     const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width(header.size());
  for (size_t i = 0; i < header.size(); ++i) width[i] = header[i].size();
  for (const auto& row : rows) {
    for (size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], row[i].size());
  }
  auto line = [&](const std::vector<std::string>& cells) {
    std::string s;
    for (size_t i = 0; i < cells.size(); ++i) {
      const std::string pad(width[i] - cells[i].size(), ' ');
      s += i == 0 ? cells[i] + pad : "  " + pad + cells[i];  // first column left, rest right
    }
    return s + "\n";
  };
  std::string out = line(header);
  for (const auto& row : rows) out += line(row);
  return out;
}

std::string MarkdownGrid(const std::vector<std::string>& header,
                         const std::vector<std::vector<std::string>>& rows) {
  std::string out = "|";
  for (const auto& h : header) out += " " + h + " |";
  // Numbers (and "-") right-aligned, names left-aligned, judged by the first row.
  out += "\n|";
  for (size_t i = 0; i < header.size(); ++i) {
    const bool text = rows.empty() || i >= rows[0].size() || rows[0][i].empty() ||
                      !(isdigit(static_cast<unsigned char>(rows[0][i][0])) || rows[0][i] == "-");
    out += i == 0 || text ? "---|" : "---:|";
  }
  out += "\n";
  for (const auto& row : rows) {
    out += "|";
    for (const auto& c : row) out += " " + c + " |";
    out += "\n";
  }
  return out;
}

}  // namespace

std::string FormatTable(const Report& r) {
  std::string out;
  for (const auto& e : r.experiments) {
    const Comparison c = Compare(e);
    out += "== " + e.name + ": " + DescribeConfig(e, r.rounds) + "\n";
    std::vector<std::vector<std::string>> cells;
    for (const auto& row : Rows(e, c)) cells.push_back(row.cells);
    out += TextGrid(kHeader, cells);
    out += VersusLine(c) + "\n";
    for (const auto& n : Notes(e)) out += n + "\n";
    out += "\n";
  }
  if (r.experiments.size() > 1) {
    out += "== summary (medians; ops/s ratio > 1 and RSS ratio < 1 favour hakmem)\n";
    out += TextGrid(kSummaryHeader, SummaryRows(r));
  }
  return out;
}

std::string FormatMarkdown(const Report& r) {
  std::string out;
  if (r.experiments.size() > 1) {
    out += "### Summary\n\nMedians; an ops/s ratio above 1 and an RSS ratio below 1 favour hakmem.\n\n";
    out += MarkdownGrid(kSummaryHeader, SummaryRows(r)) + "\n";
  }
  for (const auto& e : r.experiments) {
    const Comparison c = Compare(e);
    out += "### " + e.name + "\n\n" + DescribeConfig(e, r.rounds) + "\n\n";
    std::vector<std::vector<std::string>> cells;
    for (auto row : Rows(e, c)) {
      if (row.subject) row.cells[0] = "**" + row.cells[0] + "**";
      cells.push_back(row.cells);
    }
    out += MarkdownGrid(kHeader, cells) + "\n" + VersusLine(c) + "\n";
    for (const auto& n : Notes(e)) out += "\n- " + n;
    out += "\n\n";
  }
  return out;
}

}  // namespace hakmem_bench
