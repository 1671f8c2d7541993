// //bench:identify_preload — LD_PRELOAD'ed after the allocator under test into
// every process of an app experiment (the programs the runner starts and the
// ones they start in turn, e.g. g++'s cc1plus and as). When the process starts,
// it appends one line to the file named by $BENCH_IDENTIFY_FILE:
//
//   identify pid=123 exe=/usr/bin/python3.11 malloc_lib=/path/libhakmem.so free_lib=...
//
// naming the object that defines the malloc and free this process resolves to
// (dlsym(RTLD_DEFAULT) then dladdr, the lookup the program's own calls get).
// The runner accepts the run only if every line names the allocator it preloaded.
// It is done once, from a constructor, with raw open/write (no stdio), before
// main: nothing of it runs while the program works.
#include <dlfcn.h>
#include <elf.h>
#include <fcntl.h>
#include <link.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cstddef>

namespace {

// A line in a fixed buffer; values are %XX-escaped so each stays one token.
class Line {
 public:
  void Raw(const char* s) {
    while (*s != '\0') Put(*s++);
  }
  void Value(const char* s) {
    static const char kHex[] = "0123456789ABCDEF";
    for (; *s != '\0'; ++s) {
      const unsigned char c = static_cast<unsigned char>(*s);
      if (c <= ' ' || c == '%' || c >= 0x7f) {
        Put('%');
        Put(kHex[c >> 4]);
        Put(kHex[c & 15]);
      } else {
        Put(static_cast<char>(c));
      }
    }
  }
  void Number(long v) {
    char digits[24];
    int n = 0;
    do {
      digits[n++] = static_cast<char>('0' + v % 10);
      v /= 10;
    } while (v > 0 && n < 23);
    while (n > 0) Put(digits[--n]);
  }
  const char* data() const { return buf_; }
  size_t size() const { return len_; }

 private:
  void Put(char c) {
    if (len_ < sizeof buf_ - 1) buf_[len_++] = c;
  }
  char buf_[4 * 4096];
  size_t len_ = 0;
};

// The loaded objects with a name, in load order (the main program has none).
struct Objects {
  const char* names[256];
  int count = 0;
};

int CollectObject(dl_phdr_info* info, size_t, void* data) {
  auto* objects = static_cast<Objects*>(data);
  if (info->dlpi_name != nullptr && info->dlpi_name[0] != '\0' && objects->count < 256) {
    objects->names[objects->count++] = info->dlpi_name;
  }
  return 0;
}

// The first object after the main program, in load order (for the objects
// loaded at start-up that is the lookup order: the preloads, then the
// libraries the program needs), that defines `symbol` itself.
const char* FirstDefinerAfterMain(const char* symbol) {
  Objects objects;
  dl_iterate_phdr(CollectObject, &objects);
  for (int i = 0; i < objects.count; ++i) {
    void* handle = dlopen(objects.names[i], RTLD_LAZY | RTLD_NOLOAD);
    if (handle == nullptr) continue;
    void* addr = dlsym(handle, symbol);
    Dl_info info;
    const bool here = addr != nullptr && dladdr(addr, &info) != 0 && info.dli_fname != nullptr &&
                      strcmp(info.dli_fname, objects.names[i]) == 0;
    dlclose(handle);
    if (here) return objects.names[i];
  }
  return "unresolved";
}

const char* ObjectOf(const char* symbol) {
  void* addr = dlsym(RTLD_DEFAULT, symbol);
  if (addr == nullptr) return "unresolved";
  Dl_info info;
  void* entry = nullptr;
  if (dladdr1(addr, &info, &entry, RTLD_DL_SYMENT) == 0 || info.dli_fname == nullptr) {
    return "unknown";
  }
  // A non-PIE program that takes a function's address (gcc's cc1plus does, for
  // free) has an undefined symbol whose value is its PLT stub, and dlsym
  // returns that stub; the stub jumps to the next definition, so look there.
  // A real definition in the program is reported as it is.
  const auto* sym = static_cast<const ElfW(Sym)*>(entry);
  if (sym != nullptr && sym->st_shndx == SHN_UNDEF) return FirstDefinerAfterMain(symbol);
  return info.dli_fname[0] == '\0' ? "main-program" : info.dli_fname;
}

__attribute__((constructor)) void RecordAllocator() {
  const char* path = getenv("BENCH_IDENTIFY_FILE");
  if (path == nullptr || path[0] == '\0') return;
  char exe[4096];
  const ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  exe[n > 0 ? n : 0] = '\0';
  Line line;
  line.Raw("identify pid=");
  line.Number(static_cast<long>(getpid()));
  line.Raw(" exe=");
  line.Value(exe);
  line.Raw(" malloc_lib=");
  line.Value(ObjectOf("malloc"));
  line.Raw(" free_lib=");
  line.Value(ObjectOf("free"));
  line.Raw("\n");
  const int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return;
  // One write of one line: O_APPEND keeps the lines of concurrent processes whole.
  (void)!write(fd, line.data(), line.size());
  close(fd);
}

}  // namespace
