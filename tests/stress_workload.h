// A deterministic multi-thread allocation stress, after mimalloc's test-stress:
// each thread owns an array of slots and, driven by its own seeded PRNG,
// allocates into them, frees from them, reallocs them, and swaps blocks with a
// shared transfer array (an atomic exchange), so blocks are freed and resized by
// threads other than the one that allocated them. Every block carries a header
// (size, key) and a pattern derived from the key, checked whenever a block
// changes hands and before it is freed. Threads are started afresh each round,
// so blocks outlive the thread that allocated them.
//
// The allocator is a template parameter, so the same workload runs on the
// internal API (hak_*: under ASan and TSan too) and on the exported malloc.
#ifndef HAKMEM_TESTS_STRESS_WORKLOAD_H_
#define HAKMEM_TESTS_STRESS_WORKLOAD_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <thread>
#include <vector>

namespace hakmem_test {

struct StressConfig {
  int threads = 4;
  int rounds = 5;
  int iterations = 20000;   // operations per thread per round
  int slots = 256;          // per thread
  int transfer_slots = 256; // shared between threads
  // Per mille of allocations that are large (> 1 MiB).
  int large_per_mille = 1;
};

// xorshift64*: small, fast, deterministic per seed.
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed * 0x9E3779B97F4A7C15ull + 1) {}
  uint64_t Next() {
    state_ ^= state_ >> 12;
    state_ ^= state_ << 25;
    state_ ^= state_ >> 27;
    return state_ * 0x2545F4914F6CDD1Dull;
  }
  // Uniform in [0, n).
  uint64_t Below(uint64_t n) { return Next() % n; }

 private:
  uint64_t state_;
};

// A block is at least a header; the rest is filled with words derived from
// the key. Large blocks are checked at both ends only, to keep TSan runs short.
struct BlockHeader {
  size_t size;
  uint64_t key;
};

constexpr size_t kFullCheckLimit = 64 * 1024;
constexpr size_t kEdgeBytes = 4096;

inline uint64_t PatternWord(uint64_t key, size_t i) {
  return (key ^ (i * 0x9E3779B97F4A7C15ull)) | 1;
}

inline void ForEachCheckedWord(size_t size, auto&& fn) {
  const size_t words = size / sizeof(uint64_t);
  constexpr size_t kFirst = sizeof(BlockHeader) / sizeof(uint64_t);
  if (size <= kFullCheckLimit) {
    for (size_t i = kFirst; i < words; ++i) fn(i);
    return;
  }
  const size_t edge = kEdgeBytes / sizeof(uint64_t);
  for (size_t i = kFirst; i < edge; ++i) fn(i);
  for (size_t i = words - edge; i < words; ++i) fn(i);
}

inline void FillBlock(void* p, size_t size, uint64_t key) {
  auto* h = static_cast<BlockHeader*>(p);
  h->size = size;
  h->key = key;
  auto* w = static_cast<uint64_t*>(p);
  ForEachCheckedWord(size, [&](size_t i) { w[i] = PatternWord(key, i); });
}

// Returns false (and says where) if the block's contents are not what
// FillBlock wrote.
inline bool CheckBlock(const void* p) {
  const auto* h = static_cast<const BlockHeader*>(p);
  const auto* w = static_cast<const uint64_t*>(p);
  bool ok = true;
  ForEachCheckedWord(h->size, [&](size_t i) {
    if (ok && w[i] != PatternWord(h->key, i)) {
      std::fprintf(stderr, "stress: block %p (size %zu key %llx) word %zu corrupt\n", p,
                   h->size, static_cast<unsigned long long>(h->key), i);
      ok = false;
    }
  });
  return ok;
}

// After realloc(old -> new_size): the header and the pattern words that fit
// in both sizes (within the first kEdgeBytes) are unchanged.
inline bool CheckMoved(const void* p, const BlockHeader& old, size_t new_size) {
  const auto* h = static_cast<const BlockHeader*>(p);
  const auto* w = static_cast<const uint64_t*>(p);
  size_t keep = old.size < new_size ? old.size : new_size;
  if (keep > kEdgeBytes) keep = kEdgeBytes;
  bool ok = h->size == old.size && h->key == old.key;
  for (size_t i = sizeof(BlockHeader) / sizeof(uint64_t); ok && i < keep / sizeof(uint64_t);
       ++i) {
    ok = w[i] == PatternWord(old.key, i);
  }
  if (!ok) {
    std::fprintf(stderr, "stress: realloc to %zu lost the contents of %p (size %zu)\n",
                 new_size, p, old.size);
  }
  return ok;
}

