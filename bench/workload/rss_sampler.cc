#include "bench/workload/rss_sampler.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>

namespace hakmem_bench {

uint64_t CurrentRssKib() {
  const int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  char buf[128];
  const ssize_t n = read(fd, buf, sizeof(buf) - 1);
  close(fd);
  if (n <= 0) return 0;
  buf[n] = '\0';
  char* rest = nullptr;
  strtoull(buf, &rest, 10);                        // total pages
  const uint64_t pages = strtoull(rest, nullptr, 10);  // resident pages
  return pages * static_cast<uint64_t>(sysconf(_SC_PAGESIZE)) / 1024;
}

void RssSampler::Start(const RunControl* ctl, double seconds) {
  samples_.reserve(static_cast<size_t>(seconds * 1000 / kIntervalMs) + 64);
  thread_ = std::thread([this, ctl] {
    while (!ctl->go.load(std::memory_order_acquire) && !stop_.load(std::memory_order_acquire)) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    Clock::time_point next = Clock::now();
    while (!stop_.load(std::memory_order_acquire)) {
      const double ms = SecondsBetween(ctl->start, Clock::now()) * 1000;
      if (samples_.size() < samples_.capacity()) samples_.push_back({ms, CurrentRssKib()});
      next += std::chrono::milliseconds(kIntervalMs);
      std::this_thread::sleep_until(next);
    }
  });
}

void RssSampler::Stop() {
  stop_.store(true, std::memory_order_release);
  if (thread_.joinable()) thread_.join();
}

}  // namespace hakmem_bench
