// The C++ half of hakmem's export layer: all 20 replaceable operator new/delete
// forms ([new.delete]), so no allocation made by C++ code reaches another
// allocator and no block is freed by one it did not come from.
//
//   new        (size)                     throws std::bad_alloc
//   new        (size, nothrow)            nullptr on failure
//   new        (size, align)              throws
//   new        (size, align, nothrow)     nullptr on failure
//   ...and the same four for new[]; delete/delete[] plain, nothrow, sized,
//   aligned, aligned + nothrow, sized + aligned (12 forms), all hak_free.
//
// Failure path ([new.delete.single]): while the allocation fails, call the
// installed std::new_handler and retry; with none installed, throw bad_alloc
// (nothrow forms: return nullptr, also when the handler throws). The program's
// C++ runtime provides the handler, the throw and the catch (cxx_runtime.h):
// this file is compiled without exceptions and links none.
// The fast paths inline the core's (core/front_door.h); the loop is out of line.
#include <cstddef>
#include <new>

#include "absl/base/optimization.h"
#include "core/front_door.h"
#include "core/hakmem.h"
#include "preload/cxx_runtime.h"

#define HAKMEM_EXPORT_CXX __attribute__((visibility("default")))

namespace {

// alignment 0 = a plain allocation (the inlined fast path).
inline void* Allocate(size_t size, size_t alignment) {
  return alignment == 0 ? hakmem::AllocInline(size)
                        : hakmem::hak_alloc_aligned(alignment, size);
}

// The first attempt failed: run the new_handler loop (a handler's exception
// passes through: unwind tables, no landing pads). alignment 0 = plain.
[[gnu::noinline]] void* NewSlow(size_t size, size_t alignment) {
  for (;;) {
    std::new_handler handler = hakmem::preload::CurrentNewHandler();
    if (handler == nullptr) hakmem::preload::ThrowBadAlloc(size);
    handler();
    if (void* p = Allocate(size, alignment)) return p;
  }
}

// With a handler installed, the runtime's own nothrow form runs the loop
// above through the throwing form and catches; with none, nullptr at once.
[[gnu::noinline]] void* NewNothrowSlow(hakmem::preload::NothrowForm form, size_t size,
                                       size_t alignment) noexcept {
  if (hakmem::preload::CurrentNewHandler() == nullptr) return nullptr;
  return hakmem::preload::RuntimeNothrowNew(form, size, alignment);
}

inline void* New(size_t size, size_t alignment) {
  void* p = Allocate(size, alignment);
  if (ABSL_PREDICT_TRUE(p != nullptr)) return p;
  return NewSlow(size, alignment);
}

inline void* NewNothrow(hakmem::preload::NothrowForm form, size_t size,
                        size_t alignment) noexcept {
  void* p = Allocate(size, alignment);
  if (ABSL_PREDICT_TRUE(p != nullptr)) return p;
  return NewNothrowSlow(form, size, alignment);
}

// The plain forms' misses (an empty bin, a Large size), whole and out of
// line: their hit path then calls nothing whose result it tests, and needs
// no frame (it saved and restored one: 21 instructions to its `ret`, against
// malloc's 18 then).
[[gnu::noinline]] void* PlainNewMiss(size_t size) { return New(size, 0); }
struct PlainNewPath {
  static void* Hit(void* p, size_t) { return p; }
  static void* Small(size_t size, size_t) { return PlainNewMiss(size); }
  static void* Large(size_t size) { return PlainNewMiss(size); }
};

template <hakmem::preload::NothrowForm kForm>
[[gnu::noinline]] void* PlainNewNothrowMiss(size_t size) noexcept {
  return NewNothrow(kForm, size, 0);
}
template <hakmem::preload::NothrowForm kForm>
struct PlainNewNothrowPath {
  static void* Hit(void* p, size_t) { return p; }
  static void* Small(size_t size, size_t) { return PlainNewNothrowMiss<kForm>(size); }
  static void* Large(size_t size) { return PlainNewNothrowMiss<kForm>(size); }
};

// The aligned forms the same way: a bin's block that keeps the alignment
// (AlignedAllocOr), else the whole miss out of line (hak_alloc_aligned and
// the handler loop).
[[gnu::noinline]] void* AlignedNewMiss(size_t size, size_t alignment) {
  return New(size, alignment);
}
ABSL_ATTRIBUTE_ALWAYS_INLINE inline void* AlignedNew(size_t size, size_t alignment) {
  return hakmem::AlignedAllocOr(alignment, size, [=] { return AlignedNewMiss(size, alignment); });
}

template <hakmem::preload::NothrowForm kForm>
[[gnu::noinline]] void* AlignedNewNothrowMiss(size_t size, size_t alignment) noexcept {
  return NewNothrow(kForm, size, alignment);
}
template <hakmem::preload::NothrowForm kForm>
ABSL_ATTRIBUTE_ALWAYS_INLINE inline void* AlignedNewNothrow(size_t size,
                                                            size_t alignment) noexcept {
  return hakmem::AlignedAllocOr(alignment, size,
                                [=] { return AlignedNewNothrowMiss<kForm>(size, alignment); });
}

using hakmem::preload::NothrowForm;

}  // namespace

