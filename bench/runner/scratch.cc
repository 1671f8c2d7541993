#include "bench/runner/scratch.h"

#include <ftw.h>
#include <stdlib.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <vector>

namespace hakmem_bench {
namespace {

int RemoveEntry(const char* path, const struct stat*, int, FTW*) {
  remove(path);
  return 0;
}

std::string DefaultRoot() {
  for (const char* var : {"TEST_TMPDIR", "TMPDIR"}) {
    const char* v = getenv(var);
    if (v != nullptr && v[0] != '\0') return v;
  }
  return "/tmp";
}

}  // namespace

ScratchDir::ScratchDir(const std::string& root) {
  std::string templ = (root.empty() ? DefaultRoot() : root) + "/hakmem_bench.XXXXXX";
  std::vector<char> buf(templ.begin(), templ.end());
  buf.push_back('\0');
  if (mkdtemp(buf.data()) == nullptr) {
    error_ = "cannot create " + templ + ": " + strerror(errno);
    return;
  }
  path_ = buf.data();
}

ScratchDir::~ScratchDir() {
  // Depth first, without following symlinks out of the directory.
  if (!path_.empty()) nftw(path_.c_str(), RemoveEntry, 16, FTW_DEPTH | FTW_PHYS);
}

bool ReadFile(const std::string& path, std::string* text) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return false;
  std::ostringstream out;
  out << f.rdbuf();
  *text = out.str();
  return true;
}

}  // namespace hakmem_bench
