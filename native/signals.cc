// Signal delivery into selectors. Signal dispositions are process-wide, so
// this is the addon's one piece of shared state: a fixed table of
// (signal, wake-up pipe) slots that the async-signal-safe handler walks,
// writing the signal number as one byte into each watching pipe. A loop in
// any thread (worker_threads included) then sees its select return and
// reads which signals arrived.
//
// Coexisting with Node: the handler that was installed below ours (libuv's,
// which feeds process.on(signal) listeners) is called after the pipes are
// written, so Node's listeners keep working. When someone installs a
// handler over ours (libuv does, for a first process.on), a later
// WatchSignal of the same signal puts ours back on top and chains to theirs;
// src/loop/signals.ts keeps Node's signal watch alive while a loop watches,
// so libuv does not replace or reset the disposition under us.
//
// NativeSignalPipe (below) is the same watch with a pipe of its own instead
// of a selector's: the native half of SignalReader (src/signal-reader.ts).
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <mutex>

#include "addon.h"
#include "pipe.h"

namespace ns {
namespace {

constexpr int kSlots = 256;
constexpr int kMaxSignal = 64;

struct Slot {
  std::atomic<int> signo{0};
  std::atomic<int> fd{-1};
};

// The handler below ours, as the signal handler reads it: lock-free atomics,
// not a struct sigaction the mutex guards.
struct Chain {
  std::atomic<uintptr_t> fn{0};  // 0: nothing to call
  std::atomic<bool> siginfo{false};
  std::atomic<int> depth{0};     // > 0 while our handler runs for this signal
};

Slot g_slots[kSlots];
Chain g_chain[kMaxSignal];
std::atomic<int> g_in_handler{0};
std::mutex g_mutex;  // serializes table changes and sigaction calls
struct sigaction g_below[kMaxSignal];     // the handler below ours, to put back
struct sigaction g_original[kMaxSignal];  // the disposition before the first watch
int g_watchers[kMaxSignal];

void OnSignal(int signo, siginfo_t* info, void* context) {
  int saved_errno = errno;
  g_in_handler.fetch_add(1);
  for (Slot& slot : g_slots) {
    if (slot.signo.load() != signo) continue;
    int fd = slot.fd.load();
    uint8_t byte = static_cast<uint8_t>(signo);
    if (fd >= 0) (void)!write(fd, &byte, 1);  // a full pipe already wakes it
  }
  Chain& chain = g_chain[signo];
  // Only the outermost call chains: a handler below that chains back up to
  // ours must not loop forever.
  if (chain.depth.fetch_add(1) == 0) {
    uintptr_t fn = chain.fn.load();
    if (fn != 0) {
      errno = saved_errno;
      if (chain.siginfo.load()) {
        reinterpret_cast<void (*)(int, siginfo_t*, void*)>(fn)(signo, info, context);
      } else {
        reinterpret_cast<void (*)(int)>(fn)(signo);
      }
    }
  }
  chain.depth.fetch_sub(1);
  g_in_handler.fetch_sub(1);
  errno = saved_errno;
}

bool IsOurs(const struct sigaction& action) {
  return (action.sa_flags & SA_SIGINFO) != 0 && action.sa_sigaction == OnSignal;
}

// Which handlers we pass a signal on to: any function that handles it and
// returns (libuv's above all). Not SIG_DFL or SIG_IGN (we handle the signal
// now, as asyncio's add_signal_handler does), and not a one-shot
// SA_RESETHAND handler: Node's own SIGINT/SIGTERM handler is one, and it
// re-raises the signal to end the process.
void SetChain(int signo, const struct sigaction* below) {
  Chain& chain = g_chain[signo];
  chain.fn.store(0);
  if (below == nullptr || (below->sa_flags & SA_RESETHAND) != 0) return;
  bool siginfo = (below->sa_flags & SA_SIGINFO) != 0;
  uintptr_t fn = siginfo ? reinterpret_cast<uintptr_t>(below->sa_sigaction)
                         : reinterpret_cast<uintptr_t>(below->sa_handler);
  if (fn == reinterpret_cast<uintptr_t>(SIG_DFL) || fn == reinterpret_cast<uintptr_t>(SIG_IGN)) return;
  chain.siginfo.store(siginfo);
  chain.fn.store(fn);
}

// Puts our handler on top (again), keeping whatever it replaces as the one
// to chain to and to restore. Called with g_mutex held.
int Install(int signo) {
  struct sigaction action, old;
  memset(&action, 0, sizeof action);
  action.sa_sigaction = OnSignal;
  action.sa_flags = SA_SIGINFO | SA_RESTART;
  sigfillset(&action.sa_mask);
  if (sigaction(signo, &action, &old) != 0) return errno;
  if (!IsOurs(old)) {
    if (g_watchers[signo] == 0) g_original[signo] = old;
    g_below[signo] = old;
    SetChain(signo, &old);
  }
  return 0;
}

uintptr_t HandlerOf(const struct sigaction& action) {
  return (action.sa_flags & SA_SIGINFO) != 0 ? reinterpret_cast<uintptr_t>(action.sa_sigaction)
                                             : reinterpret_cast<uintptr_t>(action.sa_handler);
}

// The last watch is going. Ours still on top: back to what is below it
// (libuv's while Node listens, else what was there first). Reset to SIG_DFL
// under us: libuv did that as Node's last watch of the signal closed, so the
// disposition from before the first watch comes back (SIG_IGN for SIGPIPE,
// Node's own SIGINT/SIGTERM handler), unless that was libuv's handler, which
// no longer serves anyone. Any other handler over ours is someone's: it stays.
void Restore(int signo) {
  struct sigaction current;
  if (sigaction(signo, nullptr, &current) != 0) return;
  if (IsOurs(current)) {
    sigaction(signo, &g_below[signo], nullptr);
  } else if (HandlerOf(current) == reinterpret_cast<uintptr_t>(SIG_DFL) &&
             HandlerOf(g_original[signo]) != reinterpret_cast<uintptr_t>(SIG_DFL) &&
             HandlerOf(g_original[signo]) != HandlerOf(g_below[signo])) {
    sigaction(signo, &g_original[signo], nullptr);
  }
}

// Called with g_mutex held, after the slot is cleared: a handler running on
// another thread may have loaded the fd just before, so the fd must not be
// closed (and its number reused) until it is done.
void WaitForHandlers() {
  while (g_in_handler.load() != 0) {
  }
}

}  // namespace

// Watching a signal a selector already watches checks that our handler is
// still the one installed, and reinstalls it over whatever replaced it.
int WatchSignal(int signo, int wake_fd) {
  // SIGKILL/SIGSTOP cannot be caught; a handler that returns from a real
  // SIGSEGV/SIGBUS/SIGFPE/SIGILL re-runs the faulting instruction forever.
  if (signo <= 0 || signo >= kMaxSignal || signo == SIGKILL || signo == SIGSTOP ||
      signo == SIGSEGV || signo == SIGBUS || signo == SIGFPE || signo == SIGILL)
    return EINVAL;
  std::lock_guard<std::mutex> lock(g_mutex);
  Slot* free_slot = nullptr;
  for (Slot& slot : g_slots) {
    if (slot.signo.load() == signo && slot.fd.load() == wake_fd) return Install(signo);
    if (free_slot == nullptr && slot.signo.load() == 0) free_slot = &slot;
  }
  if (free_slot == nullptr) return ENOSPC;
  int err = Install(signo);
  if (err != 0) return err;
  g_watchers[signo]++;
  free_slot->fd.store(wake_fd);
  free_slot->signo.store(signo);
  return 0;
}

void UnwatchSignal(int signo, int wake_fd) {
  if (signo <= 0 || signo >= kMaxSignal) return;
  std::lock_guard<std::mutex> lock(g_mutex);
  for (Slot& slot : g_slots) {
    if (slot.signo.load() != signo || slot.fd.load() != wake_fd) continue;
    slot.signo.store(0);
    slot.fd.store(-1);
    WaitForHandlers();
    if (--g_watchers[signo] == 0) {
      Restore(signo);
      SetChain(signo, nullptr);
    } else {
      // Another selector (a loop on another thread) still watches: if libuv
      // has just reset the signal (Node's last watch of it closed), ours
      // goes back on top.
      Install(signo);
    }
  }
}

void UnwatchAllSignals(int wake_fd) {
  for (int signo = 1; signo < kMaxSignal; signo++) UnwatchSignal(signo, wake_fd);
}

namespace {

// A pipe the handler writes each delivered signal's number into, one byte
// per delivery, so read() returns them in the order they came. Owned by its
// Environment: a worker's pipes stop being watched, then close, as it ends.
class NativeSignalPipe : public Napi::ObjectWrap<NativeSignalPipe>, public EnvResource {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "NativeSignalPipe",
                       {
                           InstanceMethod<&NativeSignalPipe::Fileno>("fileno"),
                           InstanceMethod<&NativeSignalPipe::Watch>("watchSignal"),
                           InstanceMethod<&NativeSignalPipe::Unwatch>("unwatchSignal"),
                           InstanceMethod<&NativeSignalPipe::Read>("read"),
                           InstanceMethod<&NativeSignalPipe::Close>("close"),
                       });
  }