HAKMEM_EXPORT_CXX void* operator new(size_t size) {
  return hakmem::AllocOr<PlainNewPath>(size);
}
HAKMEM_EXPORT_CXX void* operator new[](size_t size) {
  return hakmem::AllocOr<PlainNewPath>(size);
}
HAKMEM_EXPORT_CXX void* operator new(size_t size, const std::nothrow_t&) noexcept {
  return hakmem::AllocOr<PlainNewNothrowPath<NothrowForm::kNew>>(size);
}
HAKMEM_EXPORT_CXX void* operator new[](size_t size, const std::nothrow_t&) noexcept {
  return hakmem::AllocOr<PlainNewNothrowPath<NothrowForm::kNewArray>>(size);
}
HAKMEM_EXPORT_CXX void* operator new(size_t size, std::align_val_t alignment) {
  return AlignedNew(size, static_cast<size_t>(alignment));
}
HAKMEM_EXPORT_CXX void* operator new[](size_t size, std::align_val_t alignment) {
  return AlignedNew(size, static_cast<size_t>(alignment));
}
HAKMEM_EXPORT_CXX void* operator new(size_t size, std::align_val_t alignment,
                                     const std::nothrow_t&) noexcept {
  return AlignedNewNothrow<NothrowForm::kNewAligned>(size, static_cast<size_t>(alignment));
}
HAKMEM_EXPORT_CXX void* operator new[](size_t size, std::align_val_t alignment,
                                       const std::nothrow_t&) noexcept {
  return AlignedNewNothrow<NothrowForm::kNewArrayAligned>(size, static_cast<size_t>(alignment));
}

HAKMEM_EXPORT_CXX void operator delete(void* p) noexcept { hakmem::FreeInline(p); }
HAKMEM_EXPORT_CXX void operator delete[](void* p) noexcept { hakmem::FreeInline(p); }
HAKMEM_EXPORT_CXX void operator delete(void* p, const std::nothrow_t&) noexcept {
  hakmem::FreeInline(p);
}
HAKMEM_EXPORT_CXX void operator delete[](void* p, const std::nothrow_t&) noexcept {
  hakmem::FreeInline(p);
}
HAKMEM_EXPORT_CXX void operator delete(void* p, size_t) noexcept { hakmem::FreeInline(p); }
HAKMEM_EXPORT_CXX void operator delete[](void* p, size_t) noexcept { hakmem::FreeInline(p); }
HAKMEM_EXPORT_CXX void operator delete(void* p, std::align_val_t) noexcept {
  hakmem::FreeInline(p);
}
HAKMEM_EXPORT_CXX void operator delete[](void* p, std::align_val_t) noexcept {
  hakmem::FreeInline(p);
}
HAKMEM_EXPORT_CXX void operator delete(void* p, std::align_val_t,
                                       const std::nothrow_t&) noexcept {
  hakmem::FreeInline(p);
}
HAKMEM_EXPORT_CXX void operator delete[](void* p, std::align_val_t,
                                         const std::nothrow_t&) noexcept {
  hakmem::FreeInline(p);
}
HAKMEM_EXPORT_CXX void operator delete(void* p, size_t, std::align_val_t) noexcept {
  hakmem::FreeInline(p);
}
HAKMEM_EXPORT_CXX void operator delete[](void* p, size_t, std::align_val_t) noexcept {
  hakmem::FreeInline(p);
}
