// KqueueLogicForTests: kqueue_logic.h driven from JavaScript, for the
// scripted-kernel test (test/kqueue-logic.test.ts). Not part of the
// package's API: src/ never loads it. Built on every platform, since the
// logic needs no <sys/event.h>.
//
//   const k = new addon.KqueueLogicForTests((fd, filter, flags) => errno, read?, write?)
//   k.add(fd, events, mode = 0) / k.modify(fd, old, events, oldMode = 0, mode = 0)
//   k.remove(fd, events) -> 0 | -errno
//   k.eventSlots(capacity) -> how many events Wait asks kevent() for
//   k.disables(max) -> [[fd, filter], ...]: the EV_DISABLEs Wait sends first
//   k.collect([[ident, filter, flags], ...], capacity) -> [[fd, mask], ...]
//   KqueueLogicForTests.timeout(ns) -> [sec, nsec] | null (no timeout)
#include <cerrno>
#include <vector>

#include "addon.h"
#include "kqueue_logic.h"

namespace ns {
namespace {

class ScriptedKqueue : public Napi::ObjectWrap<ScriptedKqueue>, private kq::Kernel {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "KqueueLogicForTests",
                       {
                           InstanceMethod<&ScriptedKqueue::Add>("add"),
                           InstanceMethod<&ScriptedKqueue::Modify>("modify"),
                           InstanceMethod<&ScriptedKqueue::Remove>("remove"),
                           InstanceMethod<&ScriptedKqueue::EventSlots>("eventSlots"),
                           InstanceMethod<&ScriptedKqueue::Disables>("disables"),
                           InstanceMethod<&ScriptedKqueue::Collect>("collect"),
                           StaticMethod<&ScriptedKqueue::Timeout>("timeout"),
                       });
  }

  explicit ScriptedKqueue(const Napi::CallbackInfo& info)
      : Napi::ObjectWrap<ScriptedKqueue>(info),
        state_(this, info[1].IsNumber() ? info[1].As<Napi::Number>().Int32Value() : kq::kFilterRead,
               info[2].IsNumber() ? info[2].As<Napi::Number>().Int32Value() : kq::kFilterWrite) {
    if (!info[0].IsFunction()) {
      Napi::TypeError::New(info.Env(), "kernel must be a function").ThrowAsJavaScriptException();
      return;
    }
    kernel_ = Napi::Persistent(info[0].As<Napi::Function>());
  }

 private:
  // Asks the script; a throw or a non-number stops the call with EIO and
  // lets the exception through.
  int Change(int fd, int32_t filter, uint16_t flags) override {
    Napi::Env env = kernel_.Env();
    if (env.IsExceptionPending()) return EIO;
    Napi::Value r = kernel_.Call({Napi::Number::New(env, fd), Napi::Number::New(env, filter),
                                  Napi::Number::New(env, flags)});
    if (r.IsEmpty() || !r.IsNumber()) {
      if (!env.IsExceptionPending()) {
        Napi::TypeError::New(env, "the kernel script must return an errno number")
            .ThrowAsJavaScriptException();
      }
      return EIO;
    }
    return r.As<Napi::Number>().Int32Value();
  }

  Napi::Value Result(Napi::Env env, int err) {
    if (env.IsExceptionPending()) return {};
    return Napi::Number::New(env, -err);
  }

  // A mode argument left out is level.
  static bool ArgMode(const Napi::CallbackInfo& info, size_t i, int* mode) {
    if (info[i].IsUndefined()) {
      *mode = 0;
      return true;
    }
    return ArgInt(info, i, mode);
  }

  Napi::Value Add(const Napi::CallbackInfo& info) {
    int fd, events, mode;
    if (!ArgInt(info, 0, &fd) || !ArgInt(info, 1, &events) || !ArgMode(info, 2, &mode)) return {};
    return Result(info.Env(),
                  state_.Add(fd, static_cast<uint32_t>(events), static_cast<uint32_t>(mode)));
  }

