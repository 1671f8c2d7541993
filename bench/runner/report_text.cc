// Text table and markdown output of a head-to-head run.
#include <algorithm>
#include <cctype>
#include <cstdio>
#include <string>
#include <vector>

#include "bench/runner/report.h"

namespace hakmem_bench {
namespace {

// A rate in the metric's display unit (DisplayOf).
std::string Rate(const Experiment& e, double rate) {
  const double v = rate * DisplayOf(e.metric).scale;
  char buf[32];
  snprintf(buf, sizeof buf, v < 1 ? "%.4f" : v < 100 ? "%.3f" : "%.1f", v);
  return buf;
}

std::string Num(const char* fmt, double v) {
  char buf[32];
  snprintf(buf, sizeof buf, fmt, v);
  return buf;
}

std::string Ratio(double r) { return r > 0 ? Num("%.3fx", r) : "-"; }

// ", 95 % low - high" after a paired ratio, marked "(differs)" when the
// interval leaves out 1; nothing below 6 rounds (MedianInterval).
std::string IntervalText(const Interval& i) {
  if (!i.valid) return "";
  const bool differs = i.low > 1 || i.high < 1;
  return ", 95 % " + Ratio(i.low) + " - " + Ratio(i.high) + (differs ? " (differs)" : "");
}

bool HasInstructions(const Experiment& e) {
  return std::any_of(e.results.begin(), e.results.end(),
                     [](const AllocatorRuns& a) { return a.instructions.attempted; });
}

// One allocator's line, already formatted; markdown and text differ only in layout.
struct Row {
  std::vector<std::string> cells;
  bool subject = false;
};

std::vector<std::string> Header(const Experiment& e) {
  std::vector<std::string> h = {"allocator", DisplayOf(e.metric).label + " median", "min", "max",
                                "wall s", "user+sys s", "peak RSS MiB",
                                "hakmem/this " + e.metric, "hakmem/this RSS"};
  if (HasInstructions(e)) {
    h.push_back("instr/op");
    h.push_back("hakmem/this instr");
  }
  return h;
}

std::vector<Row> Rows(const Experiment& e, const Comparison& c) {
  std::vector<Row> rows;
  for (const auto& a : e.results) {
    const Stat rate = RateStat(a), rss = RssMibStat(a), wall = WallStat(a), cpu = CpuStat(a);
    Row row;
    row.subject = a.allocator.subject;
    std::string name = a.allocator.name;
    const int failed = FailedRuns(a);
    if (failed > 0) name += " (" + std::to_string(failed) + " failed)";
    row.cells = {name,
                 rate.valid ? Rate(e, rate.median) : "-",
                 rate.valid ? Rate(e, rate.min) : "-",
                 rate.valid ? Rate(e, rate.max) : "-",
                 wall.valid ? Num("%.2f", wall.median) : "-",
                 cpu.valid ? Num("%.2f", cpu.median) : "-",
                 rss.valid ? Num("%.1f", rss.median) : "-",
                 a.allocator.subject ? "-" : Ratio(RateRatio(c.hakmem, &a)),
                 a.allocator.subject ? "-" : Ratio(RssRatio(c.hakmem, &a))};
    if (HasInstructions(e)) {
      const double per_op = a.instructions.PerOp();
      row.cells.push_back(per_op > 0 ? Num("%.1f", per_op) : "-");
      row.cells.push_back(a.allocator.subject ? "-" : Ratio(InstructionRatio(c.hakmem, &a)));
    }
    rows.push_back(row);
  }
  return rows;
}

std::string VersusLine(const Experiment& e, const Comparison& c) {
  std::string s;
  const bool timed = std::any_of(e.results.begin(), e.results.end(),
                                 [](const AllocatorRuns& a) { return !a.runs.empty(); });
  if (!timed) {
    s = "no timed runs";
  } else if (c.hakmem == nullptr) {
    s = "no successful hakmem run: no ratios";
  } else if (c.best_peer == nullptr) {
    s = "no successful peer run: no ratios";
  } else {
    s = "hakmem / best peer (" + c.best_peer->allocator.name +
        "): " + Ratio(RateRatio(c.hakmem, c.best_peer)) + " " + e.metric + " (paired by round " +
        Ratio(PairedRateRatio(c.hakmem, c.best_peer)) +
        IntervalText(PairedRateInterval(c.hakmem, c.best_peer)) + "), " +
        Ratio(RssRatio(c.hakmem, c.best_peer)) + " RSS; hakmem / lowest-RSS peer (" +
        c.lowest_rss_peer->allocator.name + "): " +
        Ratio(RssRatio(c.hakmem, c.lowest_rss_peer)) + " RSS; hakmem / median peer: " +
        Ratio(MedianPeerRssRatio(c)) + " RSS";
  }
  std::string quiet;
  for (const auto& a : e.results) {
    const Stat q = DetailStat(a, kQuietRssMib);
    if (q.valid) quiet += (quiet.empty() ? "" : ", ") + a.allocator.name + " " + Num("%.1f", q.median);
  }
  if (!quiet.empty()) s += "\nRSS late in the quiet phases (median MiB): " + quiet;
  if (c.hakmem != nullptr && c.fewest_instructions_peer != nullptr) {
    s += "\ninstructions/op: hakmem " + Num("%.1f", c.hakmem->instructions.PerOp()) +
         ", fewest peer (" + c.fewest_instructions_peer->allocator.name + ") " +
         Num("%.1f", c.fewest_instructions_peer->instructions.PerOp()) + ": " +
         Ratio(InstructionRatio(c.hakmem, c.fewest_instructions_peer));
  }
  return s;
}

std::vector<std::string> Notes(const Experiment& e) {
  std::vector<std::string> notes;
  if (!e.note.empty()) notes.push_back(e.note);
  for (const auto& s : e.skipped) notes.push_back("skipped " + s.name + ": " + s.reason);
  for (const auto& a : e.results) {
    for (const auto& r : a.runs) {
      if (!r.ok) {
        notes.push_back("failed " + a.allocator.name + " round " + std::to_string(r.round) +
                        ": " + r.error);
      }
    }
    if (a.instructions.attempted && !a.instructions.valid) {
      notes.push_back("no instruction count for " + a.allocator.name + ": " + a.instructions.error);
    }
  }
  if (!e.profile_path.empty()) notes.push_back("hakmem CPU profile: " + e.profile_path);
  return notes;
}

// The cross-experiment summary: one line per experiment.
std::vector<std::string> SummaryHeader(const Report& r) {
  std::vector<std::string> h = {"experiment", "family", "unit", "hakmem", "best peer", "peer",
                                "hakmem/best", "hakmem RSS MiB", "lowest-RSS peer",
                                "peer RSS MiB", "hakmem/lowest RSS", "hakmem/median-peer RSS"};
  if (r.instructions) {
    for (const char* c : {"hakmem instr/op", "fewest-instr peer", "peer instr/op", "hakmem/peer instr"}) {
      h.push_back(c);
    }
  }
  return h;
}

std::vector<std::vector<std::string>> SummaryRows(const Report& r) {
  std::vector<std::vector<std::string>> rows;
  for (const auto& e : r.experiments) {
    const Comparison c = Compare(e);
    auto rate = [&](const AllocatorRuns* a) {
      return a && RateStat(*a).valid ? Rate(e, RateStat(*a).median) : "-";
    };
    auto rss = [](const AllocatorRuns* a) {
      return a && RssMibStat(*a).valid ? Num("%.1f", RssMibStat(*a).median) : "-";
    };
    std::vector<std::string> row = {
        e.name, e.family, DisplayOf(e.metric).label, rate(c.hakmem),
        c.best_peer ? c.best_peer->allocator.name : "-", rate(c.best_peer),
        Ratio(RateRatio(c.hakmem, c.best_peer)), rss(c.hakmem),
        c.lowest_rss_peer ? c.lowest_rss_peer->allocator.name : "-", rss(c.lowest_rss_peer),
        Ratio(RssRatio(c.hakmem, c.lowest_rss_peer)), Ratio(MedianPeerRssRatio(c))};
    if (r.instructions) {
      auto per_op = [](const AllocatorRuns* a) {
        return a && a->instructions.PerOp() > 0 ? Num("%.1f", a->instructions.PerOp()) : "-";
      };
      const AllocatorRuns* p = c.fewest_instructions_peer;
      row.push_back(per_op(c.hakmem));
      row.push_back(p ? p->allocator.name : "-");
      row.push_back(per_op(p));
      row.push_back(Ratio(InstructionRatio(c.hakmem, p)));
    }
    rows.push_back(row);
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
  std::string out = "host: " + HostLine(r.host) + "\n\n";
  for (const auto& e : r.experiments) {
    const Comparison c = Compare(e);
    out += "== " + e.name + ": " + DescribeConfig(e, r.rounds) + "\n";
    std::vector<std::vector<std::string>> cells;
    for (const auto& row : Rows(e, c)) cells.push_back(row.cells);
    out += TextGrid(Header(e), cells);
    out += VersusLine(e, c) + "\n";
    for (const auto& n : Notes(e)) out += n + "\n";
    out += "\n";
  }
  if (r.experiments.size() > 1) {
    out += "== summary (medians; rate ratio > 1 and RSS ratio < 1 favour hakmem)\n";
    out += TextGrid(SummaryHeader(r), SummaryRows(r));
  }
  return out;
}

std::string FormatMarkdown(const Report& r) {
  std::string out = "Host: " + HostLine(r.host) + "\n\n";
  if (r.experiments.size() > 1) {
    out += "### Summary\n\nMedians; a rate ratio above 1 and an RSS ratio below 1 favour hakmem.\n\n";
    out += MarkdownGrid(SummaryHeader(r), SummaryRows(r)) + "\n";
  }
  for (const auto& e : r.experiments) {
    const Comparison c = Compare(e);
    out += "### " + e.name + "\n\n" + DescribeConfig(e, r.rounds) + "\n\n";
    std::vector<std::vector<std::string>> cells;
    for (auto row : Rows(e, c)) {
      if (row.subject) row.cells[0] = "**" + row.cells[0] + "**";
      cells.push_back(row.cells);
    }
    // Each line of the comparison its own paragraph.
    std::string versus = VersusLine(e, c);
    for (size_t nl = versus.find('\n'); nl != std::string::npos; nl = versus.find('\n', nl + 2)) {
      versus.insert(nl, "\n");
    }
    out += MarkdownGrid(Header(e), cells) + "\n" + versus + "\n";
    for (const auto& n : Notes(e)) out += "\n- " + n;
    out += "\n\n";
  }
  return out;
}

}  // namespace hakmem_bench
