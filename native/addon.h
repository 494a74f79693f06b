// Shared declarations between the addon's files: argument checks and the
// per-file Init hooks that addon.cc calls. Native functions are internal
// (src/ validates and names arguments for users); these checks are the
// second line that keeps a direct caller from touching bad memory.
#pragma once

#include <napi.h>

#include <cstdint>
#include <vector>

namespace ns {

// Something with fds that must not outlive its Environment (a selector).
class EnvResource {
 public:
  virtual ~EnvResource() = default;
  // Closes every fd and stops any libuv watch, as close() would.
  virtual void ReleaseAtTeardown() = 0;
};

// What this Environment's copy of the addon has open (Node-API instance
// data: one per main thread or worker, no global state). When the
// Environment goes (a worker returns, calls process.exit() or is
// terminated), an async cleanup hook, which Node waits for, closes the
// sockets JS still owns and releases every live selector; Node waits for it
// until the last libuv close callback has run, so none can run after the
// addon is unloaded.
class Instance {
 public:
  static Instance* Of(napi_env env);
  static void Init(napi_env env);

  // Socket fds that a JS Socket owns: closed at teardown unless closed or
  // detached before.
  void Own(int fd);
  void Disown(int fd);

  void Add(EnvResource* r) { resources_.push_back(r); }
  void Remove(EnvResource* r);

  // Counts uv_close calls whose callback has not run yet.
  void HandleClosing() { closing_++; }
  void HandleClosed();

  // True once Node is stopping this Environment (worker.terminate(),
  // process.exit()): a blocked select checks this between slices.
  static bool Stopping(napi_env env);

 private:
  static void OnTeardown(napi_async_cleanup_hook_handle handle, void* arg);
  void FinishTeardown();

  std::vector<uint8_t> owned_;  // indexed by fd
  std::vector<EnvResource*> resources_;
  napi_async_cleanup_hook_handle hook_ = nullptr;
  int closing_ = 0;
  bool tearing_down_ = false;
};

// Each reads argument i, or throws a TypeError and returns false.
bool ArgInt(const Napi::CallbackInfo& info, size_t i, int* out);
bool ArgDouble(const Napi::CallbackInfo& info, size_t i, double* out);
// A Uint8Array (or Buffer) at i with an offset at i + 1 and a length at
// i + 2: the byte range is checked to lie inside the array.
bool ArgSlice(const Napi::CallbackInfo& info, size_t i, uint8_t** data, size_t* length);
// The whole of a Uint8Array (or Buffer) at i. (Not Napi::Buffer: its
// IsBuffer() is true for any ArrayBufferView, and As<> on a DataView leaves
// an exception pending that aborts the process at the next napi_throw.)
bool ArgBytes(const Napi::CallbackInfo& info, size_t i, uint8_t** data, size_t* length);

// Negative errno as a JS number: the "no exception" failure convention of
// every native call that can fail in the ordinary course (EAGAIN above all).
inline Napi::Value Errno(Napi::Env env, int err) { return Napi::Number::New(env, -err); }

void InitErrors(Napi::Env env, Napi::Object exports);
void InitSelector(Napi::Env env, Napi::Object exports);
void InitSocket(Napi::Env env, Napi::Object exports);
void InitUring(Napi::Env env, Napi::Object exports);
void InitWaker(Napi::Env env, Napi::Object exports);
void InitSignals(Napi::Env env, Napi::Object exports);
void InitKqueueTesting(Napi::Env env, Napi::Object exports);  // test-only export

// Process-wide signal watching (signals.cc). The handler writes the signal
// number as one byte to every watching wake-up pipe.
int WatchSignal(int signo, int wake_fd);    // 0 or errno
void UnwatchSignal(int signo, int wake_fd);
void UnwatchAllSignals(int wake_fd);

}  // namespace ns
