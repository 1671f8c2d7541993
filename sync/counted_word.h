// CountedWord: a chain's head and how many blocks it holds, in one 64-bit
// word, for push-only lists taken whole (RemoteFreeList, the owner inbox): a
// push links and counts its chain with one CAS, a take learns how many came
// with the same exchange that takes them. The count rides in the top 16 bits
// and saturates there; the head below must fit in 48 bits, which each user
// asserts of its blocks (hakmem's lie below 2^RangeMap::kAddressBits; the
// kernel hands out higher addresses only to a program that asks for them).
#ifndef HAKMEM_SYNC_COUNTED_WORD_H_
#define HAKMEM_SYNC_COUNTED_WORD_H_

#include <algorithm>
#include <cstdint>

namespace hakmem::sync {

struct CountedWord {
  static constexpr int kCountShift = 48;
  // The most a count shows: past it, a floor.
  static constexpr uint32_t kMaxCount = 0xffff;

  // The word for `first`, heading n more blocks in front of what `old` held.
  static uintptr_t Pushed(uintptr_t old, void* first, uint32_t n) {
    const uintptr_t count = std::min<uintptr_t>(Count(old) + uintptr_t{n}, kMaxCount);
    return reinterpret_cast<uintptr_t>(first) | (count << kCountShift);
  }
  static void* Head(uintptr_t word) { return reinterpret_cast<void*>(word & kPointerMask); }
  static uint32_t Count(uintptr_t word) { return static_cast<uint32_t>(word >> kCountShift); }

 private:
  static constexpr uintptr_t kPointerMask = (uintptr_t{1} << kCountShift) - 1;
  static_assert(sizeof(uintptr_t) == 8, "the count needs a 64-bit word");
};

}  // namespace hakmem::sync

#endif  // HAKMEM_SYNC_COUNTED_WORD_H_
