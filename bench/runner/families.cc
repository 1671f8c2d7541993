#include "bench/runner/families.h"

namespace hakmem_bench {
namespace {

struct FamilyRow {
  const char* workload;
  const char* family;
};

// hakmem's own workloads come first: "larson" is the one written for hakmem's
// suite; larson_sized is the classic benchmark's configuration.
constexpr FamilyRow kFamilies[] = {
    {"mid", "hakmem_own"},       {"tiny", "hakmem_own"},        {"large", "hakmem_own"},
    {"larson", "hakmem_own"},    {"xthread", "hakmem_own"},     {"phase", "hakmem_own"},
    {"larson_sized", "larson"},  {"xmalloc", "xmalloc"},        {"rptest", "rptest"},
    {"mstress", "mstress"},      {"cache_thrash", "cache"},     {"cache_scratch", "cache"},
    {"glibc_simple", "glibc"},   {"glibc_thread", "glibc"},     {"alloc_test", "alloc_test"},
    {"bigbuf", "bigbuf"},        {"thread_churn", "thread_churn"}, {"bignum", "bignum"},
    {"espresso", "espresso"},
};

}  // namespace

std::string FamilyOf(const std::string& workload) {
  if (workload.rfind("app_", 0) == 0) return "apps";
  for (const auto& row : kFamilies) {
    if (workload == row.workload) return row.family;
  }
  return workload;
}

}  // namespace hakmem_bench
