// The nudge (core/heap_upkeep.h): a decay pass swaps an idle thread's tls_heap
// for the nudged placeholder, and the thread's next malloc or free takes its
// own heap back. Here a thread nudges as fast as it can while others allocate,
// free, pass blocks around and exit: no block is lost, handed out twice or
// misreported, and a nudged free goes into the thread's own bin.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <thread>
#include <vector>

#include "core/base/clock.h"
#include "core/hakmem.h"
#include "core/heap_upkeep.h"
#include "core/stats.h"
#include "core/thread_heap.h"
#include "core/base/range_map.h"
#include "pools/tiny/slab.h"
#include "gtest/gtest.h"

namespace hakmem {
namespace {

uint64_t InvalidFrees() {
  Stats s;
  GetStats(&s);
  return s.invalid_frees;
}

struct Block {
  unsigned char* p = nullptr;
  size_t size = 0;
  unsigned char tag = 0;
};

void Fill(Block& b) { std::memset(b.p, b.tag, b.size); }

bool Intact(const Block& b) {
  for (size_t i = 0; i < b.size; ++i) {
    if (b.p[i] != b.tag) return false;
  }
  return true;
}

// Nudges every thread, idle or not, until told to stop.
class Nudger {
 public:
  Nudger()
      : thread_([this] {
          while (!stop_.load(std::memory_order_relaxed)) {
            NudgeIdleHeaps(NowMs(), 0);
            std::this_thread::yield();
          }
        }) {}
  ~Nudger() {
    stop_.store(true, std::memory_order_relaxed);
    thread_.join();
  }