  Napi::Value Modify(const Napi::CallbackInfo& info) {
    int fd, old_events, events, old_mode, mode;
    if (!ArgInt(info, 0, &fd) || !ArgInt(info, 1, &old_events) || !ArgInt(info, 2, &events) ||
        !ArgMode(info, 3, &old_mode) || !ArgMode(info, 4, &mode)) {
      return {};
    }
    return Result(info.Env(), state_.Modify(fd, static_cast<uint32_t>(old_events),
                                            static_cast<uint32_t>(old_mode),
                                            static_cast<uint32_t>(events),
                                            static_cast<uint32_t>(mode)));
  }

  Napi::Value Disables(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    int max;
    if (!ArgInt(info, 0, &max)) return {};
    Napi::Array result = Napi::Array::New(env);
    state_.TakeDisables(max, [&](int fd, int32_t filter) {
      Napi::Array pair = Napi::Array::New(env, 2);
      pair.Set(0u, fd);
      pair.Set(1u, filter);
      result.Set(result.Length(), pair);
    });
    return result;
  }

  Napi::Value Remove(const Napi::CallbackInfo& info) {
    int fd, events;
    if (!ArgInt(info, 0, &fd) || !ArgInt(info, 1, &events)) return {};
    return Result(info.Env(), state_.Remove(fd, static_cast<uint32_t>(events)));
  }

  Napi::Value EventSlots(const Napi::CallbackInfo& info) {
    int capacity;
    if (!ArgInt(info, 0, &capacity)) return {};
    return Napi::Number::New(info.Env(), state_.EventSlots(capacity));
  }

  Napi::Value Collect(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    int capacity;
    if (!info[0].IsArray() || !ArgInt(info, 1, &capacity) || capacity < 1) {
      Napi::TypeError::New(env, "collect(events[], capacity >= 1)").ThrowAsJavaScriptException();
      return {};
    }
    Napi::Array list = info[0].As<Napi::Array>();
    std::vector<kq::Event> events(list.Length());
    for (uint32_t i = 0; i < list.Length(); i++) {
      Napi::Value item = list.Get(i);
      if (!item.IsArray() || item.As<Napi::Array>().Length() != 3) {
        Napi::TypeError::New(env, "each event is [ident, filter, flags]").ThrowAsJavaScriptException();
        return {};
      }
      Napi::Array e = item.As<Napi::Array>();
      events[i] = {static_cast<uintptr_t>(e.Get(0u).As<Napi::Number>().Int64Value()),
                   e.Get(1u).As<Napi::Number>().Int32Value(),
                   static_cast<uint32_t>(e.Get(2u).As<Napi::Number>().Int64Value())};
    }
    std::vector<ReadyEvent> out(capacity);
    int n = state_.Collect(events.data(), static_cast<int>(events.size()), out.data(), capacity);
    if (env.IsExceptionPending()) return {};
    Napi::Array result = Napi::Array::New(env, n);
    for (int i = 0; i < n; i++) {
      Napi::Array pair = Napi::Array::New(env, 2);
      pair.Set(0u, out[i].fd);
      pair.Set(1u, out[i].mask);
      result.Set(static_cast<uint32_t>(i), pair);
    }
    return result;
  }

  static Napi::Value Timeout(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!info[0].IsNumber()) {
      Napi::TypeError::New(env, "timeout(ns)").ThrowAsJavaScriptException();
      return {};
    }
    kq::Timeout t = kq::ToTimeout(info[0].As<Napi::Number>().Int64Value());
    if (t.infinite) return env.Null();
    Napi::Array result = Napi::Array::New(env, 2);
    result.Set(0u, Napi::Number::New(env, static_cast<double>(t.sec)));
    result.Set(1u, Napi::Number::New(env, static_cast<double>(t.nsec)));
    return result;
  }

  Napi::FunctionReference kernel_;
  kq::State state_;
};

}  // namespace

void InitKqueueTesting(Napi::Env env, Napi::Object exports) {
  exports.Set("KqueueLogicForTests", ScriptedKqueue::Define(env));
}

}  // namespace ns
