// operator new's failure path under LD_PRELOAD=libhakmem.so, which links no
// C++ runtime and borrows this program's (preload/cxx_runtime.h): the
// new_handler loop, std::bad_alloc, and the nothrow forms' catch, in all the
// forms [new.delete] names. Prints "new_handler ok" or the first failure.
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <new>

namespace {

// More than any machine maps: every allocation below fails.
volatile size_t g_impossible = size_t{1} << 62;
void* volatile g_sink;

int g_calls = 0;
void UninstallOnThirdCall() {
  if (++g_calls == 3) std::set_new_handler(nullptr);
}
void ThrowBadAlloc() { throw std::bad_alloc(); }

void Check(bool ok, const char* what) {
  if (!ok) {
    std::printf("FAILED: %s\n", what);
    std::exit(1);
  }
}

// Runs f (a throwing form); true if it threw std::bad_alloc.
template <class F>
bool ThrowsBadAlloc(F f) {
  try {
    g_sink = f();
  } catch (const std::bad_alloc&) {
    return true;
  }
  return false;
}

}  // namespace

int main() {
  const size_t n = g_impossible;
  const std::align_val_t al{64};

  std::set_new_handler(nullptr);
  Check(ThrowsBadAlloc([&] { return ::operator new(n); }), "new throws bad_alloc");
  Check(ThrowsBadAlloc([&] { return ::operator new[](n, al); }), "aligned new[] throws");

  g_calls = 0;
  std::set_new_handler(UninstallOnThirdCall);
  Check(ThrowsBadAlloc([&] { return ::operator new(n); }), "new throws after the handler");
  Check(g_calls == 3, "new calls the handler until it is uninstalled");

  g_calls = 0;
  std::set_new_handler(UninstallOnThirdCall);
  Check(::operator new(n, std::nothrow) == nullptr, "nothrow new returns nullptr");
  Check(g_calls == 3, "nothrow new calls the handler until it is uninstalled");

  g_calls = 0;
  std::set_new_handler(UninstallOnThirdCall);
  Check(::operator new[](n, std::nothrow) == nullptr, "nothrow new[] returns nullptr");
  Check(g_calls == 3, "nothrow new[] calls the handler until it is uninstalled");
  Check(::operator new(n, std::nothrow) == nullptr, "nothrow new without a handler: nullptr");

  std::set_new_handler(ThrowBadAlloc);
  Check(::operator new(n, std::nothrow) == nullptr, "nothrow new catches the handler's throw");
  Check(::operator new[](n, std::nothrow) == nullptr, "nothrow new[] catches it");
  Check(::operator new(n, al, std::nothrow) == nullptr, "aligned nothrow new catches it");
  Check(::operator new[](n, al, std::nothrow) == nullptr, "aligned nothrow new[] catches it");
  Check(ThrowsBadAlloc([&] { return ::operator new[](n); }), "new[] passes the handler's throw on");
  std::set_new_handler(nullptr);

  void* p = ::operator new(100, al, std::nothrow);
  Check(p != nullptr && reinterpret_cast<size_t>(p) % 64 == 0, "a possible request succeeds");
  ::operator delete(p, al);
  std::printf("new_handler ok\n");
  return 0;
}
