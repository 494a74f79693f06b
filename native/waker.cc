// The native half of Waker (src/waker.ts): a wake-up fd that any selector
// can watch and any thread can write to, as mio's Waker. On Linux it is one
// eventfd, which is both ends; elsewhere (or when asked, so the fallback is
// tested on Linux too) a pipe. The fds live in JS (and in the Environment's
// owned set), so a worker given the write end's number needs only wake().
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#if defined(__linux__)
#include <sys/eventfd.h>
#endif

#include "addon.h"
#include "pipe.h"

namespace ns {
namespace {

// open(forcePipe) -> [readFd, writeFd] | -errno (one fd twice for an eventfd)
Napi::Value Open(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  bool force_pipe = info[0].ToBoolean();
  int fds[2] = {-1, -1};
#if defined(__linux__)
  if (!force_pipe) {
    fds[0] = fds[1] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (fds[0] < 0) return Errno(env, errno);
  }
#endif
  if (fds[0] < 0) {
    int err = OpenPipe(fds);
    if (err != 0) return Errno(env, err);
  }
  // Owned like a Socket's fd: closed at the Environment's teardown (a
  // worker ending) unless close() came first (socket.close disowns).
  Instance::Of(env)->Own(fds[0]);
  Instance::Of(env)->Own(fds[1]);
  Napi::Array out = Napi::Array::New(env, 2);
  out.Set(0u, Napi::Number::New(env, fds[0]));
  out.Set(1u, Napi::Number::New(env, fds[1]));
  return out;
}

// wake(writeFd) -> 0 | -errno. Eight bytes holding 1 suit both kinds: an
// eventfd adds 1 to its counter, a pipe takes them whole or not at all
// (under PIPE_BUF). EAGAIN means a full counter or pipe: a wake-up is
// already pending, which is all a wake needs.
Napi::Value Wake(const Napi::CallbackInfo& info) {
  int fd;
  if (!ArgInt(info, 0, &fd)) return {};
  uint64_t one = 1;
  for (;;) {
    if (write(fd, &one, sizeof one) >= 0) return Napi::Number::New(info.Env(), 0);
    if (errno == EINTR) continue;
    return Errno(info.Env(), errno == EAGAIN || errno == EWOULDBLOCK ? 0 : errno);
  }
}

// drain(readFd) -> 1 (there were wake-ups) | 0 | -errno
Napi::Value Drain(const Napi::CallbackInfo& info) {
  int fd;
  if (!ArgInt(info, 0, &fd)) return {};
  uint8_t buf[512];  // >= 8 for an eventfd, which a single read empties
  bool any = false;
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n > 0) {
      any = true;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) return Errno(info.Env(), errno);
    return Napi::Number::New(info.Env(), any ? 1 : 0);
  }
}

// check(fd) -> 0 | -errno: whether fd is open, for Waker.fromFd.
Napi::Value Check(const Napi::CallbackInfo& info) {
  int fd;
  if (!ArgInt(info, 0, &fd)) return {};
  return Napi::Number::New(info.Env(), fcntl(fd, F_GETFD) < 0 ? -errno : 0);
}

}  // namespace

void InitWaker(Napi::Env env, Napi::Object exports) {
  Napi::Object w = Napi::Object::New(env);
  w.Set("open", Napi::Function::New<Open>(env, "open"));
  w.Set("wake", Napi::Function::New<Wake>(env, "wake"));
  w.Set("drain", Napi::Function::New<Drain>(env, "drain"));
  w.Set("check", Napi::Function::New<Check>(env, "check"));
  exports.Set("waker", w);
}

}  // namespace ns
