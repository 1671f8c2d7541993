#include "learner/learner.h"

#include <errno.h>
#include <linux/futex.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <atomic>

#include "core/background.h"
#include "core/base/clock.h"
#include "core/base/config.h"
#include "core/base/daemon_thread.h"
#include "core/base/log.h"
#include "core/decay.h"
#include "core/heap_upkeep.h"
#include "learner/ace.h"
#include "learner/learn_log.h"
#include "pools/mid/idle_spans.h"
#include "pools/mid/pool_policy.h"
#include "pools/tiny/thread_cache.h"
#include "sync/spin_lock.h"

namespace hakmem::learner {
namespace {

constexpr size_t kStackSize = 256 * 1024;  // a pass keeps three ACE snapshots (~12 KiB)
constexpr uint32_t kExitWaitMs = 500;
// The thread starts at the first refill this long after hakmem was loaded:
// start-up (the loader, constructors) is over by then, and a program that
// ends sooner would not have given the learner a single window.
constexpr uint64_t kStartDelayMs = 250;

enum State : int { kIdle = 0, kRunning = 1, kStopping = 2 };

// Everything here is trivially destructible: the thread may still be reading
// it while the process runs its exit-time destructors.
std::atomic<int> g_state{kIdle};
std::atomic<bool> g_stop{false};
std::atomic<bool> g_done{false};
std::atomic<uint32_t> g_wake{0};    // futex word: bumped to interrupt a wait
std::atomic<bool> g_in_child{false};
// The thread has set up its state (g_wmax and the rest are valid).
std::atomic<bool> g_began{false};
std::atomic<uint64_t> g_loaded_ms{0};  // when the hooks were registered

// A window pass holds this; fork's prepare handler takes it so a child never
// sees half of a pass. Only the learner thread touches the state below, and
// only under it (the fork child handler after fork, single-threaded).
constinit sync::SpinLock g_pass_lock;
LearnerSettings g_settings;
CapState g_cap[kNumClasses];
WmaxState g_wmax;
AceSnapshot g_prev;
uint64_t g_idle_max[kNumClasses];
LearnLog g_log;

std::atomic<uint64_t> g_windows{0};
std::atomic<uint64_t> g_cap_changes{0};
std::atomic<uint64_t> g_spans_released{0};
std::atomic<uint64_t> g_wmax_changes{0};
std::atomic<uint32_t> g_wmax_incumbent{0};

// Sleeps until `deadline_ms` or until StopLearner bumps g_wake.
void WaitUntil(uint64_t deadline_ms) {
  for (;;) {
    const uint32_t seen = g_wake.load(std::memory_order_acquire);
    if (g_stop.load(std::memory_order_acquire)) return;
    const uint64_t now = NowMs();
    if (now >= deadline_ms) return;
    const uint64_t left = deadline_ms - now;
    timespec ts{static_cast<time_t>(left / 1000), static_cast<long>(left % 1000) * 1000000};
    syscall(SYS_futex, reinterpret_cast<uint32_t*>(&g_wake), FUTEX_WAIT_PRIVATE, seen, &ts,
            nullptr, 0);
  }
}

bool IsMid(int c) { return TierOfClass(c) == Tier::kMid; }

// Hands the idle spans of class c above `cap` back to the SuperSlab manager
// (which keeps their units resident within its retain limit, from
// HAKMEM_POOL_RETAIN_BYTES, and decommits the rest): lowering CAP alone only stops new spans from staying.
void ReleaseIdleAbove(int c, uint32_t cap) {
  g_spans_released.fetch_add(mid::ReleaseIdleAbove(c, cap), std::memory_order_relaxed);
}

// Ends a W_MAX trial in progress: the incumbent goes back in force.
void RestoreIncumbentWmax() {
  if (g_began.load(std::memory_order_relaxed) && g_settings.wmax_learn) {
    mid::PoolPolicy::SetWmaxX100(Tier::kMid, g_wmax.arms[g_wmax.incumbent].wmax);
  }
}

void SampleIdle() {
  for (int c = 0; c < kNumClasses; ++c) {
    if (!IsMid(c)) continue;
    const uint64_t idle = mid::IdleSpans(c);
    if (idle > g_idle_max[c]) g_idle_max[c] = idle;
  }
}

void BeginLearning() {
  sync::SpinLockHolder hold(&g_pass_lock);
  ReadAce(&g_prev);
  for (int c = 0; c < kNumClasses; ++c) {
    g_cap[c] = InitialCapState(mid::PoolPolicy::Cap(c));
    g_idle_max[c] = g_prev.cls[c].idle_spans;
  }
  g_wmax = InitialWmaxState(g_settings.wmax, mid::PoolPolicy::WmaxX100(Tier::kMid));
  g_wmax_incumbent.store(g_settings.wmax_learn ? WmaxInForce(g_wmax) : 0, std::memory_order_relaxed);
  g_began.store(true, std::memory_order_relaxed);
}

// Classes released for want of demand and still without requests.
uint64_t g_quiet_mask = 0;

void StepCaps(const AceSnapshot& win, uint64_t time_ms, uint32_t wmax_now) {
  uint64_t released = 0;  // classes released for want of demand in this window
  uint64_t idle = 0;      // classes with no request in this window
  for (int c = 0; c < kNumClasses; ++c) {
    if (!IsMid(c)) continue;
    const AceClass& a = win.cls[c];
    CapWindow w{a.requests, a.spans_reused, a.spans_new,
                g_idle_max[c] > a.idle_spans ? g_idle_max[c] : a.idle_spans, a.idle_spans};
    CapState st = g_cap[c];
    st.cap = mid::PoolPolicy::Cap(c);  // follow a CAP set by anyone else (a test, a tool)
    const CapStep step = StepCap(g_settings.cap, st, w);
    g_cap[c] = step.state;
    if (step.decision.changed()) {
      mid::PoolPolicy::SetCap(c, step.decision.new_cap);
      ReleaseIdleAbove(c, mid::PoolPolicy::Cap(c));
      g_cap_changes.fetch_add(1, std::memory_order_relaxed);
      if (step.decision.reason == CapReason::kRelease) released |= uint64_t{1} << c;
    }
    if (a.requests == 0) idle |= uint64_t{1} << c;
    if (a.requests > 0 || a.idle_spans > 0 || step.decision.changed()) {
      g_log.CapRow(time_ms, c, a, w.idle_max, wmax_now, step.decision);
    }
    g_idle_max[c] = a.idle_spans;
  }
  // Their blocks cached in thread bins still pin spans: ask the threads to
  // hand them back at their next refill, then the spans can go. The request
  // names every class that is still quiet, so a thread that refills late
  // misses none; a class in use again drops out of it.
  g_quiet_mask = (g_quiet_mask & idle) | released;
  if (released != 0) {
    tiny::RequestBinFlush(g_quiet_mask);
    NudgeIdleHeaps(NowMs(), 0);  // threads whose bins serve everything see it now too
  }
}

void StepWmaxTier(const AceSnapshot& win, uint64_t time_ms) {
  uint64_t bytes = 0;
  const AceClass sum = AceTierSum(win, Tier::kMid, &bytes);
  const WmaxWindow w{sum.requests, sum.refills, sum.spans_new, sum.borrowed_waste, bytes};
  const WmaxStep step = StepWmax(g_settings.wmax, g_wmax, w);
  g_wmax = step.state;
  if (step.decision.wmax_next != mid::PoolPolicy::WmaxX100(Tier::kMid)) {
    mid::PoolPolicy::SetWmaxX100(Tier::kMid, step.decision.wmax_next);
    g_wmax_changes.fetch_add(1, std::memory_order_relaxed);
  }
  g_wmax_incumbent.store(g_wmax.arms[g_wmax.incumbent].wmax, std::memory_order_relaxed);
  g_log.WmaxRow(time_ms, w, step.decision);
}

void RunWindow(uint64_t time_ms) {
  sync::SpinLockHolder hold(&g_pass_lock);
  AceSnapshot cur;
  ReadAce(&cur);
  AceSnapshot win;
  AceWindowOf(g_prev, cur, &win);
  g_prev = cur;
  const uint32_t wmax_now = mid::PoolPolicy::WmaxX100(Tier::kMid);
  StepCaps(win, time_ms, wmax_now);
  if (g_settings.wmax_learn) StepWmaxTier(win, time_ms);
  g_windows.fetch_add(1, std::memory_order_relaxed);
}

void* LearnerMain(void*) {
  prctl(PR_SET_NAME, "hakmem-learner", 0, 0, 0);
  if (g_settings.log_path.text[0] != '\0' && !g_log.Open(g_settings.log_path.text)) {
    LogLine().Str("hakmem: warning: HAKMEM_LEARN_LOG=").Str(g_settings.log_path.text)
        .Str(" cannot be opened; learning without a log");
  }
  BeginLearning();
  const uint64_t window = g_settings.window_ms > 0 ? g_settings.window_ms : 1;
  const uint32_t samples = g_settings.idle_samples > 0 ? g_settings.idle_samples : 1;
  const uint64_t tick = window / samples > 0 ? window / samples : 1;
  const uint64_t start = NowMs();
  uint64_t next_window = start + window;
  while (!g_stop.load(std::memory_order_acquire)) {
    const uint64_t now = NowMs();
    WaitUntil(now + tick < next_window ? now + tick : next_window);
    if (g_stop.load(std::memory_order_acquire)) break;
    SampleIdle();
    MaybeDecay();  // a program that stopped allocating gets its memory back too
    const uint64_t after = NowMs();
    if (after >= next_window) {
      RunWindow(after - start);
      next_window += window;
      if (next_window <= after) next_window = after + window;  // we were descheduled
    }
  }
  {
    sync::SpinLockHolder hold(&g_pass_lock);
    RestoreIncumbentWmax();  // a W_MAX trial ends with the thread
    g_began.store(false, std::memory_order_relaxed);
    g_log.Close();
  }
  g_done.store(true, std::memory_order_release);
  return nullptr;
}

// --- core's hooks (core/background.h) ---------------------------------------

bool StartHook() {
  if (!ConfigLoaded()) return false;  // environ not read yet: ask again later
  if (!GetConfig().learn || g_in_child.load(std::memory_order_relaxed)) return true;
  if (NowMs() - g_loaded_ms.load(std::memory_order_relaxed) < kStartDelayMs) return false;
  StartLearner(SettingsFromConfig(GetConfig()));
  return true;
}

void PrepareFork() { g_pass_lock.Lock(); }

void ParentAfterFork() { g_pass_lock.Unlock(); }

void ChildAfterFork() {
  g_pass_lock.ResetAfterFork();
  g_in_child.store(true, std::memory_order_relaxed);
  if (g_state.load(std::memory_order_relaxed) != kIdle) {
    RestoreIncumbentWmax();  // the thread did not come along: drop a trial
    g_state.store(kIdle, std::memory_order_relaxed);
  }
}

void AtExit() { StopLearner(kExitWaitMs); }

void PrintStatsHook(int fd) {
  PrintAce(fd);
  const LearnerStatus st = GetLearnerStatus();
  if (st.windows == 0) return;
  LogLine line(fd);
  line.Str("hakmem learner: ").Dec(st.windows).Str(" windows, ").Dec(st.cap_changes)
      .Str(" CAP changes, ").Dec(st.spans_released).Str(" idle spans released, ")
      .Dec(st.wmax_changes).Str(" W_MAX changes");
  if (st.wmax_incumbent != 0) line.Str(", W_MAX ").Fixed(st.wmax_incumbent, 2);
}

constexpr BackgroundHooks kHooks = {
    StartHook, PrepareFork, ParentAfterFork, ChildAfterFork, AtExit, PrintStatsHook,
};

// Only stores a time and a pointer: nothing starts here (see learner.h).
__attribute__((constructor)) void RegisterWithCore() {
  g_loaded_ms.store(NowMs(), std::memory_order_relaxed);
  RegisterBackground(&kHooks);
}

}  // namespace

bool StartLearner(const LearnerSettings& s) {
  if (g_in_child.load(std::memory_order_relaxed)) return false;
  int expected = kIdle;
  if (!g_state.compare_exchange_strong(expected, kRunning, std::memory_order_acq_rel)) return false;
  g_settings = s;
  g_stop.store(false, std::memory_order_relaxed);
  g_done.store(false, std::memory_order_relaxed);
  const int err = StartDaemonThread(LearnerMain, kStackSize);
  if (err != 0) {
    LogLine().Str("hakmem: warning: HAKMEM_LEARN=1 but the learner thread cannot start (error ")
        .Dec(static_cast<uint64_t>(err)).Str("); running without it");
    g_state.store(kIdle, std::memory_order_release);
    return false;
  }
  return true;
}

bool StopLearner(uint32_t wait_ms) {
  int expected = kRunning;
  if (!g_state.compare_exchange_strong(expected, kStopping, std::memory_order_acq_rel)) {
    return expected == kIdle;
  }
  g_stop.store(true, std::memory_order_release);
  g_wake.fetch_add(1, std::memory_order_release);
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(&g_wake), FUTEX_WAKE_PRIVATE, 1, nullptr,
          nullptr, 0);
  for (uint32_t waited = 0; !g_done.load(std::memory_order_acquire); ++waited) {
    if (waited >= wait_ms) return false;  // stays kStopping: never started twice
    timespec ms{0, 1000000};
    nanosleep(&ms, nullptr);
  }
  g_state.store(kIdle, std::memory_order_release);
  return true;
}

LearnerStatus GetLearnerStatus() {
  LearnerStatus s;
  s.running = g_state.load(std::memory_order_acquire) == kRunning;
  s.windows = g_windows.load(std::memory_order_relaxed);
  s.cap_changes = g_cap_changes.load(std::memory_order_relaxed);
  s.spans_released = g_spans_released.load(std::memory_order_relaxed);
  s.wmax_changes = g_wmax_changes.load(std::memory_order_relaxed);
  s.wmax_incumbent = g_wmax_incumbent.load(std::memory_order_relaxed);
  return s;
}

}  // namespace hakmem::learner
