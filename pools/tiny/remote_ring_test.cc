// RemoteRing on its own: words pushed by several threads while the taker
// takes, each arriving once and in each pusher's order; a full ring refuses
// and has room again once taken.
#include "pools/tiny/remote_ring.h"

#include <atomic>
#include <cstdint>
#include <memory>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace hakmem::tiny {
namespace {

// A fake block address for pusher t's i-th word: 16-byte aligned, never 0.
void* FakeBlock(int t, uint64_t i) {
  return reinterpret_cast<void*>((uintptr_t{1} << 40) + ((uint64_t(t) << 24) + i) * 16);
}

TEST(RemoteRing, EveryWordPushedConcurrentlyIsTakenOnceInItsPushersOrder) {
  constexpr int kPushers = 3;
  constexpr uint64_t kWords = 60000;
  auto ring = std::make_unique<RemoteRing>();
  ring->Open();
  std::atomic<int> pushing{kPushers};
  std::vector<std::thread> pushers;
  for (int t = 0; t < kPushers; ++t) {
    pushers.emplace_back([&, t] {
      for (uint64_t i = 0; i < kWords;) {
        if (ring->TryPush(RemoteRing::Word(FakeBlock(t, i), 20 + t))) {
          ++i;
        } else {
          std::this_thread::yield();  // full: the taker is behind
        }
      }
      pushing.fetch_sub(1);
    });
  }
  std::vector<uint64_t> next(kPushers, 0);
  uint64_t taken = 0;
  bool in_order = true;
  auto take_all = [&] {
    taken += ring->TakeAll([&](void* p, int c) {
      const int t = c - 20;
      ASSERT_GE(t, 0);
      ASSERT_LT(t, kPushers);
      in_order = in_order && p == FakeBlock(t, next[t]);
      ++next[t];
    });
  };
  while (pushing.load() > 0) take_all();
  for (auto& t : pushers) t.join();
  take_all();
  EXPECT_TRUE(in_order);
  EXPECT_EQ(taken, kPushers * kWords);
  for (uint64_t n : next) EXPECT_EQ(n, kWords);
  EXPECT_FALSE(ring->HasBlocks());
}

TEST(RemoteRing, AFullRingRefusesUntilTaken) {
  auto ring = std::make_unique<RemoteRing>();
  ring->Open();
  EXPECT_FALSE(ring->HasBlocks());
  for (uint32_t i = 0; i < RemoteRing::kSlots; ++i) {
    ASSERT_TRUE(ring->TryPush(RemoteRing::Word(FakeBlock(0, i), 30)));
  }
  EXPECT_FALSE(ring->TryPush(RemoteRing::Word(FakeBlock(0, RemoteRing::kSlots), 30)));
  EXPECT_TRUE(ring->HasBlocks());
  uint32_t i = 0;
  EXPECT_EQ(ring->TakeAll([&](void* p, int c) {
    EXPECT_EQ(p, FakeBlock(0, i++));
    EXPECT_EQ(c, 30);
  }), RemoteRing::kSlots);
  EXPECT_TRUE(ring->TryPush(RemoteRing::Word(FakeBlock(1, 0), 31)));
  EXPECT_EQ(ring->TakeAll([](void*, int) {}), 1u);
}

TEST(RemoteRing, AClosedRingRefusesEveryPush) {
  auto ring = std::make_unique<RemoteRing>();
  EXPECT_FALSE(ring->TryPush(RemoteRing::Word(FakeBlock(0, 0), 20)));  // closed from the start
  ring->Open();
  EXPECT_TRUE(ring->TryPush(RemoteRing::Word(FakeBlock(0, 0), 20)));
  ring->Close();
  EXPECT_FALSE(ring->TryPush(RemoteRing::Word(FakeBlock(0, 1), 20)));
  EXPECT_EQ(ring->TakeAll([](void*, int) {}), 1u);  // what came before stays
}

}  // namespace
}  // namespace hakmem::tiny
