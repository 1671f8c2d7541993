#include "preload/cxx_runtime.h"

#include <dlfcn.h>
#include <stdlib.h>

#include <atomic>
#include <cstdint>

#include "core/base/log.h"

namespace hakmem::preload {
namespace {

// A symbol looked up once (racing lookups find the same address); a miss is
// remembered too.
class RuntimeSymbol {
 public:
  constexpr RuntimeSymbol(void* handle, const char* name) : handle_(handle), name_(name) {}
  void* Get() {
    uintptr_t a = address_.load(std::memory_order_acquire);
    if (a == kUnresolved) {
      void* p = dlsym(handle_, name_);
      a = p != nullptr ? reinterpret_cast<uintptr_t>(p) : kMissing;
      address_.store(a, std::memory_order_release);
    }
    return a == kMissing ? nullptr : reinterpret_cast<void*>(a);
  }

 private:
  static constexpr uintptr_t kUnresolved = 0;
  static constexpr uintptr_t kMissing = 1;
  void* handle_;
  const char* name_;
  std::atomic<uintptr_t> address_{kUnresolved};
};

RuntimeSymbol g_get_new_handler(RTLD_DEFAULT, "_ZSt15get_new_handlerv");
RuntimeSymbol g_throw_bad_alloc(RTLD_DEFAULT, "_ZSt17__throw_bad_allocv");
RuntimeSymbol g_nothrow_new[] = {
    {RTLD_NEXT, "_ZnwmRKSt9nothrow_t"},
    {RTLD_NEXT, "_ZnamRKSt9nothrow_t"},
    {RTLD_NEXT, "_ZnwmSt11align_val_tRKSt9nothrow_t"},
    {RTLD_NEXT, "_ZnamSt11align_val_tRKSt9nothrow_t"},
};

}  // namespace

std::new_handler CurrentNewHandler() {
  void* f = g_get_new_handler.Get();
  return f != nullptr ? reinterpret_cast<std::new_handler (*)()>(f)() : nullptr;
}

void ThrowBadAlloc(size_t size) {
  if (void* f = g_throw_bad_alloc.Get()) reinterpret_cast<void (*)()>(f)();
  LogLine().Str("hakmem: operator new(").Dec(size).Str(
      ") failed and no C++ runtime is loaded to throw std::bad_alloc; aborting");
  abort();
}

void* RuntimeNothrowNew(NothrowForm form, size_t size, size_t alignment) noexcept {
  void* f = g_nothrow_new[static_cast<int>(form)].Get();
  if (f == nullptr) return nullptr;
  const std::nothrow_t nothrow{};  // not std::nothrow: an object of libstdc++'s
  switch (form) {
    case NothrowForm::kNew:
    case NothrowForm::kNewArray:
      return reinterpret_cast<void* (*)(size_t, const std::nothrow_t&) noexcept>(f)(size,
                                                                                    nothrow);
    case NothrowForm::kNewAligned:
    case NothrowForm::kNewArrayAligned:
      return reinterpret_cast<void* (*)(size_t, std::align_val_t, const std::nothrow_t&) noexcept>(
          f)(size, std::align_val_t{alignment}, nothrow);
  }
  return nullptr;
}

}  // namespace hakmem::preload
