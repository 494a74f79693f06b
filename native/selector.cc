// The native half of Selector: owns a Backend plus the wake-up pipe that
// every selector carries (for signals and for waking a blocked select), and
// runs the one wait loop that handles EINTR and deadlines for all backends.
// The fd -> key table and every policy decision live in src/selector.ts.
#include <errno.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "addon.h"
#include "pipe.h"
#include "backend.h"
#include "fd_watch.h"

namespace ns {
namespace {

int64_t MonotonicNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

// A blocking wait sleeps at most this long at a time, then checks whether
// Node is stopping the thread: worker.terminate() stops the Environment and
// interrupts JS, but nothing it does wakes a thread parked in epoll_wait,
// kevent or poll. An idle blocked loop pays one wake-up per slice; a select
// that returns sooner pays nothing.
constexpr int64_t kStopCheckNs = 250 * 1000000LL;

class NativeSelector : public Napi::ObjectWrap<NativeSelector>, public EnvResource {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "NativeSelector",
                       {
                           InstanceMethod<&NativeSelector::Fileno>("fileno"),
                           InstanceMethod<&NativeSelector::Add>("add"),
                           InstanceMethod<&NativeSelector::Modify>("modify"),
                           InstanceMethod<&NativeSelector::Remove>("remove"),
                           InstanceMethod<&NativeSelector::Wait>("wait"),
                           InstanceMethod<&NativeSelector::Wakeup>("wakeup"),
                           InstanceMethod<&NativeSelector::WatchSignal>("watchSignal"),
                           InstanceMethod<&NativeSelector::UnwatchSignal>("unwatchSignal"),
                           InstanceMethod<&NativeSelector::TakeSignals>("takeSignals"),
                           InstanceMethod<&NativeSelector::StartWatch>("startWatch"),
                           InstanceMethod<&NativeSelector::StopWatch>("stopWatch"),
                           InstanceMethod<&NativeSelector::Close>("close"),
                       });
  }

  // new NativeSelector(backend: 'epoll' | 'kqueue' | 'poll')
  explicit NativeSelector(const Napi::CallbackInfo& info)
      : Napi::ObjectWrap<NativeSelector>(info), instance_(Instance::Of(info.Env())) {
    Napi::Env env = info.Env();
    instance_->Add(this);
    if (!info[0].IsString()) {
      Napi::TypeError::New(env, "backend must be a string").ThrowAsJavaScriptException();
      return;
    }
    std::string name = info[0].As<Napi::String>().Utf8Value();
    int err = 0;
    if (name == "epoll") {
      backend_ = MakeEpollBackend(&err);
    } else if (name == "kqueue") {
      backend_ = MakeKqueueBackend(&err);
    } else if (name == "poll") {
      backend_ = MakePollBackend(&err);
    } else {
      Napi::RangeError::New(env, "unknown backend: " + name).ThrowAsJavaScriptException();
      return;
    }
    if (!backend_) {
      ThrowSetupError(env, err, name.c_str());
      return;
    }
    err = OpenPipe(wake_);
    if (err == 0) err = backend_->Add(wake_[0], kEventRead, kModeLevel);
    if (err != 0) {
      ThrowSetupError(env, err, "wake-up pipe");
      Release();
    }
  }

  ~NativeSelector() override {
    Release();
    instance_->Remove(this);
  }

  void ReleaseAtTeardown() override { Release(); }

 private:
  static void ThrowSetupError(Napi::Env env, int err, const char* what) {
    Napi::Error e = Napi::Error::New(env, std::string(what) + ": " + strerror(err));
    e.Set("errno", Napi::Number::New(env, err));
    e.ThrowAsJavaScriptException();
  }

  // An interest with neither event would register an fd that is reported
  // only on error or hang-up, as nothing: a blocking wait would then spin.
  // (Other bits are ignored.)
  static bool CheckInterest(const Napi::CallbackInfo& info, int events, const char* name) {
    if ((events & static_cast<int>(kEventRead | kEventWrite)) != 0) return true;
    Napi::RangeError::New(info.Env(), std::string(name) +
                                          " must be EVENT_READ (1), EVENT_WRITE (2) or both, got " +
                                          std::to_string(events))
        .ThrowAsJavaScriptException();
    return false;
  }

  // True while the selector is open; once closed, false with a JS Error
  // pending (the caller returns at once).
  bool OpenOrThrow(Napi::Env env) {
    if (backend_) return true;
    Napi::Error::New(env, "selector is closed").ThrowAsJavaScriptException();
    return false;
  }

