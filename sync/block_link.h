// The free-block link convention shared by RemoteFreeList and TaggedStack: a
// free block stores the pointer to the next free block in its first word, so a
// list costs no memory beyond the blocks themselves (every allocator does
// this).
//
// The link is read and written with relaxed atomic builtins, not plain loads
// and stores. In a lock-free LIFO a popper may read the link of a block that
// another thread has popped and is already writing to (the ABA window, see
// tagged_stack.h). The value read is discarded when the CAS fails, so nothing
// is wrong, but with plain accesses that is a data race in C++ terms and TSan
// reports it. Relaxed atomics make it well defined and cost the same mov
// instruction on x86-64 and AArch64.
#ifndef HAKMEM_SYNC_BLOCK_LINK_H_
#define HAKMEM_SYNC_BLOCK_LINK_H_

namespace hakmem::sync {

struct FreeBlockLink {
  // Next block after `block` (the block's first word). `block` must be at
  // least pointer-sized and pointer-aligned.
  static void* Next(void* block) {
    return __atomic_load_n(static_cast<void**>(block), __ATOMIC_RELAXED);
  }
  static void SetNext(void* block, void* next) {
    __atomic_store_n(static_cast<void**>(block), next, __ATOMIC_RELAXED);
  }
};

}  // namespace hakmem::sync

#endif  // HAKMEM_SYNC_BLOCK_LINK_H_
