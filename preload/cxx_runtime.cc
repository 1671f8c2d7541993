#include "preload/cxx_runtime.h"

#include <dlfcn.h>
#include <stdlib.h>

#include <atomic>

#include "core/base/log.h"

namespace hakmem::preload {
namespace {

// A symbol looked up when first found (racing lookups find the same
// address); a miss is looked up again next time, since a C++ runtime may be
// loaded later (dlopen). Constant-initialised: operator new may fail before
// any constructor of this library has run.
enum class Scope : bool { kProcess, kAfterHakmem };  // RTLD_DEFAULT, RTLD_NEXT

class RuntimeSymbol {
 public:
  constexpr RuntimeSymbol(Scope scope, const char* name) : scope_(scope), name_(name) {}
  void* Get() {
    void* p = address_.load(std::memory_order_acquire);
    if (p == nullptr) {
      p = dlsym(scope_ == Scope::kAfterHakmem ? RTLD_NEXT : RTLD_DEFAULT, name_);
      if (p != nullptr) address_.store(p, std::memory_order_release);
    }
    return p;
  }

 private:
  Scope scope_;
  const char* name_;
  std::atomic<void*> address_{nullptr};
};

constinit RuntimeSymbol g_get_new_handler(Scope::kProcess, "_ZSt15get_new_handlerv");
constinit RuntimeSymbol g_throw_bad_alloc(Scope::kProcess, "_ZSt17__throw_bad_allocv");
constinit RuntimeSymbol g_nothrow_new[] = {
    {Scope::kAfterHakmem, "_ZnwmRKSt9nothrow_t"},
    {Scope::kAfterHakmem, "_ZnamRKSt9nothrow_t"},
    {Scope::kAfterHakmem, "_ZnwmSt11align_val_tRKSt9nothrow_t"},
    {Scope::kAfterHakmem, "_ZnamSt11align_val_tRKSt9nothrow_t"},
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
