#include "sync/mpsc_list.h"

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "sync/test_util.h"

namespace hakmem::sync {
namespace {

using testing::Block;
using testing::kScale;

constinit RemoteFreeList g_list;  // constant-initialised, like a slab's field

// TakeAll without the count, for the tests that do not look at it.
void* TakeAll(RemoteFreeList& list) {
  uint32_t n;
  return list.TakeAll(&n);
}

TEST(RemoteFreeList, PushReportsTheEmptyToNonEmptyTransition) {
  Block a{}, b{}, c{};
  RemoteFreeList list;
  EXPECT_TRUE(list.Empty());
  EXPECT_EQ(TakeAll(list), nullptr);
  EXPECT_TRUE(list.Push(&a));   // was empty: notify the owner
  EXPECT_FALSE(list.Push(&b));  // already non-empty: owner already told
  EXPECT_FALSE(list.Empty());
  EXPECT_FALSE(list.Push(&c));
  // LIFO chain, newest first, ending in nullptr.
  void* chain = TakeAll(list);
  EXPECT_EQ(chain, &c);
  EXPECT_EQ(c.link, &b);
  EXPECT_EQ(b.link, &a);
  EXPECT_EQ(a.link, nullptr);
  EXPECT_TRUE(list.Empty());
  EXPECT_TRUE(list.Push(&a));  // empty again after TakeAll
  EXPECT_EQ(TakeAll(list), &a);
}

TEST(RemoteFreeList, TheCountRidesWithTheListAndGoesWithItsTake) {
  Block a{}, b{}, c{}, d{};
  RemoteFreeList list;
  EXPECT_EQ(list.Count(), 0u);
  list.Push(&a);
  b.link = &c;
  list.PushChain(&b, &c, 2);
  EXPECT_EQ(list.Count(), 3u);
  uint32_t n = 0;
  EXPECT_EQ(list.TakeAll(&n), &b);
  EXPECT_EQ(n, 3u);
  EXPECT_EQ(list.Count(), 0u);
  EXPECT_EQ(list.TakeAll(&n), nullptr);
  EXPECT_EQ(n, 0u);
  list.Push(&d);
  EXPECT_EQ(list.TakeAll(&n), &d);
  EXPECT_EQ(n, 1u);
  EXPECT_EQ(d.link, nullptr);
}

TEST(RemoteFreeList, TheCountStopsAtItsMostAndTheListGoesOn) {
  std::vector<Block> blocks(RemoteFreeList::kMaxCount + 100);
  RemoteFreeList list;
  for (Block& b : blocks) list.Push(&b);
  EXPECT_EQ(list.Count(), RemoteFreeList::kMaxCount);
  uint32_t n = 0;
  size_t walked = 0;
  for (auto* b = static_cast<Block*>(list.TakeAll(&n)); b != nullptr;
       b = static_cast<Block*>(b->link)) {
    ++walked;
  }
  EXPECT_EQ(n, RemoteFreeList::kMaxCount);  // a floor
  EXPECT_EQ(walked, blocks.size());
}

TEST(RemoteFreeList, PushChainLinksTheChainInFrontOfTheList) {
  Block a{}, b{}, c{};
  EXPECT_TRUE(g_list.Push(&a));
  b.link = &c;  // pre-linked chain b -> c; c's link gets overwritten
  c.link = &c;
  EXPECT_FALSE(g_list.PushChain(&b, &c, 2));
  EXPECT_EQ(TakeAll(g_list), &b);
  EXPECT_EQ(b.link, &c);
  EXPECT_EQ(c.link, &a);
  EXPECT_EQ(a.link, nullptr);
  EXPECT_TRUE(g_list.PushChain(&b, &c, 2));  // chain onto an empty list
  EXPECT_EQ(TakeAll(g_list), &b);
  EXPECT_EQ(c.link, nullptr);
}

// Producers push disjoint blocks (singly and in chains) while one consumer
// drains. Every block must come out exactly once, and the number of pushes
// that returned true must equal the number of non-empty TakeAll results (each
// drain ends exactly one "non-empty" period that exactly one push started).
TEST(RemoteFreeList, ManyProducersOneConsumerSeeEveryBlockOnce) {
  constexpr int kProducers = 4;
  const int per_producer = 5000 * kScale;
  const int total = kProducers * per_producer;
  std::vector<Block> blocks(total);
  for (int i = 0; i < total; ++i) blocks[i].id = static_cast<uint64_t>(i);

  RemoteFreeList list;
  std::atomic<long> true_pushes{0};
  std::vector<std::thread> producers;
  for (int p = 0; p < kProducers; ++p) {
    producers.emplace_back([&, p] {
      long trues = 0;
      Block* mine = &blocks[p * per_producer];
      for (int i = 0; i < per_producer;) {
        if (i % 7 == 0 && i + 3 <= per_producer) {  // a chain of 3
          mine[i].link = &mine[i + 1];
          mine[i + 1].link = &mine[i + 2];
          trues += list.PushChain(&mine[i], &mine[i + 2], 3);
          i += 3;
        } else {
          trues += list.Push(&mine[i]);
          ++i;
        }
      }
      true_pushes.fetch_add(trues);
    });
  }

  std::vector<int> seen(total, 0);
  int got = 0;
  long drains = 0;
  uint64_t sum = 0;
  while (got < total) {
    uint32_t counted;
    void* chain = list.TakeAll(&counted);
    if (chain == nullptr) {
      std::this_thread::yield();
      continue;
    }
    ++drains;
    uint32_t walked = 0;
    for (auto* b = static_cast<Block*>(chain); b != nullptr;
         b = static_cast<Block*>(b->link)) {
      ASSERT_GE(b, blocks.data());
      ASSERT_LT(b, blocks.data() + total);
      ++seen[b->id];
      sum += b->id;
      ++got;
      ++walked;
    }
    // The count taken with a list is that list's, whatever pushes raced (up
    // to where it saturates: a consumer kept off the CPU can find more).
    ASSERT_EQ(std::min(walked, RemoteFreeList::kMaxCount), counted);
  }
  for (auto& t : producers) t.join();

  EXPECT_EQ(TakeAll(list), nullptr);
  EXPECT_EQ(got, total);
  for (int i = 0; i < total; ++i) ASSERT_EQ(seen[i], 1) << "block " << i;
  EXPECT_EQ(sum, uint64_t(total) * (total - 1) / 2);
  EXPECT_EQ(true_pushes.load(), drains);
}

}  // namespace
}  // namespace hakmem::sync
