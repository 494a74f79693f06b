// Module init and the shared argument checks. The addon is context-aware:
// nothing here is per-process, so each worker_threads Environment loads its
// own copy of the exports.
#include <unistd.h>
#include <v8.h>

#include <algorithm>
#include <cmath>

#include "addon.h"

namespace ns {

bool ArgInt(const Napi::CallbackInfo& info, size_t i, int* out) {
  napi_value v = info[i];
  double d;
  if (napi_get_value_double(info.Env(), v, &d) != napi_ok || !std::isfinite(d) ||
      d != std::trunc(d) || d < -2147483648.0 || d > 2147483647.0) {
    Napi::TypeError::New(info.Env(), "argument " + std::to_string(i) + " must be a 32-bit integer")
        .ThrowAsJavaScriptException();
    return false;
  }
  *out = static_cast<int>(d);
  return true;
}

bool ArgDouble(const Napi::CallbackInfo& info, size_t i, double* out) {
  if (napi_get_value_double(info.Env(), info[i], out) != napi_ok) {
    Napi::TypeError::New(info.Env(), "argument " + std::to_string(i) + " must be a number")
        .ThrowAsJavaScriptException();
    return false;
  }
  return true;
}

bool ArgBytes(const Napi::CallbackInfo& info, size_t i, uint8_t** data, size_t* length) {
  Napi::Env env = info.Env();
  napi_value v = info[i];
  napi_typedarray_type type;
  void* base = nullptr;
  // napi_get_typedarray_info refuses anything but a TypedArray itself (one
  // Node-API call per buffer on the send/recv path, not two).
  if (napi_get_typedarray_info(env, v, &type, length, &base, nullptr, nullptr) != napi_ok ||
      (type != napi_uint8_array && type != napi_int8_array && type != napi_uint8_clamped_array)) {
    Napi::TypeError::New(env, "argument " + std::to_string(i) + " must be a Uint8Array")
        .ThrowAsJavaScriptException();
    return false;
  }
  // A detached buffer reports a null base and zero length.
  *data = static_cast<uint8_t*>(base);
  return true;
}

bool ArgSlice(const Napi::CallbackInfo& info, size_t i, uint8_t** data, size_t* length) {
  Napi::Env env = info.Env();
  uint8_t* base;
  size_t count;
  if (!ArgBytes(info, i, &base, &count)) return false;
  double offset, len;
  if (napi_get_value_double(env, info[i + 1], &offset) != napi_ok ||
      napi_get_value_double(env, info[i + 2], &len) != napi_ok || !(offset >= 0) || !(len >= 0) ||
      offset != std::trunc(offset) || len != std::trunc(len) ||
      offset + len > static_cast<double>(count)) {
    Napi::RangeError::New(env, "byte range is outside the buffer").ThrowAsJavaScriptException();
    return false;
  }
  // A detached buffer reports a null base and zero length; a zero-length
  // range over it is harmless, anything else was rejected above.
  *data = base + static_cast<size_t>(offset);
  *length = static_cast<size_t>(len);
  return true;
}

Instance* Instance::Of(napi_env env) {
  void* data = nullptr;
  napi_get_instance_data(env, &data);
  return static_cast<Instance*>(data);
}

void Instance::Init(napi_env env) {
  auto* self = new Instance();
  napi_set_instance_data(
      env, self, [](napi_env, void* data, void*) { delete static_cast<Instance*>(data); }, nullptr);
  napi_add_async_cleanup_hook(env, OnTeardown, self, nullptr);
}

void Instance::Own(int fd) {
  if (fd < 0) return;
  if (static_cast<size_t>(fd) >= owned_.size()) owned_.resize(fd + 1, 0);
  owned_[fd] = 1;
}

void Instance::Disown(int fd) {
  if (fd >= 0 && static_cast<size_t>(fd) < owned_.size()) owned_[fd] = 0;
}

void Instance::Remove(EnvResource* r) {
  auto it = std::find(resources_.begin(), resources_.end(), r);
  if (it != resources_.end()) resources_.erase(it);
}

void Instance::HandleClosed() {
  if (--closing_ == 0 && tearing_down_) FinishTeardown();
}

bool Instance::Stopping(napi_env env) {
  // Node-API refuses every call that may run JS once the Environment is
  // stopping (worker.terminate(), process.exit()); this is the cheapest.
  napi_value undefined;
  bool same;
  return napi_get_undefined(env, &undefined) != napi_ok ||
         napi_strict_equals(env, undefined, undefined, &same) != napi_ok;
}

void Instance::OnTeardown(napi_async_cleanup_hook_handle handle, void* arg) {
  auto* self = static_cast<Instance*>(arg);
  self->hook_ = handle;
  self->tearing_down_ = true;
  // Each releases itself (and may start a uv_close); the list is copied as
  // a resource could remove itself.
  std::vector<EnvResource*> resources(self->resources_);
  for (EnvResource* r : resources) r->ReleaseAtTeardown();
  for (size_t fd = 0; fd < self->owned_.size(); fd++) {
    if (self->owned_[fd]) close(static_cast<int>(fd));
  }
  self->owned_.clear();
  if (self->closing_ == 0) self->FinishTeardown();
}

void Instance::FinishTeardown() {
  if (hook_ == nullptr) return;
  napi_async_cleanup_hook_handle hook = hook_;
  hook_ = nullptr;
  napi_remove_async_cleanup_hook(hook);
}

}  // namespace ns

namespace {

// drainMicrotasks(): runs V8's pending promise reactions now. A loop that
// blocks the thread in select() never returns to Node, so without this no
// Promise could settle while it runs; with it, promises settled by
// JavaScript (not those waiting on Node's own I/O) wake their tasks. The
// one V8 call in the addon: Node-API has no equivalent.
Napi::Value DrainMicrotasks(const Napi::CallbackInfo& info) {
  v8::Isolate::GetCurrent()->PerformMicrotaskCheckpoint();
  return info.Env().Undefined();
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  ns::Instance::Init(env);
  ns::InitErrors(env, exports);
  ns::InitSelector(env, exports);
  ns::InitSocket(env, exports);
  ns::InitUring(env, exports);
  ns::InitWaker(env, exports);
  ns::InitSignals(env, exports);
  ns::InitKqueueTesting(env, exports);
  exports.Set("drainMicrotasks", Napi::Function::New<DrainMicrotasks>(env, "drainMicrotasks"));
  return exports;
}

}  // namespace

NODE_API_MODULE(native_selectors, Init)
