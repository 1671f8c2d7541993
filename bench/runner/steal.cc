#include "bench/runner/steal.h"

#include <unistd.h>

#include <fstream>
#include <sstream>

namespace hakmem_bench {

double StealSecondsIn(const std::string& proc_stat, long ticks_per_second) {
  // "cpu  user nice system idle iowait irq softirq steal guest guest_nice":
  // steal is the 8th number, in USER_HZ ticks.
  constexpr int kStealField = 8;
  std::istringstream in(proc_stat);
  std::string label;
  if (!(in >> label) || label != "cpu" || ticks_per_second <= 0) return 0;
  unsigned long long value = 0;
  for (int field = 1; field <= kStealField; ++field) {
    if (!(in >> value)) return 0;  // an old kernel without the field
  }
  return static_cast<double>(value) / static_cast<double>(ticks_per_second);
}

double StealSecondsNow() {
  std::ifstream f("/proc/stat");
  std::string first_line;
  if (!std::getline(f, first_line)) return 0;
  return StealSecondsIn(first_line, sysconf(_SC_CLK_TCK));
}

double StealShare(double stolen_s, double wall_s, int cpus) {
  if (wall_s <= 0 || cpus <= 0 || stolen_s <= 0) return 0;
  return stolen_s / (wall_s * cpus);
}

}  // namespace hakmem_bench
