#include "bench/runner/allocators.h"

#include <dlfcn.h>
#include <gnu/libc-version.h>
#include <limits.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>

namespace hakmem_bench {
namespace {

// Debian's peer libraries (see shared/BAZEL_OFFLINE.md); "" means glibc itself.
struct Peer {
  const char* name;
  const char* path;
  const char* package;  // for the version in the report's host section
};
constexpr Peer kPeers[] = {
    {"glibc", "", "libc6"},
    {"mimalloc", "/usr/lib/x86_64-linux-gnu/libmimalloc.so.2", "libmimalloc2.0"},
    {"jemalloc", "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2", "libjemalloc2"},
    {"tcmalloc", "/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4", "libtcmalloc-minimal4"},
};

bool Selected(const std::vector<std::string>& only, const std::string& name) {
  return only.empty() || std::find(only.begin(), only.end(), name) != only.end();
}

std::string BaseName(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

}  // namespace

std::string RealPath(const std::string& path) {
  char buf[PATH_MAX];
  if (realpath(path.c_str(), buf) == nullptr) return path;
  return buf;
}

std::vector<Allocator> FindAllocators(const std::string& hakmem_path,
                                      const std::vector<std::string>& only,
                                      std::vector<Skipped>* skipped, std::string* error) {
  for (const auto& name : only) {
    bool known = name == "hakmem";
    for (const auto& p : kPeers) known = known || name == p.name;
    if (!known) {
      *error = "unknown allocator '" + name + "' (known: hakmem, glibc, mimalloc, jemalloc, tcmalloc)";
      return {};
    }
  }
  std::vector<Allocator> out;
  auto add = [&](const std::string& name, const std::string& path, bool subject,
                 const std::string& package) {
    if (!Selected(only, name)) {
      skipped->push_back({name, "not selected (--allocators)"});
    } else if (!path.empty() && access(path.c_str(), R_OK) != 0) {
      skipped->push_back({name, "not found: " + path});
    } else {
      out.push_back({name, path.empty() ? "" : RealPath(path), subject, package});
    }
  };
  if (hakmem_path.empty()) {
    if (Selected(only, "hakmem")) skipped->push_back({"hakmem", "not found (no --hakmem, no runfile)"});
  } else {
    add("hakmem", hakmem_path, true, "");
  }
  for (const auto& p : kPeers) add(p.name, p.path, false, p.package);
  return out;
}

std::string CheckLibrary(const Allocator& a, const std::string& what, const std::string& got) {
  const bool ok = a.preload.empty() ? BaseName(got).rfind("libc.so", 0) == 0
                                    : RealPath(got) == a.preload;
  if (ok) return "";
  return what + " resolves to " + got + ", expected " +
         (a.preload.empty() ? std::string("glibc's libc.so") : a.preload);
}

std::string CheckIdentity(const Allocator& a, const std::map<std::string, std::string>& fields) {
  for (const char* key : {"malloc_lib", "free_lib", "direct_malloc_lib"}) {
    const auto it = fields.find(key);
    if (it == fields.end()) return std::string("the workload did not report ") + key;
    if (std::string bad = CheckLibrary(a, key, it->second); !bad.empty()) return bad;
  }
  return "";
}

std::string LibcPath() {
  Dl_info info;
  if (dladdr(reinterpret_cast<void*>(&gnu_get_libc_version), &info) == 0 ||
      info.dli_fname == nullptr) {
    return "";
  }
  return RealPath(info.dli_fname);
}

}  // namespace hakmem_bench
