// Whether a task (thread) of this process has a given name
// (/proc/self/task/*/comm), for tests of when hakmem starts its threads.
#ifndef HAKMEM_TESTS_PROCESS_TASKS_H_
#define HAKMEM_TESTS_PROCESS_TASKS_H_

#include <dirent.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>

namespace hakmem_test {

// `name`: at most 15 characters (comm's limit).
inline bool TaskNamed(const char* name) {
  DIR* tasks = opendir("/proc/self/task");
  if (tasks == nullptr) return false;
  bool found = false;
  while (dirent* e = readdir(tasks)) {
    if (e->d_name[0] == '.') continue;
    const std::string path = std::string("/proc/self/task/") + e->d_name + "/comm";
    if (FILE* f = fopen(path.c_str(), "r")) {
      char comm[32] = {};
      if (fgets(comm, sizeof comm, f) != nullptr) {
        comm[strcspn(comm, "\n")] = '\0';
        found |= strcmp(comm, name) == 0;
      }
      fclose(f);
    }
  }
  closedir(tasks);
  return found;
}

// Waits up to `max_ms` for a task named `name` (a thread names itself first
// thing, but after its creation returns).
inline bool TaskAppears(const char* name, int max_ms) {
  for (int waited_ms = 0; waited_ms < max_ms; waited_ms += 10) {
    if (TaskNamed(name)) return true;
    usleep(10 * 1000);
  }
  return TaskNamed(name);
}

}  // namespace hakmem_test

#endif  // HAKMEM_TESTS_PROCESS_TASKS_H_
