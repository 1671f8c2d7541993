// Messages to stderr without allocating: a fixed buffer, a few formatters, one
// write(2) per line. Used for warnings, HAKMEM_VERBOSE and HAKMEM_STATS.
#ifndef HAKMEM_CORE_BASE_LOG_H_
#define HAKMEM_CORE_BASE_LOG_H_

#include <cstddef>
#include <cstdint>

namespace hakmem {

class LogLine {
 public:
  explicit LogLine(int fd = 2) : fd_(fd) {}
  LogLine(const LogLine&) = delete;
  LogLine& operator=(const LogLine&) = delete;
  ~LogLine() { Flush(); }

  LogLine& Str(const char* s);
  LogLine& Dec(uint64_t v);
  LogLine& Signed(int64_t v);
  LogLine& Hex(uintptr_t v);
  LogLine& Ptr(const void* p) { return Hex(reinterpret_cast<uintptr_t>(p)); }
  // Fixed point with `decimals` digits after the point, from a value scaled by 10^decimals.
  LogLine& Fixed(uint64_t scaled, int decimals);
  // Writes the buffer followed by a newline (once).
  void Flush();

 private:
  void Put(char c) {
    if (len_ < sizeof(buf_) - 1) buf_[len_++] = c;
  }
  int fd_;
  size_t len_ = 0;
  bool flushed_ = false;
  char buf_[256];
};

}  // namespace hakmem

#endif  // HAKMEM_CORE_BASE_LOG_H_
