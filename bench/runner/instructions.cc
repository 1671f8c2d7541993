#include "bench/runner/instructions.h"

#include <cstdlib>
#include <cstring>
#include <sstream>

#include "bench/runner/scratch.h"

namespace hakmem_bench {

ChildSpec UnderCallgrind(const ChildSpec& spec, const std::string& dir) {
  ChildSpec out = spec;
  out.argv = {kValgrind, "--tool=callgrind", "--callgrind-out-file=" + dir + "/callgrind.out",
              "--log-file=" + dir + "/valgrind.log"};
  out.argv.insert(out.argv.end(), spec.argv.begin(), spec.argv.end());
  return out;
}

bool ReadInstructions(const std::string& dir, uint64_t* instructions, std::string* error) {
  std::string text;
  if (ReadFile(dir + "/callgrind.out", &text)) {
    std::istringstream lines(text);
    std::string line;
    while (std::getline(lines, line)) {
      for (const char* key : {"totals:", "summary:"}) {
        if (line.rfind(key, 0) == 0) {
          // The first event is Ir (callgrind's default event set).
          *instructions = strtoull(line.c_str() + strlen(key), nullptr, 10);
          if (*instructions > 0) return true;
        }
      }
    }
  }
  *error = "no totals in " + dir + "/callgrind.out";
  std::string log;
  if (ReadFile(dir + "/valgrind.log", &log)) {
    std::istringstream lines(log);
    std::string line;
    while (std::getline(lines, line)) {
      // valgrind's lines start with ==pid==; the first one with text after the
      // banner that mentions a problem is the useful one.
      if (line.find("rror") != std::string::npos || line.find("annot") != std::string::npos) {
        *error += " (valgrind: " + line + ")";
        break;
      }
    }
  }
  return false;
}

}  // namespace hakmem_bench
