#include "sync/tagged_stack.h"

#include <atomic>
#include <cstdint>
#include <random>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "sync/test_util.h"

namespace hakmem::sync {

// Reaches the two halves of a pop attempt and the head word (friend).
class TaggedStackTestPeer {
 public:
  using Attempt = TaggedStack::PopAttempt;
  static Attempt Prepare(TaggedStack& s) {
    return TaggedStack::Prepare(s.head_.load());
  }
  static bool Commit(TaggedStack& s, const Attempt& a) {
    uint64_t head;
    // A weak CAS may fail spuriously; retry only while the head is unchanged.
    while (!s.Commit(a, &head)) {
      if (head != a.expected) return false;
    }
    return true;
  }
  static uint64_t Tag(TaggedStack& s) {
    return TaggedStack::Tag(s.head_.load());
  }
};

namespace {

using testing::Block;
using testing::kScale;

static_assert(TaggedStack::kTagBits == 19);

constinit TaggedStack g_stack;  // constant-initialised, like a global list

TEST(TaggedStack, SingleThreadLifo) {
  Block b[3]{};
  TaggedStack s;
  EXPECT_TRUE(s.Empty());
  EXPECT_EQ(s.Pop(), nullptr);
  for (auto& x : b) s.Push(&x);
  EXPECT_EQ(s.Size(), 3u);
  EXPECT_FALSE(s.Empty());
  EXPECT_EQ(s.Pop(), &b[2]);
  EXPECT_EQ(s.Pop(), &b[1]);
  EXPECT_EQ(s.Pop(), &b[0]);
  EXPECT_EQ(s.Pop(), nullptr);
  EXPECT_EQ(s.Size(), 0u);
  EXPECT_TRUE(s.Empty());
}

TEST(TaggedStack, PushBatchKeepsChainOrderOnTop) {
  Block b[5]{};
  g_stack.Push(&b[0]);
  b[1].link = &b[2];  // chain 1 -> 2 -> 3
  b[2].link = &b[3];
  g_stack.PushBatch(&b[1], &b[3], 3);
  EXPECT_EQ(g_stack.Size(), 4u);
  EXPECT_EQ(g_stack.Pop(), &b[1]);
  EXPECT_EQ(g_stack.Pop(), &b[2]);
  EXPECT_EQ(g_stack.Pop(), &b[3]);
  EXPECT_EQ(g_stack.Pop(), &b[0]);
  EXPECT_EQ(g_stack.Pop(), nullptr);
}

TEST(TaggedStack, PopBatchReturnsATerminatedChain) {
  Block b[5]{};
  TaggedStack s;
  for (auto& x : b) s.Push(&x);
  void* last = nullptr;
  size_t got = 0;
  void* first = s.PopBatch(3, &last, &got);
  EXPECT_EQ(got, 3u);
  EXPECT_EQ(first, &b[4]);
  EXPECT_EQ(b[4].link, &b[3]);
  EXPECT_EQ(b[3].link, &b[2]);
  EXPECT_EQ(last, &b[2]);
  EXPECT_EQ(b[2].link, nullptr);
  EXPECT_EQ(s.Size(), 2u);
  first = s.PopBatch(10, &last, &got);  // fewer than asked
  EXPECT_EQ(got, 2u);
  EXPECT_EQ(first, &b[1]);
  EXPECT_EQ(last, &b[0]);
  EXPECT_EQ(b[0].link, nullptr);
  EXPECT_EQ(s.PopBatch(4, &last, &got), nullptr);
  EXPECT_EQ(got, 0u);
  EXPECT_EQ(last, nullptr);
}

TEST(TaggedStack, PopAllTakesEverything) {
  Block b[4]{};
  TaggedStack s;
  for (auto& x : b) s.Push(&x);
  size_t got = 0;
  void* first = s.PopAll(&got);
  EXPECT_EQ(got, 4u);
  EXPECT_EQ(first, &b[3]);
  EXPECT_EQ(b[0].link, nullptr);
  EXPECT_TRUE(s.Empty());
  EXPECT_EQ(s.Size(), 0u);
  EXPECT_EQ(s.PopAll(&got), nullptr);
  EXPECT_EQ(got, 0u);
}

// High-address and tag-wrap edge: the tag field wraps after 2^19 updates
// without spilling into the address bits.
TEST(TaggedStack, TagWrapsWithoutCorruptingAddresses) {
  Block b[2]{};
  TaggedStack s;
  s.Push(&b[0]);
  const int kUpdates = (1 << TaggedStack::kTagBits) + 10;
  for (int i = 0; i < kUpdates; i += 2) {
    s.Push(&b[1]);
    ASSERT_EQ(s.Pop(), &b[1]);
  }
  EXPECT_LT(TaggedStackTestPeer::Tag(s), 64u);  // wrapped around
  EXPECT_EQ(s.Pop(), &b[0]);
  EXPECT_EQ(s.Pop(), nullptr);
}

// The classic ABA interleaving, made deterministic: popper P reads head A and
// its link B, then stalls. Meanwhile A and B are popped and A is pushed back
// (B stays handed out). Head is A again; without the tag P's CAS would succeed
// and install B, a block someone else owns. With the tag it must fail.
TEST(TaggedStack, AbaInterleavingIsRejected) {
  Block a{}, b{}, c{};
  TaggedStack s;
  s.Push(&c);
  s.Push(&b);
  s.Push(&a);  // a -> b -> c
  auto stalled = TaggedStackTestPeer::Prepare(s);
  ASSERT_EQ(stalled.top, &a);
  ASSERT_EQ(stalled.next, &b);

  ASSERT_EQ(s.Pop(), &a);
  ASSERT_EQ(s.Pop(), &b);  // b is now "handed out"
  s.Push(&a);              // a -> c, same head pointer as before

  EXPECT_FALSE(TaggedStackTestPeer::Commit(s, stalled));
  EXPECT_EQ(s.Pop(), &a);
  EXPECT_EQ(s.Pop(), &c);
  EXPECT_EQ(s.Pop(), nullptr);
}

// Ownership ledger for the concurrent tests: a block popped by two threads at
// once, or lost, or duplicated, is caught.
struct Ledger {
  explicit Ledger(int n) : blocks(n), owner(n) {
    for (int i = 0; i < n; ++i) blocks[i].id = static_cast<uint64_t>(i);
  }
  void Take(void* p, int me) {
    auto* b = static_cast<Block*>(p);
    ASSERT_GE(b, blocks.data());
    ASSERT_LT(b, blocks.data() + blocks.size());
    int prev = owner[b->id].exchange(me + 1, std::memory_order_relaxed);
    if (prev != 0) double_owned.store(true);
    b->id ^= 0;  // a plain read/write of the payload by its owner (TSan)
  }
  void Give(void* p) {
    owner[static_cast<Block*>(p)->id].store(0, std::memory_order_relaxed);
  }
  // Drains the stack and checks every block is there exactly once.
  void ExpectAllIn(TaggedStack& s) {
    EXPECT_FALSE(double_owned.load());
    EXPECT_EQ(s.Size(), blocks.size());
    std::vector<int> seen(blocks.size(), 0);
    size_t got = 0;
    for (void* p = s.PopAll(&got); p != nullptr; p = FreeBlockLink::Next(p)) {
      ++seen[static_cast<Block*>(p)->id];
    }
    EXPECT_EQ(got, blocks.size());
    for (size_t i = 0; i < seen.size(); ++i) ASSERT_EQ(seen[i], 1) << i;
  }
  std::vector<Block> blocks;
  std::vector<std::atomic<int>> owner;
  std::atomic<bool> double_owned{false};
};

// Threads pop blocks singly and in batches, hold them a moment, and push them
// back singly or as chains, so blocks keep moving between threads.
TEST(TaggedStack, ConcurrentPushersAndPoppersConserveBlocks) {
  constexpr int kThreads = 4;
  constexpr int kBlocks = 256;
  const int iters = 10000 * kScale;
  Ledger ledger(kBlocks);
  TaggedStack s;
  for (auto& b : ledger.blocks) s.Push(&b);

  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::minstd_rand rng(t + 1);
      void* held[16];
      for (int i = 0; i < iters; ++i) {
        size_t n = 0;
        if (rng() % 2 == 0) {
          void* last;
          void* p = s.PopBatch(1 + rng() % 16, &last, &n);
          for (size_t k = 0; k < n; ++k, p = FreeBlockLink::Next(p)) {
            held[k] = p;
          }
        } else {
          while (n < 4 && (held[n] = s.Pop()) != nullptr) ++n;
        }
        for (size_t k = 0; k < n; ++k) ledger.Take(held[k], t);
        for (size_t k = 0; k < n; ++k) ledger.Give(held[k]);
        if (n == 0) continue;
        if (rng() % 2 == 0) {
          for (size_t k = 0; k + 1 < n; ++k) {
            FreeBlockLink::SetNext(held[k], held[k + 1]);
          }
          s.PushBatch(held[0], held[n - 1], n);
        } else {
          for (size_t k = 0; k < n; ++k) s.Push(held[k]);
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  ledger.ExpectAllIn(s);
}

// ABA under contention: very few blocks, every thread pops two and pushes
// them back in swapped order, so a stalled popper very often finds "its" head
// pointer back on top with a different link. Without the tag this loses
// blocks or links a block to itself within milliseconds.
TEST(TaggedStack, HighContentionSameBlocksStayIntact) {
  constexpr int kThreads = 4;
  constexpr int kBlocks = 3;
  const int iters = 50000 * kScale;
  Ledger ledger(kBlocks);
  TaggedStack s;
  for (auto& b : ledger.blocks) s.Push(&b);

  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < iters; ++i) {
        void* a = s.Pop();
        void* b = s.Pop();
        if (a != nullptr) ledger.Take(a, t);
        if (b != nullptr) ledger.Take(b, t);
        if (a != nullptr) ledger.Give(a);
        if (b != nullptr) ledger.Give(b);
        if (a != nullptr) s.Push(a);
        if (b != nullptr) s.Push(b);
      }
    });
  }
  for (auto& th : threads) th.join();
  ledger.ExpectAllIn(s);
}

}  // namespace
}  // namespace hakmem::sync