  Napi::Value Fileno(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), backend_ ? backend_->Fd() : -1);
  }

  // A trigger mode argument (backend.h's kMode bits); absent is level.
  static bool ArgMode(const Napi::CallbackInfo& info, size_t i, uint32_t* mode) {
    int m = 0;
    if (!info[i].IsUndefined() && !ArgInt(info, i, &m)) return false;
    *mode = static_cast<uint32_t>(m) & kModeAll;
    return true;
  }

  // add(fd, events, mode?) -> 0 | -errno
  Napi::Value Add(const Napi::CallbackInfo& info) {
    int fd, events;
    uint32_t mode;
    if (!OpenOrThrow(info.Env()) || !ArgInt(info, 0, &fd) || !ArgInt(info, 1, &events) ||
        !ArgMode(info, 2, &mode))
      return {};
    if (!CheckInterest(info, events, "events")) return {};
    if (fd < 0 || fd == wake_[0]) return Errno(info.Env(), fd < 0 ? EBADF : EEXIST);
    int err = backend_->Add(fd, static_cast<uint32_t>(events) & (kEventRead | kEventWrite), mode);
    return Napi::Number::New(info.Env(), -err);
  }

  // modify(fd, oldEvents, events, oldMode?, mode?) -> 0 | -errno
  Napi::Value Modify(const Napi::CallbackInfo& info) {
    int fd, old_events, events;
    uint32_t old_mode, mode;
    if (!OpenOrThrow(info.Env()) || !ArgInt(info, 0, &fd) || !ArgInt(info, 1, &old_events) ||
        !ArgInt(info, 2, &events) || !ArgMode(info, 3, &old_mode) || !ArgMode(info, 4, &mode))
      return {};
    if (!CheckInterest(info, events, "events")) return {};
    if (fd < 0 || fd == wake_[0]) return Errno(info.Env(), EBADF);
    uint32_t all = kEventRead | kEventWrite;
    int err = backend_->Modify(fd, static_cast<uint32_t>(old_events) & all, old_mode,
                               static_cast<uint32_t>(events) & all, mode);
    return Napi::Number::New(info.Env(), -err);
  }

  // remove(fd, events) -> 0 | -errno. The caller forgets the fd either way:
  // the OS may already have dropped it (closed fd).
  Napi::Value Remove(const Napi::CallbackInfo& info) {
    int fd, events;
    if (!OpenOrThrow(info.Env()) || !ArgInt(info, 0, &fd) || !ArgInt(info, 1, &events)) return {};
    if (fd < 0 || fd == wake_[0]) return Errno(info.Env(), EBADF);
    int err = backend_->Remove(fd, static_cast<uint32_t>(events) & (kEventRead | kEventWrite));
    return Napi::Number::New(info.Env(), -err);
  }

  // wait(timeoutMs, ready: Int32Array) -> count | -errno
  // timeoutMs < 0 blocks, 0 polls. Writes (fd, mask) pairs into `ready`,
  // which the caller owns and reuses, so a select allocates nothing here.
  Napi::Value Wait(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    double timeout_ms;
    if (!OpenOrThrow(env) || !ArgDouble(info, 0, &timeout_ms)) return {};
    if (!info[1].IsTypedArray() ||
        info[1].As<Napi::TypedArray>().TypedArrayType() != napi_int32_array) {
      Napi::TypeError::New(env, "ready must be an Int32Array").ThrowAsJavaScriptException();
      return {};
    }
    Napi::Int32Array ready = info[1].As<Napi::Int32Array>();
    // Capped: the backend sizes its own event buffer to match, and events
    // past the cap are level-triggered, so the next wait reports them.
    constexpr size_t kMaxEvents = 65536;
    int capacity = static_cast<int>(std::min(ready.ElementLength() / 2, kMaxEvents));
    if (capacity < 1) {
      Napi::RangeError::New(env, "ready must hold at least one event").ThrowAsJavaScriptException();
      return {};
    }
    auto* out = reinterpret_cast<ReadyEvent*>(ready.Data());

    int64_t timeout_ns = -1;
    if (timeout_ms == 0 || std::isnan(timeout_ms)) {
      timeout_ns = 0;
    } else if (timeout_ms > 0) {
      double ns = std::ceil(timeout_ms * 1e6);
      timeout_ns = ns > 9.2e18 ? INT64_MAX / 2 : static_cast<int64_t>(ns);
    }
    const int64_t deadline = timeout_ns > 0 ? MonotonicNs() + timeout_ns : 0;

    for (;;) {
      bool sliced = timeout_ns < 0 || timeout_ns > kStopCheckNs;
      int n = backend_->Wait(sliced ? kStopCheckNs : timeout_ns, out, capacity);
      if (n < 0 && n != -EINTR) return Errno(env, -n);
      bool woken = false;
      int count = 0;
      for (int i = 0; i < n; i++) {
        if (out[i].fd == wake_[0]) {
          DrainWakePipe();
          woken = true;
        } else if (out[i].mask != 0) {
          out[count++] = out[i];
        }
      }
      if (count > 0 || woken || timeout_ns == 0) return Napi::Number::New(env, count);
      // Back to JS with nothing: V8 then ends the thread as asked.
      if (sliced && Instance::Stopping(env)) return Napi::Number::New(env, 0);
      if (timeout_ns > 0) {
        // EINTR, or a wake-up from the primitive before the deadline (timer
        // slack): wait again for what is left, never return early empty.
        int64_t left = deadline - MonotonicNs();
        if (left <= 0) return Napi::Number::New(env, 0);
        timeout_ns = left;
      }
    }
  }

  void DrainWakePipe() {
    uint8_t buf[64];
    for (;;) {
      ssize_t n = read(wake_[0], buf, sizeof buf);
      if (n <= 0) {
        if (n < 0 && errno == EINTR) continue;
        return;
      }
      for (ssize_t i = 0; i < n; i++) {
        if (buf[i] != 0 && buf[i] < 64) pending_signals_ |= uint64_t{1} << buf[i];
      }
    }
  }

  // wakeup(): makes a blocked or the next wait return. A full pipe already
  // guarantees that, so EAGAIN is success.
  Napi::Value Wakeup(const Napi::CallbackInfo& info) {
    if (wake_[1] >= 0) {
      uint8_t zero = 0;
      while (write(wake_[1], &zero, 1) < 0 && errno == EINTR) {
      }
    }
    return info.Env().Undefined();
  }

  Napi::Value WatchSignal(const Napi::CallbackInfo& info) {
    int signo;
    if (!OpenOrThrow(info.Env()) || !ArgInt(info, 0, &signo)) return {};
    return Napi::Number::New(info.Env(), -ns::WatchSignal(signo, wake_[1]));
  }

  Napi::Value UnwatchSignal(const Napi::CallbackInfo& info) {
    int signo;
    if (!ArgInt(info, 0, &signo)) return {};
    if (wake_[1] >= 0) ns::UnwatchSignal(signo, wake_[1]);
    return info.Env().Undefined();
  }

  // takeSignals() -> signal numbers delivered since the last call.
  Napi::Value TakeSignals(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (pending_signals_ == 0) return Napi::Array::New(env, 0);
    // A signal may still sit in the pipe if select has not run since.
    if (wake_[0] >= 0) DrainWakePipe();
    Napi::Array out = Napi::Array::New(env);
    uint32_t k = 0;
    for (int s = 1; s < 64; s++) {
      if (pending_signals_ & (uint64_t{1} << s)) out.Set(k++, Napi::Number::New(env, s));
    }
    pending_signals_ = 0;
    return out;
  }

  // startWatch(callback): libuv calls `callback` on this thread whenever the
  // backend fd is readable, i.e. an event is pending, so the selector can be
  // driven from Node's own loop without blocking it.
  Napi::Value StartWatch(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!OpenOrThrow(env)) return {};
    if (!info[0].IsFunction()) {
      Napi::TypeError::New(env, "callback must be a function").ThrowAsJavaScriptException();
      return {};
    }
    int fd = backend_->Fd();
    if (fd < 0) return Errno(env, ENOTSUP);
    return Napi::Number::New(env, watch_.Start(env, instance_, fd, info[0].As<Napi::Function>()));
  }

  Napi::Value StopWatch(const Napi::CallbackInfo& info) {
    watch_.Stop();
    return info.Env().Undefined();
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    Release();
    return info.Env().Undefined();
  }

  // Closes everything exactly once; also the finalizer's safety net for a
  // selector that was garbage-collected unclosed.
  void Release() {
    watch_.Stop();
    if (wake_[1] >= 0) UnwatchAllSignals(wake_[1]);
    if (backend_) {
      backend_->Close();
      backend_.reset();
    }
    for (int& fd : wake_) {
      if (fd >= 0) close(fd);
      fd = -1;
    }
  }

  std::unique_ptr<Backend> backend_;
  int wake_[2] = {-1, -1};
  uint64_t pending_signals_ = 0;
  Instance* instance_;
  FdWatch watch_;
};

}  // namespace

void InitSelector(Napi::Env env, Napi::Object exports) {
  exports.Set("NativeSelector", NativeSelector::Define(env));
  Napi::Array backends = Napi::Array::New(env);
  uint32_t k = 0;
  if (HasEpollBackend()) backends.Set(k++, "epoll");
  if (HasKqueueBackend()) backends.Set(k++, "kqueue");
  backends.Set(k++, "poll");
  exports.Set("backends", backends);
}

}  // namespace ns
