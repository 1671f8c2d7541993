// Micro-benchmarks of the allocator's fast paths, through plain malloc/free.
//
//   BM_MallocFree/<size>         malloc + free of one block, same thread: the
//                                thread-cache hit on both sides
//   BM_MallocFreeBatch/<size>    64 mallocs then 64 frees (in allocation order):
//                                the free list is walked, not one block reused
//   BM_CrossThreadFree/<size>    this thread mallocs, a second thread frees
//                                (through a bounded queue): the remote-free path
//
// //bench/micro:malloc_micro links hakmem (//preload:hakmem); the same code in
// :malloc_micro_system uses whatever malloc the process gets, so peers can be
// measured with LD_PRELOAD. The context line "malloc_lib" says which one ran.
#include <atomic>
#include <cstdlib>
#include <thread>
#include <vector>

#include "benchmark/benchmark.h"
#include "bench/workload/identify.h"

namespace {

// One size per size-class region: Tiny, Mid, L2.5 and Large (core/size_classes.h).
void SizeClasses(benchmark::internal::Benchmark* b) {
  for (int64_t size : {8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768,
                       65536, 262144, 1 << 20, 4 << 20}) {
    b->Arg(size);
  }
}

void BM_MallocFree(benchmark::State& state) {
  const size_t size = static_cast<size_t>(state.range(0));
  for (auto _ : state) {
    char* p = static_cast<char*>(malloc(size));
    p[0] = 1;  // the block is used, as a program would
    benchmark::DoNotOptimize(p);
    free(p);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_MallocFree)->Apply(SizeClasses);
BENCHMARK(BM_MallocFree)->Arg(64)->Arg(4096)->Threads(2)->UseRealTime();

void BM_MallocFreeBatch(benchmark::State& state) {
  constexpr int kBatch = 64;
  const size_t size = static_cast<size_t>(state.range(0));
  void* blocks[kBatch];
  for (auto _ : state) {
    for (auto& p : blocks) {
      p = malloc(size);
      static_cast<char*>(p)[0] = 1;
    }
    benchmark::DoNotOptimize(blocks);
    for (auto* p : blocks) free(p);
  }
  state.SetItemsProcessed(state.iterations() * kBatch);
}
BENCHMARK(BM_MallocFreeBatch)->Apply(SizeClasses);

// A single-producer single-consumer ring of pointers; the consumer frees.
class FreeingThread {
 public:
  FreeingThread() : slots_(kCapacity), thread_([this] { Run(); }) {}
  ~FreeingThread() {
    done_.store(true, std::memory_order_release);
    thread_.join();
  }
  // Blocks (spinning, then yielding) while the ring is full.
  void Push(void* p) {
    const uint64_t tail = tail_.load(std::memory_order_relaxed);
    while (tail - head_.load(std::memory_order_acquire) >= kCapacity) std::this_thread::yield();
    slots_[tail % kCapacity] = p;
    tail_.store(tail + 1, std::memory_order_release);
  }

 private:
  static constexpr uint64_t kCapacity = 1024;
  void Run() {
    uint64_t head = 0;
    for (;;) {
      const uint64_t tail = tail_.load(std::memory_order_acquire);
      if (head == tail) {
        if (done_.load(std::memory_order_acquire) && tail_.load(std::memory_order_acquire) == head) {
          return;
        }
        std::this_thread::yield();
        continue;
      }
      for (; head != tail; ++head) free(slots_[head % kCapacity]);
      head_.store(head, std::memory_order_release);
    }
  }
  std::vector<void*> slots_;
  alignas(64) std::atomic<uint64_t> head_{0};
  alignas(64) std::atomic<uint64_t> tail_{0};
  alignas(64) std::atomic<bool> done_{false};
  std::thread thread_;
};

void BM_CrossThreadFree(benchmark::State& state) {
  const size_t size = static_cast<size_t>(state.range(0));
  FreeingThread consumer;
  for (auto _ : state) {
    char* p = static_cast<char*>(malloc(size));
    p[0] = 1;
    benchmark::DoNotOptimize(p);
    consumer.Push(p);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_CrossThreadFree)->Arg(16)->Arg(256)->Arg(1024)->Arg(4096)->Arg(32768)->UseRealTime();

// Records which library malloc resolved to in the benchmark's context output.
const bool kContext = [] {
  const hakmem_bench::AllocatorIdentity id = hakmem_bench::IdentifyAllocator();
  benchmark::AddCustomContext("malloc_lib", id.direct_lib);
  return true;
}();

}  // namespace
