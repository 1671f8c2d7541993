// The Mid/L2.5 span policy: idle spans never exceed CAP, refills take
// HAKMEM_POOL_REFILL_BATCH spans (never more than CAP), idle spans are reused
// before new ones, and the retain limit keeps free units in check.
#include <cstring>
#include <vector>

#include "core/base/config.h"
#include "core/hakmem.h"
#include "core/stats.h"
#include "gtest/gtest.h"
#include "pools/mid/idle_spans.h"
#include "pools/mid/pool_policy.h"
#include "pools/tiny/superslab_manager.h"
#include "pools/tiny/thread_cache.h"

namespace hakmem {
namespace {

// Allocates `spans` spans' worth of class c, frees them all, returns the class stats.
ClassStats Churn(int c, int spans) {
  std::vector<void*> v;
  const int blocks = spans * static_cast<int>(kClassInfo[c].capacity);
  for (int i = 0; i < blocks; ++i) v.push_back(hak_alloc(ClassSize(c)));
  for (void* p : v) hak_free(p);
  ClassStats s;
  GetClassStats(c, &s);
  return s;
}

TEST(SpanPolicy, IdleSpansNeverExceedCap) {
  const int c = SizeToClass(8192);
  ASSERT_EQ(TierOfClass(c), Tier::kMid);
  mid::PoolPolicy::SetCap(c, 8);  // the lowest the Mid range allows by default
  const ClassStats s = Churn(c, 40);
  EXPECT_LE(s.idle_spans, 8u);
  EXPECT_EQ(s.cap, 8u);
  mid::PoolPolicy::SetCap(c, GetConfig().cap_mid);
}

TEST(SpanPolicy, CapIsClampedToTheTierRange) {
  const int c = SizeToClass(3000);
  mid::PoolPolicy::SetCap(c, 1);
  EXPECT_EQ(mid::PoolPolicy::Cap(c), GetConfig().cap_min_mid);
  mid::PoolPolicy::SetCap(c, 1u << 30);
  EXPECT_EQ(mid::PoolPolicy::Cap(c), GetConfig().cap_max_mid);
  mid::PoolPolicy::SetCap(c, GetConfig().cap_mid);
}

TEST(SpanPolicy, RefillsTakeABatchOfNewSpans) {
  hak_trim(0);  // no idle spans anywhere: the next refills map new spans
  const int c = SizeToClass(20000);
  ClassStats before;
  GetClassStats(c, &before);
  void* p = hak_alloc(20000);
  ClassStats after;
  GetClassStats(c, &after);
  EXPECT_EQ(after.spans_new - before.spans_new, GetConfig().pool_refill_batch);
  hak_free(p);
}

TEST(SpanPolicy, EmptiedSpansAreReusedBeforeNewOnes) {
  const int c = SizeToClass(12000);
  Churn(c, 12);  // leaves idle spans behind (CAP 64 by default)
  ClassStats before;
  GetClassStats(c, &before);
  ASSERT_GT(before.idle_spans, 4u);
  // The same again: the thread cache and current span cover a few spans'
  // worth, the idle spans the rest; no new span is needed.
  const ClassStats after = Churn(c, 12);
  EXPECT_GT(after.spans_reused, before.spans_reused);
  EXPECT_EQ(after.spans_new, before.spans_new);
}

TEST(SpanPolicy, ResidentFreeUnitsStayWithinTheRetainLimit) {
  // Many L2.5 spans freed at once: the free units still resident are bounded
  // (by the setting itself: 12 MiB in use is far below twice it).
  const int c = SizeToClass(200000);
  mid::PoolPolicy::SetCap(c, 0);
  Churn(c, 60);
  EXPECT_LE(tiny::ResidentFreeBytes(), GetConfig().pool_retain_bytes);
  mid::PoolPolicy::SetCap(c, GetConfig().cap_large);
}

}  // namespace
}  // namespace hakmem

namespace hakmem {
namespace {

TEST(SpanPolicy, ABinFlushRequestHandsQuietClassesBack) {
  // Fill the bins of a class, then ask for it to be flushed: at the next
  // refill (of another class) its blocks go back and its spans, empty now,
  // go back to the SuperSlab manager with their pages decommitted.
  const int quiet = SizeToClass(6000);
  const int busy = SizeToClass(300);
  std::vector<void*> v;
  for (int i = 0; i < 100; ++i) v.push_back(hak_alloc(6000));
  for (void* p : v) hak_free(p);  // into this thread's bin (up to its limit)
  ClassStats quiet_before, busy_before;
  GetClassStats(quiet, &quiet_before);
  GetClassStats(busy, &busy_before);
  const uint64_t in_use_before = tiny::InUseBytes();
  tiny::RequestBinFlush(uint64_t{1} << quiet);
  // Allocate the busy class until it refills (one span at most).
  std::vector<void*> w;
  for (ClassStats s = busy_before; s.refills == busy_before.refills; GetClassStats(busy, &s)) {
    w.push_back(hak_alloc(300));
  }
  EXPECT_LT(tiny::InUseBytes() + (64u << 10), in_use_before) << "the quiet class's spans stayed";
  ClassStats quiet_after;
  GetClassStats(quiet, &quiet_after);
  EXPECT_EQ(quiet_after.idle_spans, quiet_before.idle_spans);  // not kept idle: decommitted
  for (void* q : w) hak_free(q);
  tiny::RequestBinFlush(0);
}

}  // namespace
}  // namespace hakmem
