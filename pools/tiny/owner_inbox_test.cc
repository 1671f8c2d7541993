// OwnerInbox on its own: chains pushed by several threads while the owner
// takes, every block arriving once with its count.
#include "pools/tiny/owner_inbox.h"

#include <atomic>
#include <cstdint>
#include <memory>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace hakmem::tiny {
namespace {

struct alignas(16) FakeBlock {
  void* link;
  uint64_t id;
};

// Links blocks[from, to) into a chain; returns its first block.
void* Chain(std::vector<FakeBlock>& blocks, size_t from, size_t to) {
  for (size_t i = from; i + 1 < to; ++i) blocks[i].link = &blocks[i + 1];
  return &blocks[from];
}

TEST(OwnerInbox, EveryBlockPushedConcurrentlyIsTakenOnceWithItsCount) {
  constexpr int kPushers = 3;
  constexpr size_t kChains = 4000;
  constexpr size_t kChainLength = 5;
  constexpr int kClasses[] = {3, 17};
  auto inbox = std::make_unique<OwnerInbox>();
  std::vector<std::vector<FakeBlock>> blocks(kPushers);
  for (int t = 0; t < kPushers; ++t) {
    blocks[t].resize(kChains * kChainLength);
    for (size_t i = 0; i < blocks[t].size(); ++i) blocks[t][i].id = t * 1000000 + i;
  }
  std::atomic<int> pushing{kPushers};
  std::vector<std::thread> pushers;
  for (int t = 0; t < kPushers; ++t) {
    pushers.emplace_back([&, t] {
      for (size_t k = 0; k < kChains; ++k) {
        const size_t from = k * kChainLength;
        inbox->Push(kClasses[k % 2], Chain(blocks[t], from, from + kChainLength),
                    &blocks[t][from + kChainLength - 1], kChainLength);
      }
      pushing.fetch_sub(1);
    });
  }
  std::vector<std::vector<int>> seen(kPushers, std::vector<int>(kChains * kChainLength));
  uint64_t counted = 0;
  uint64_t walked = 0;
  auto take_all = [&] {
    for (int c : kClasses) {
      uint32_t n = 0;
      void* chain = inbox->Take(c, &n);
      if (chain == nullptr) continue;
      counted += n;
      for (auto* b = static_cast<FakeBlock*>(chain); b != nullptr;
           b = static_cast<FakeBlock*>(b->link)) {
        ++seen[b->id / 1000000][b->id % 1000000];
        ++walked;
      }
    }
  };
  while (pushing.load() > 0) take_all();
  for (auto& t : pushers) t.join();
  take_all();
  EXPECT_EQ(walked, uint64_t{kPushers} * kChains * kChainLength);
  EXPECT_EQ(counted, walked);
  for (const auto& per_thread : seen) {
    for (int times : per_thread) ASSERT_EQ(times, 1);
  }
  uint32_t n = 0;
  EXPECT_EQ(inbox->Take(kClasses[0], &n), nullptr);
}

// More blocks than the count's bits hold: the count stops at kMaxCount, the
// chain keeps every block.
TEST(OwnerInbox, ACountBeyondItsBitsSaturatesAndNoBlockIsLost) {
  auto inbox = std::make_unique<OwnerInbox>();
  constexpr size_t kBlocks = OwnerInbox::kMaxCount + 1000;
  std::vector<FakeBlock> blocks(kBlocks);
  for (size_t i = 0; i < kBlocks; i += 100) {
    const size_t to = std::min(i + 100, kBlocks);
    inbox->Push(5, Chain(blocks, i, to), &blocks[to - 1], static_cast<uint32_t>(to - i));
  }
  uint32_t n = 0;
  size_t walked = 0;
  for (auto* b = static_cast<FakeBlock*>(inbox->Take(5, &n)); b != nullptr;
       b = static_cast<FakeBlock*>(b->link)) {
    ++walked;
  }
  EXPECT_EQ(walked, kBlocks);
  EXPECT_EQ(n, OwnerInbox::kMaxCount);
}

}  // namespace
}  // namespace hakmem::tiny
