#include "core/base/log.h"

#include <errno.h>
#include <unistd.h>

namespace hakmem {

LogLine& LogLine::Str(const char* s) {
  while (*s) Put(*s++);
  return *this;
}

LogLine& LogLine::Dec(uint64_t v) {
  char tmp[24];
  int n = 0;
  do {
    tmp[n++] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v != 0);
  while (n > 0) Put(tmp[--n]);
  return *this;
}

LogLine& LogLine::Signed(int64_t v) {
  if (v < 0) {
    Put('-');
    return Dec(static_cast<uint64_t>(0) - static_cast<uint64_t>(v));
  }
  return Dec(static_cast<uint64_t>(v));
}

LogLine& LogLine::Hex(uintptr_t v) {
  Put('0');
  Put('x');
  char tmp[16];
  int n = 0;
  do {
    tmp[n++] = "0123456789abcdef"[v & 15];
    v >>= 4;
  } while (v != 0);
  while (n > 0) Put(tmp[--n]);
  return *this;
}

LogLine& LogLine::Fixed(uint64_t scaled, int decimals) {
  uint64_t div = 1;
  for (int i = 0; i < decimals; ++i) div *= 10;
  Dec(scaled / div);
  if (decimals > 0) {
    Put('.');
    uint64_t frac = scaled % div;
    for (uint64_t d = div / 10; d > 0; d /= 10) {
      Put(static_cast<char>('0' + (frac / d) % 10));
    }
  }
  return *this;
}

void LogLine::Flush() {
  if (flushed_) return;
  flushed_ = true;
  buf_[len_++] = '\n';
  const int saved = errno;  // logging must not disturb the caller's errno
  size_t off = 0;
  while (off < len_) {
    ssize_t w = write(fd_, buf_ + off, len_ - off);
    if (w <= 0) break;
    off += static_cast<size_t>(w);
  }
  errno = saved;
}

}  // namespace hakmem