// Mostly small, some Mid, a few L2.5, rare Large: the tiers' mix in a program.
inline size_t PickSize(Rng& rng, const StressConfig& cfg) {
  const uint64_t r = rng.Below(1000);
  if (r < static_cast<uint64_t>(cfg.large_per_mille)) {
    return (1u << 20) + rng.Below(2u << 20);
  }
  if (r < 10) return 32 * 1024 + rng.Below(256 * 1024);
  if (r < 150) return 1024 + rng.Below(31 * 1024);
  return sizeof(BlockHeader) + rng.Below(1024 - sizeof(BlockHeader) + 1);
}

// Allocator: static void* Alloc(size_t), static void Free(void*),
// static void* Realloc(void*, size_t).
template <typename Allocator>
class StressWorkload {
 public:
  explicit StressWorkload(const StressConfig& cfg)
      : cfg_(cfg), transfer_(static_cast<size_t>(cfg.transfer_slots)) {
    for (auto& t : transfer_) t.store(nullptr, std::memory_order_relaxed);
  }

  // Runs every round; returns the number of corrupt blocks seen (0 = pass).
  long Run() {
    for (int round = 0; round < cfg_.rounds; ++round) {
      std::vector<std::thread> threads;
      for (int t = 0; t < cfg_.threads; ++t) {
        threads.emplace_back([this, round, t] { Worker(round, t); });
      }
      for (auto& th : threads) th.join();
    }
    for (auto& slot : transfer_) {
      if (void* p = slot.exchange(nullptr, std::memory_order_acq_rel)) Release(p);
    }
    return errors_.load();
  }

 private:
  void* NewBlock(Rng& rng, uint64_t key) {
    const size_t size = PickSize(rng, cfg_);
    void* p = Allocator::Alloc(size);
    if (p == nullptr) {
      errors_.fetch_add(1);
      return nullptr;
    }
    FillBlock(p, size, key);
    return p;
  }

  void Release(void* p) {
    if (!CheckBlock(p)) errors_.fetch_add(1);
    Allocator::Free(p);
  }

  void Worker(int round, int thread) {
    Rng rng(static_cast<uint64_t>(round) * 1000 + static_cast<uint64_t>(thread) + 1);
    std::vector<void*> slots(static_cast<size_t>(cfg_.slots), nullptr);
    for (int it = 0; it < cfg_.iterations; ++it) {
      void*& slot = slots[rng.Below(slots.size())];
      const uint64_t op = rng.Below(100);
      if (op < 50) {  // replace
        if (slot != nullptr) Release(slot);
        slot = NewBlock(rng, rng.Next());
      } else if (op < 65) {  // free
        if (slot != nullptr) Release(slot);
        slot = nullptr;
      } else if (op < 80) {  // realloc, keeping the header and pattern valid
        if (slot == nullptr) continue;
        if (!CheckBlock(slot)) errors_.fetch_add(1);
        const BlockHeader old = *static_cast<BlockHeader*>(slot);
        const size_t size = PickSize(rng, cfg_);
        void* q = Allocator::Realloc(slot, size);
        if (q == nullptr) {
          errors_.fetch_add(1);
          continue;
        }
        if (!CheckMoved(q, old, size)) errors_.fetch_add(1);
        FillBlock(q, size, rng.Next());
        slot = q;
      } else {  // hand the block to whoever takes this transfer slot next
        auto& shared = transfer_[rng.Below(transfer_.size())];
        slot = shared.exchange(slot, std::memory_order_acq_rel);
        if (slot != nullptr && !CheckBlock(slot)) errors_.fetch_add(1);
      }
    }
    // Half the round's blocks outlive this thread: parked in the transfer
    // array for the next round's threads (or the final sweep) to free.
    for (void*& slot : slots) {
      if (slot == nullptr) continue;
      if (rng.Below(2) == 0) {
        slot = transfer_[rng.Below(transfer_.size())].exchange(slot,
                                                               std::memory_order_acq_rel);
      }
      if (slot != nullptr) Release(slot);
    }
  }

  const StressConfig cfg_;
  std::vector<std::atomic<void*>> transfer_;
  std::atomic<long> errors_{0};
};

}  // namespace hakmem_test

#endif  // HAKMEM_TESTS_STRESS_WORKLOAD_H_