 private:
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

TEST(Nudge, ThreadsNudgedAllTheTimeLoseNoBlock) {
  const uint64_t invalid_before = InvalidFrees();
  std::atomic<uint64_t> seen_nudged{0};
  std::atomic<uint64_t> corrupt{0};
  {
    Nudger nudger;
    // Two workers replace random blocks and hand every 8th one to the other
    // (a cross-thread free); short-lived threads come and go meanwhile, so
    // nudges race with thread exit.
    constexpr int kWorkers = 2;
    std::vector<Block> mailbox[kWorkers];
    std::atomic<bool> mailbox_busy[kWorkers] = {};
    auto worker = [&](int id) {
      std::vector<Block> live(256);
      uint64_t x = 0x9E3779B97F4A7C15ull * (id + 1);
      auto next = [&x] { return x ^= x << 13, x ^= x >> 7, x ^= x << 17; };
      // At least 60000 operations, and on until some worker has been seen
      // nudged: on a loaded machine the nudger may not run in the first ones.
      const uint64_t deadline = NowMs() + 20000;
      for (int op = 0; op < 60000 || (seen_nudged.load(std::memory_order_relaxed) == 0 &&
                                       NowMs() < deadline);
           ++op) {
        if (CurrentHeap() == &g_nudged_heap) seen_nudged.fetch_add(1, std::memory_order_relaxed);
        Block& b = live[next() % live.size()];
        if (b.p != nullptr) {
          if (!Intact(b)) corrupt.fetch_add(1, std::memory_order_relaxed);
          const int to = (id + 1) % kWorkers;
          if (op % 8 == 0 && !mailbox_busy[to].exchange(true, std::memory_order_acquire)) {
            mailbox[to].push_back(b);
            mailbox_busy[to].store(false, std::memory_order_release);
          } else {
            hak_free(b.p);
          }
        }
        b.size = 16 + next() % 4000;
        b.tag = static_cast<unsigned char>(next());
        b.p = static_cast<unsigned char*>(hak_alloc(b.size));
        Fill(b);
        if (op % 64 == 0 && !mailbox_busy[id].exchange(true, std::memory_order_acquire)) {
          for (Block& m : mailbox[id]) {
            if (!Intact(m)) corrupt.fetch_add(1, std::memory_order_relaxed);
            hak_free(m.p);
          }
          mailbox[id].clear();
          mailbox_busy[id].store(false, std::memory_order_release);
        }
      }
      for (Block& b : live) {
        if (b.p != nullptr && !Intact(b)) corrupt.fetch_add(1, std::memory_order_relaxed);
        hak_free(b.p);
      }
    };
    std::thread churn([&] {
      for (int i = 0; i < 100; ++i) {
        std::thread([] {
          std::vector<void*> v;
          for (int j = 0; j < 64; ++j) v.push_back(hak_alloc(32 + j * 8));
          for (void* p : v) hak_free(p);
        }).join();
      }
    });
    std::vector<std::thread> workers;
    for (int i = 0; i < kWorkers; ++i) workers.emplace_back(worker, i);
    for (auto& t : workers) t.join();
    churn.join();
    for (auto& box : mailbox) {
      for (Block& m : box) {
        if (!Intact(m)) corrupt.fetch_add(1, std::memory_order_relaxed);
        hak_free(m.p);
      }
    }
  }
  EXPECT_EQ(corrupt.load(), 0u);
  EXPECT_EQ(InvalidFrees(), invalid_before);
  EXPECT_GT(seen_nudged.load(), 0u) << "no worker was ever nudged: the test tests nothing";
}

// A thread is nudged only once it has run its upkeep (16 refills): a working
// thread, not one allocating its first blocks during exit (AllowNudge).
TEST(Nudge, OnlyAfterTheFirstUpkeep) {
  std::thread([] {
    void* p = hak_alloc(64);
    std::thread([] { NudgeIdleHeaps(NowMs(), 0); }).join();
    EXPECT_NE(CurrentHeap(), &g_nudged_heap);
    hak_free(p);
  }).join();
}

// Refills of 40 classes, at least 16 of them: the upkeep runs (every 16th
// refill) and the thread may be nudged from then on. (A heap taken over from
// an exited thread comes with that thread's bins: their blocks go first.)
std::vector<void*> WarmUp() {
  std::vector<void*> v;
  for (size_t i = 0; (i < 40 || CurrentHeap()->refills < 16) && i < 1000000; ++i) {
    v.push_back(hak_alloc(16 + (i % 40) * 100));
  }
  return v;
}

// A thread nudged while it only frees: the first free takes its heap back and
// the block goes into its own bin (the next allocation of the size gets it
// back), not home as a remote free.
TEST(Nudge, AFreeTakesTheHeapBack) {
  std::thread([] {
    std::vector<void*> v = WarmUp();
    for (int i = 0; i < 100; ++i) v.push_back(hak_alloc(96));
    Heap* own = OwnHeap();  // a decay pass may have nudged it already
    ASSERT_NE(own, nullptr);
    const uint64_t deadline = NowMs() + 5000;
    // Another thread nudges (a thread never nudges itself: it is on a slow path).
    while (CurrentHeap() != &g_nudged_heap && NowMs() < deadline) {
      std::thread([] { NudgeIdleHeaps(NowMs(), 0); }).join();
    }
    ASSERT_EQ(CurrentHeap(), &g_nudged_heap);
    void* last = v.back();
    v.pop_back();
    hak_free(last);
    EXPECT_EQ(CurrentHeap(), own);
    EXPECT_EQ(hak_alloc(96), last);
    hak_free(last);
    for (void* p : v) hak_free(p);
  }).join();
}

// A thread whose Mid refills are all served by blocks it freed earlier (no
// new blocks carved, no idle span taken) still counts them and runs its
// upkeep, so it may be nudged.
TEST(Nudge, RefillsFromFreedBlocksCountTowardsTheUpkeep) {
  std::thread([] {
    // 16 KB blocks, 15 to a span: one in 15 stays live, so no span empties
    // and goes idle, and every refill below takes blocks freed back to them.
    std::vector<void*> pinned;
    std::vector<void*> v;
    for (int i = 0; i < 300; ++i) (i % 15 == 0 ? pinned : v).push_back(hak_alloc(16000));
    for (void* p : v) hak_free(p);
    v.clear();
    const uint32_t refills_before = CurrentHeap()->refills;
    // 100 blocks (1.6 MB) overflow the bin, even grown for turns (1 MiB:
    // ThreadCache::kTurnBytes), so every round refills from the blocks the
    // last one freed.
    for (int round = 0; round < 100; ++round) {
      for (int i = 0; i < 100; ++i) v.push_back(hak_alloc(16000));
      for (void* p : v) hak_free(p);
      v.clear();
    }
    EXPECT_GE(CurrentHeap()->refills - refills_before, 100u);  // at least one per round
    const uint64_t deadline = NowMs() + 2000;
    while (CurrentHeap() != &g_nudged_heap && NowMs() < deadline) {
      std::thread([] { NudgeIdleHeaps(NowMs(), 0); }).join();
    }
    EXPECT_EQ(CurrentHeap(), &g_nudged_heap);
    for (void* p : pinned) hak_free(p);  // the first takes the heap back
  }).join();
}

// A thread that allocated blocks and then waits (a join, a lock) takes no
// nudge. Once others have freed its blocks, the next thread that needs new
// units takes the waiting thread's slabs' remote frees and gives back the
// spans they emptied (they serve it instead of new memory).
TEST(Nudge, ABlockedThreadsEmptiedSpansGoBack) {
  constexpr int kBlocks = 2000;
  constexpr size_t kSize = 512;
  std::vector<void*> theirs(kBlocks);
  std::atomic<bool> release{false};
  std::atomic<bool> allocated{false};
  std::thread owner([&] {
    for (void*& p : theirs) p = hak_alloc(kSize);
    allocated.store(true);
    while (!release.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  });
  while (!allocated.load()) std::this_thread::yield();
  std::vector<std::pair<tiny::Slab*, tiny::ThreadCache*>> spans;
  for (void* p : theirs) {
    tiny::Slab* s = RangeMap::MetaOf<tiny::Slab>(RangeMap::Lookup(p));
    if (spans.empty() || spans.back().first != s) spans.push_back({s, s->owner.load()});
  }
  // Freed by a thread that then exits: every block goes home, into the
  // owner's ring while it has room, the rest onto its slabs' remote lists.
  std::thread([&] {
    for (void* p : theirs) hak_free(p);
  }).join();
  std::this_thread::sleep_for(std::chrono::milliseconds(60));  // the owner is idle
  std::thread([&] {
    std::vector<void*> mine(kBlocks);
    for (void*& p : mine) p = hak_alloc(kSize);  // new units wanted
    for (void* p : mine) hak_free(p);
  }).join();
  size_t gone = 0;
  for (const auto& [s, was] : spans) gone += s->owner.load() != was;
  release.store(true);
  owner.join();
  EXPECT_GT(gone, spans.size() / 2) << spans.size() << " spans";
}
}  // namespace
}  // namespace hakmem
