// Typed pool for hakmem's own metadata objects (SuperSlab headers, large-block
// records, thread heaps). Memory comes from the OS layer in 64 KiB chunks and
// is never returned; freed objects are recycled through a free list. Objects
// come back zero-filled so that atomics in them start in a known state.
#ifndef HAKMEM_CORE_BASE_META_POOL_H_
#define HAKMEM_CORE_BASE_META_POOL_H_

#include <cstring>
#include <new>

#include "core/base/os.h"
#include "sync/spin_lock.h"

namespace hakmem {

template <class T>
class MetaPool {
 public:
  constexpr MetaPool() = default;

  // A value-initialised T, or nullptr if the OS refuses memory.
  T* New() {
    void* slot;
    {
      sync::SpinLockHolder hold(&lock_);
      slot = PopLocked();
    }
    if (slot == nullptr) return nullptr;
    std::memset(slot, 0, sizeof(T));
    return new (slot) T();
  }

  void Delete(T* obj) {
    obj->~T();
    sync::SpinLockHolder hold(&lock_);
    *reinterpret_cast<void**>(obj) = free_;
    free_ = obj;
  }

  sync::SpinLock& lock() { return lock_; }

 private:
  static constexpr size_t kStride = AlignUp(sizeof(T) < sizeof(void*) ? sizeof(void*) : sizeof(T),
                                            alignof(T) < 64 ? 64 : alignof(T));
  static constexpr size_t kChunk = kStride * 16 > 65536 ? AlignUp(kStride * 16, kPageSize) : 65536;

  void* PopLocked() {
    if (free_ != nullptr) {
      void* p = free_;
      free_ = *static_cast<void**>(p);
      return p;
    }
    if (bump_ == end_) {
      char* chunk = static_cast<char*>(OsMapAligned(kChunk, kPageSize));
      if (chunk == nullptr) return nullptr;
      OsPreferSmallPages(chunk, kChunk);  // chunks side by side may merge into 2 MiB
      bump_ = chunk;
      end_ = chunk + (kChunk / kStride) * kStride;
    }
    void* p = bump_;
    bump_ += kStride;
    return p;
  }

  sync::SpinLock lock_;
  void* free_ = nullptr;
  char* bump_ = nullptr;
  char* end_ = nullptr;
};

}  // namespace hakmem

#endif  // HAKMEM_CORE_BASE_META_POOL_H_
