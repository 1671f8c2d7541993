// The program's C++ runtime, as operator new's failure path needs it.
//
// libhakmem.so links no C++ runtime: LD_PRELOADed into a C program (sqlite3,
// python, redis), libstdc++ and libgcc_s loaded for it alone were 1.0 - 1.3
// MiB of that program's resident memory (sqlite3 :memory: "select 1": 4.2 MiB
// with glibc, 5.5 with hakmem then, 4.4 now). Only a C++ program calls operator new, and its C++
// runtime is loaded; the failure path looks it up there by name, when it
// fails (dlsym), never at start-up (a malloc inside the dynamic loader).
#ifndef HAKMEM_PRELOAD_CXX_RUNTIME_H_
#define HAKMEM_PRELOAD_CXX_RUNTIME_H_

#include <cstddef>
#include <new>

namespace hakmem::preload {

// std::get_new_handler() of the program's C++ runtime; nullptr where none is
// loaded (then none can have been installed).
std::new_handler CurrentNewHandler();

// Throws std::bad_alloc from the program's C++ runtime; without one, reports
// the failed allocation and aborts.
[[noreturn]] void ThrowBadAlloc(size_t size);

// The nothrow forms of operator new, as the C++ runtime defines them after
// hakmem (RTLD_NEXT): each calls the throwing form (hakmem's) and turns any
// exception, a new_handler's too, into nullptr. RuntimeNothrowNew returns
// what that form returns, or nullptr where the runtime has none.
enum class NothrowForm { kNew, kNewArray, kNewAligned, kNewArrayAligned };
void* RuntimeNothrowNew(NothrowForm form, size_t size, size_t alignment) noexcept;

}  // namespace hakmem::preload

#endif  // HAKMEM_PRELOAD_CXX_RUNTIME_H_
