#include "core/config.h"

#include <algorithm>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace hakmem {
namespace {

Config Parse(std::initializer_list<const char*> entries) {
  std::vector<char*> env;
  for (const char* e : entries) env.push_back(const_cast<char*>(e));
  env.push_back(nullptr);
  Config c;
  ParseConfig(env.data(), &c);
  return c;
}

TEST(Config, DefaultsWithoutVariables) {
  const Config c = Parse({"PATH=/bin", "HOME=/root"});
  const Config d;
  EXPECT_EQ(c.tiny_refill_max, d.tiny_refill_max);
  EXPECT_EQ(c.large_cache_bytes, d.large_cache_bytes);
  EXPECT_EQ(c.verbose, 0u);
}

TEST(Config, ParsesNumbersFlagsSuffixesAndModes) {
  const Config c = Parse({"HAKMEM_VERBOSE=1", "HAKMEM_TINY_REFILL_MAX=192",
                          "HAKMEM_LARGE_CACHE_BYTES=8M", "HAKMEM_SUPERSLAB_CACHE=0",
                          "HAKMEM_INVALID_FREE=abort", "HAKMEM_STATS=1"});
  EXPECT_EQ(c.verbose, 1u);
  EXPECT_EQ(c.stats, 1u);
  EXPECT_EQ(c.tiny_refill_max, 192u);
  EXPECT_EQ(c.large_cache_bytes, uint64_t{8} << 20);
  EXPECT_EQ(c.superslab_cache, 0u);
  EXPECT_EQ(c.invalid_free, static_cast<uint32_t>(InvalidFreeMode::kAbort));
}

TEST(Config, BadValuesWarnOnceAndKeepTheDefault) {
  const Config d;
  testing::internal::CaptureStderr();
  const Config c = Parse({"HAKMEM_TINY_REFILL_MAX=lots", "HAKMEM_SUPERSLAB_CACHE=999",
                          "HAKMEM_LARGE_CACHE_BYTES=12Q", "HAKMEM_INVALID_FREE=maybe",
                          "HAKMEM_VERBOSE=", "HAKMEM_TINY_REFILL_MAX_EXTRA=5"});
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_EQ(c.tiny_refill_max, d.tiny_refill_max);
  EXPECT_EQ(c.superslab_cache, d.superslab_cache);
  EXPECT_EQ(c.large_cache_bytes, d.large_cache_bytes);
  EXPECT_EQ(c.invalid_free, d.invalid_free);
  EXPECT_EQ(c.verbose, d.verbose);
  // One line per bad variable; the unknown look-alike name is not ours.
  EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 5) << err;
  EXPECT_NE(err.find("HAKMEM_TINY_REFILL_MAX=lots is invalid"), std::string::npos) << err;
}

TEST(Config, RejectsOverflow) {
  const Config d;
  testing::internal::CaptureStderr();
  const Config c = Parse({"HAKMEM_LARGE_CACHE_BYTES=99999999999999999999999"});
  testing::internal::GetCapturedStderr();
  EXPECT_EQ(c.large_cache_bytes, d.large_cache_bytes);
}

}  // namespace
}  // namespace hakmem
