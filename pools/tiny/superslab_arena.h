// The slab arena: where SuperSlabs get their addresses. One stretch of
// address space is reserved at the first SuperSlab (inaccessible: neither
// memory nor commit charge) and cut into 2 MiB chunks, committed when a
// SuperSlab takes one and uncommitted (pages and charge gone, addresses kept)
// when it goes. The range map indexes the arena as one flat array of unit
// entries (RangeMap::InstallWindow), so free() reads a block's entry with a
// single load instead of a top-level load and then the entry.
//
// When no arena can be reserved (RLIMIT_AS, say) or it is full, SuperSlabs
// are mapped anywhere and found through the two-level map, as before.
#ifndef HAKMEM_POOLS_TINY_SUPERSLAB_ARENA_H_
#define HAKMEM_POOLS_TINY_SUPERSLAB_ARENA_H_

#include <cstddef>

namespace hakmem::tiny {

// A committed, zero-filled, SuperSlab-aligned chunk of the arena, or nullptr
// if there is none (the caller maps its SuperSlab elsewhere).
char* TakeArenaChunk();
// Gives back a chunk TakeArenaChunk handed out; false (and nothing done) if p
// is not in the arena.
bool ReturnArenaChunk(char* p);
// Whether p lies in the arena: its addresses stay this process's (reserved)
// whatever becomes of the chunk, so work done outside any lock on a chunk that
// has gone back meanwhile touches nothing else's.
bool InArena(const char* p);
// Chunks in use (tests).
size_t ArenaChunksInUse();
// Bytes of address space the arena holds; 0 before the first SuperSlab, or
// when none could be reserved.
size_t ArenaReservedBytes();

// fork(): the arena's lock is taken after the SuperSlab manager's.
void LockArenaForFork();
void UnlockArenaAfterFork(bool in_child);

}  // namespace hakmem::tiny

#endif  // HAKMEM_POOLS_TINY_SUPERSLAB_ARENA_H_
