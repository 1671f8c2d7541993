// The allocators a head-to-head run compares, and how to tell that a child
// really ran on the one it was meant to.
#ifndef HAKMEM_BENCH_RUNNER_ALLOCATORS_H_
#define HAKMEM_BENCH_RUNNER_ALLOCATORS_H_

#include <map>
#include <string>
#include <vector>

namespace hakmem_bench {

struct Allocator {
  std::string name;     // hakmem, glibc, mimalloc, jemalloc, tcmalloc
  std::string preload;  // absolute path for LD_PRELOAD; empty for glibc
  bool subject = false; // the allocator the ratios are about (hakmem)
  std::string package;  // the Debian package of a peer ("libc6" for glibc); "" for hakmem
};

struct Skipped {
  std::string name;
  std::string reason;
};

// hakmem (at hakmem_path; skipped with a reason if it is not a readable file)
// followed by every peer found on this machine, in a fixed order. `only`, if
// not empty, keeps just the named allocators (others go to *skipped as
// "not selected"; an unknown name is an error reported in *error).
std::vector<Allocator> FindAllocators(const std::string& hakmem_path,
                                      const std::vector<std::string>& only,
                                      std::vector<Skipped>* skipped, std::string* error);

// Checks the libraries the child reported (malloc_lib, free_lib,
// direct_malloc_lib) against the allocator's. Returns "" if they match, else
// a message naming what was found instead.
std::string CheckIdentity(const Allocator& a, const std::map<std::string, std::string>& fields);

// Checks one library a child reported for `what` (e.g. "malloc_lib"): "" if it
// is the allocator's (its preload after realpath, or libc.so.* for glibc), else
// a message naming what was found instead.
std::string CheckLibrary(const Allocator& a, const std::string& what, const std::string& got);

// The path of the C library this runner runs on (dladdr of a libc function).
std::string LibcPath();

// realpath(), or the input when the path cannot be resolved.
std::string RealPath(const std::string& path);

}  // namespace hakmem_bench

#endif  // HAKMEM_BENCH_RUNNER_ALLOCATORS_H_
