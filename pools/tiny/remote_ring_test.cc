// RemoteRing on its own: words pushed by several threads while the taker
// takes, each arriving once and in each pusher's order; a full ring refuses
// and has room again once taken.
#include "pools/tiny/remote_ring.h"

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace hakmem::tiny {
namespace {

// A fake block address for pusher t's i-th word: 16-byte aligned, never 0.
void* FakeBlock(int t, uint64_t i) {
  return reinterpret_cast<void*>((uintptr_t{1} << 40) + ((uint64_t(t) << 24) + i) * 16);
}

// kPushers threads push kWords words each (pusher t's i-th: FakeBlock(t, i),
// class 20 + t) by push(ring, t, i), which puts words i, i + 1, ... and says
// how many (0: the ring is full), while this thread takes: every word must
// arrive once, in its pusher's order.
template <class Push>
void ExpectEveryWordTakenOnceInItsPushersOrder(Push push) {
  constexpr int kPushers = 3;
  constexpr uint64_t kWords = 60000;
  auto ring = std::make_unique<RemoteRing>();
  ring->Open();
  std::atomic<int> pushing{kPushers};
  std::vector<std::thread> pushers;
  for (int t = 0; t < kPushers; ++t) {
    pushers.emplace_back([&, t] {
      for (uint64_t i = 0; i < kWords;) {
        const uint64_t n = push(*ring, t, i, kWords - i);
        if (n == 0) std::this_thread::yield();  // full: the taker is behind
        i += n;
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

TEST(RemoteRing, EveryWordPushedConcurrentlyIsTakenOnceInItsPushersOrder) {
  ExpectEveryWordTakenOnceInItsPushersOrder([](RemoteRing& ring, int t, uint64_t i, uint64_t) {
    return uint64_t{ring.TryPush(RemoteRing::Word(FakeBlock(t, i), 20 + t))};
  });
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

// Batches (TryPushAll) go in whole or not at all: a batch that does not fit,
// or meets a closed ring, puts nothing.
TEST(RemoteRing, ABatchGoesInWholeOrNotAtAll) {
  auto ring = std::make_unique<RemoteRing>();
  ring->Open();
  for (uint32_t i = 0; i + 3 < RemoteRing::kSlots; ++i) {
    ASSERT_TRUE(ring->TryPush(RemoteRing::Word(FakeBlock(0, i), 30)));
  }
  uintptr_t batch[4];
  for (uint32_t i = 0; i < 4; ++i) batch[i] = RemoteRing::Word(FakeBlock(1, i), 31);
  EXPECT_FALSE(ring->TryPushAll(batch, 4));  // 3 places left
  EXPECT_TRUE(ring->TryPushAll(batch, 3));
  uint32_t from_batch = 0;
  EXPECT_EQ(ring->TakeAll([&](void* p, int c) {
    if (c == 31) EXPECT_EQ(p, FakeBlock(1, from_batch++));
  }), RemoteRing::kSlots);
  EXPECT_EQ(from_batch, 3u);
  ring->Close();
  EXPECT_FALSE(ring->TryPushAll(batch, 1));
}

// Batches of 1 - 8 pushed by several threads at once while the taker takes:
// each word arrives once, in its pusher's order.
TEST(RemoteRing, BatchesPushedConcurrentlyAreTakenOnceInTheirPushersOrder) {
  ExpectEveryWordTakenOnceInItsPushersOrder([](RemoteRing& ring, int t, uint64_t i, uint64_t left) {
    const uint32_t n = static_cast<uint32_t>(std::min<uint64_t>(1 + (i + t) % 8, left));
    uintptr_t words[8];
    for (uint32_t k = 0; k < n; ++k) words[k] = RemoteRing::Word(FakeBlock(t, i + k), 20 + t);
    return ring.TryPushAll(words, n) ? uint64_t{n} : 0;
  });
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

// Forks while two threads push and a third takes: in each child (only the
// forking thread left) the slots claimed by pushers that had not written
// them yet are holes, which MarkHolesAfterFork lets the taker skip: every
// word written comes out, and a word pushed after it too. Without the marks
// the taker stops at the first hole for good.
TEST(RemoteRing, AForkChildTakesPastThePushesItsThreadsLeftUnwritten) {
  auto ring = std::make_unique<RemoteRing>();
  ring->Open();
  std::atomic<bool> stop{false};
  std::mutex taking;  // the one taker at a time (here: the taker thread or a fork)
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t) {
    threads.emplace_back([&, t] {
      for (uint64_t i = 0; !stop.load(std::memory_order_relaxed);) {
        i += ring->TryPush(RemoteRing::Word(FakeBlock(t, i % (1 << 20)), 20 + t));
      }
    });
  }
  threads.emplace_back([&] {
    while (!stop.load(std::memory_order_relaxed)) {
      std::lock_guard<std::mutex> hold(taking);
      ring->TakeAll([](void*, int) {});
    }
  });
  int failed_children = 0;
  for (int k = 0; k < 100; ++k) {
    pid_t pid;
    {
      std::lock_guard<std::mutex> hold(taking);  // no TakeAll half done in the child
      pid = fork();
      if (pid == 0) {
        ring->MarkHolesAfterFork();
        ring->TakeAll([](void*, int) {});
        const bool pushed = ring->TryPush(RemoteRing::Word(FakeBlock(3, 0), 23));
        uint32_t got = 0;
        ring->TakeAll([&](void* p, int c) { got += p == FakeBlock(3, 0) && c == 23; });
        _exit(pushed && got == 1 && !ring->HasBlocks() ? 0 : 1);
      }
    }
    ASSERT_GT(pid, 0);
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    failed_children += !(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  stop.store(true);
  for (auto& t : threads) t.join();
  EXPECT_EQ(failed_children, 0);
}

}  // namespace
}  // namespace hakmem::tiny
