// The libuv watch behind runAsync's startWatch/stopWatch, shared by the
// selector (its backend fd) and the ring (its eventfd): calls a JS callback
// on this thread whenever an fd is readable, from Node's own loop.
#pragma once

#include <napi.h>
#include <uv.h>

#include "addon.h"

namespace ns {

class FdWatch {
 public:
  FdWatch() = default;
  FdWatch(const FdWatch&) = delete;
  FdWatch& operator=(const FdWatch&) = delete;
  ~FdWatch() { Stop(); }

  // Watches `fd` (readable) and calls `callback` on each wake-up; a second
  // Start keeps the handle and swaps the callback. With `drain_eventfd` the
  // fd is an eventfd whose counter is read before each call. Returns 0 or a
  // -errno (libuv's are already negative).
  int Start(napi_env env, Instance* instance, int fd, Napi::Function callback,
            bool drain_eventfd = false);
  // Stops watching and drops the callback; safe to call twice and from the
  // owner's finalizer or teardown.
  void Stop();

 private:
  // Heap-held: uv_close finishes on a later loop turn, maybe after the owner
  // is gone, so the close callback needs what it frees and whom to tell.
  struct Handle {
    uv_poll_t poll;
    Instance* instance;
  };

  static void OnReadable(uv_poll_t* poll, int status, int events);

  Handle* handle_ = nullptr;
  Napi::FunctionReference callback_;
  int fd_ = -1;
  bool drain_eventfd_ = false;
};

}  // namespace ns
