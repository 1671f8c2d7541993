// A temporary directory that is removed, with everything in it, when it goes
// out of scope: the runner's children (apps, callgrind) write only there.
#ifndef HAKMEM_BENCH_RUNNER_SCRATCH_H_
#define HAKMEM_BENCH_RUNNER_SCRATCH_H_

#include <string>

namespace hakmem_bench {

class ScratchDir {
 public:
  // Creates <root>/hakmem_bench.XXXXXX; root defaults to $TEST_TMPDIR, $TMPDIR
  // or /tmp. ok() is false (and error() says why) if it could not be made.
  explicit ScratchDir(const std::string& root = "");
  ~ScratchDir();
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;

  bool ok() const { return !path_.empty(); }
  const std::string& path() const { return path_; }
  const std::string& error() const { return error_; }
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
  std::string error_;
};

// Reads a whole file; false if it cannot be opened.
bool ReadFile(const std::string& path, std::string* text);

}  // namespace hakmem_bench

#endif  // HAKMEM_BENCH_RUNNER_SCRATCH_H_
