#include "fd_watch.h"

#include <errno.h>
#include <stdint.h>
#include <unistd.h>

namespace ns {

int FdWatch::Start(napi_env env, Instance* instance, int fd, Napi::Function callback,
                   bool drain_eventfd) {
  if (handle_ == nullptr) {
    uv_loop_t* loop = nullptr;
    if (napi_get_uv_event_loop(env, &loop) != napi_ok) return -ENOTSUP;
    handle_ = new Handle{{}, instance};
    int err = uv_poll_init(loop, &handle_->poll, fd);
    if (err != 0) {
      delete handle_;
      handle_ = nullptr;
      return err;
    }
    handle_->poll.data = this;
  }
  fd_ = fd;
  drain_eventfd_ = drain_eventfd;
  callback_ = Napi::Persistent(callback);
  return uv_poll_start(&handle_->poll, UV_READABLE, OnReadable);
}

void FdWatch::OnReadable(uv_poll_t* poll, int, int) {
  auto* self = static_cast<FdWatch*>(poll->data);
  if (self == nullptr) return;
  if (self->drain_eventfd_) {
    // Reset the counter first, or libuv (level-triggered) would call again at once.
    uint64_t value;
    while (read(self->fd_, &value, sizeof value) < 0 && errno == EINTR) {
    }
  }
  if (self->callback_.IsEmpty()) return;
  napi_env env = self->callback_.Env();
  Napi::HandleScope scope(env);
  // MakeCallback, not Call: this is a fresh entry from the event loop, so
  // microtasks and nextTicks must run after it, as for any Node callback.
  // The C call, not node-addon-api's: when the callback ends the thread
  // (process.exit() in a worker) its wrapper would abort making an Error.
  napi_value global, result;
  napi_get_global(env, &global);
  napi_status status =
      napi_make_callback(env, nullptr, global, self->callback_.Value(), 0, nullptr, &result);
  napi_value error;
  if (status == napi_pending_exception &&
      napi_get_and_clear_last_exception(env, &error) == napi_ok && !Instance::Stopping(env)) {
    napi_fatal_exception(env, error);  // as Node does for its own callbacks
  }
}

void FdWatch::Stop() {
  if (handle_ != nullptr) {
    uv_poll_stop(&handle_->poll);
    handle_->poll.data = nullptr;
    // The callback is code in this addon: the Instance keeps the
    // Environment's teardown waiting until it has run.
    handle_->instance->HandleClosing();
    uv_close(reinterpret_cast<uv_handle_t*>(&handle_->poll), [](uv_handle_t* h) {
      Handle* handle = reinterpret_cast<Handle*>(h);
      Instance* instance = handle->instance;
      delete handle;
      instance->HandleClosed();
    });
    handle_ = nullptr;
  }
  callback_.Reset();
}

}  // namespace ns