  explicit NativeSignalPipe(const Napi::CallbackInfo& info)
      : Napi::ObjectWrap<NativeSignalPipe>(info), instance_(Instance::Of(info.Env())) {
    instance_->Add(this);
    int err = OpenPipe(fds_);
    if (err != 0) {
      fds_[0] = fds_[1] = -1;
      Napi::Error e = Napi::Error::New(info.Env(), std::string("pipe: ") + strerror(err));
      e.Set("errno", Napi::Number::New(info.Env(), err));
      e.ThrowAsJavaScriptException();
    }
  }

  ~NativeSignalPipe() override {
    Release();
    instance_->Remove(this);
  }

  void ReleaseAtTeardown() override { Release(); }

 private:
  Napi::Value Fileno(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), fds_[0]); }

  // watchSignal(signo) -> 0 | -errno
  Napi::Value Watch(const Napi::CallbackInfo& info) {
    int signo;
    if (!ArgInt(info, 0, &signo)) return {};
    if (fds_[1] < 0) return Errno(info.Env(), EBADF);
    return Napi::Number::New(info.Env(), -WatchSignal(signo, fds_[1]));
  }

  Napi::Value Unwatch(const Napi::CallbackInfo& info) {
    int signo;
    if (!ArgInt(info, 0, &signo)) return {};
    if (fds_[1] >= 0) UnwatchSignal(signo, fds_[1]);
    return info.Env().Undefined();
  }

  // read() -> the signal numbers waiting in the pipe, oldest first | -errno
  Napi::Value Read(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (fds_[0] < 0) return Errno(env, EBADF);
    Napi::Array out = Napi::Array::New(env);
    uint32_t k = 0;
    uint8_t buf[256];
    for (;;) {
      ssize_t n = read(fds_[0], buf, sizeof buf);
      if (n > 0) {
        for (ssize_t i = 0; i < n; i++) out.Set(k++, Napi::Number::New(env, buf[i]));
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) return Errno(env, errno);
      return out;
    }
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    Release();
    return info.Env().Undefined();
  }

  // Every watch goes before the write end closes: the handler must never
  // write to a closed (and perhaps reused) fd number.
  void Release() {
    if (fds_[1] >= 0) UnwatchAllSignals(fds_[1]);
    for (int& fd : fds_) {
      if (fd >= 0) close(fd);
      fd = -1;
    }
  }

  int fds_[2] = {-1, -1};
  Instance* instance_;
};

}  // namespace

void InitSignals(Napi::Env env, Napi::Object exports) {
  exports.Set("NativeSignalPipe", NativeSignalPipe::Define(env));
}

}  // namespace ns
