// File-to-socket calls for sockSendfile: sendfile(2) where the OS has one,
// and pread(2) for the read-and-send fallback. Split from socket.cc because
// sendfile's signature and partial-send rules differ on every OS.
#include <errno.h>
#include <sys/types.h>
#include <unistd.h>
#if defined(__linux__)
#include <sys/sendfile.h>
#elif defined(__APPLE__) || defined(__FreeBSD__) || defined(__DragonFly__)
#include <sys/socket.h>
#include <sys/uio.h>
#endif

#include <algorithm>
#include <cmath>
#include <string>

#include "addon.h"
#include "sendfile.h"

namespace ns {
namespace {

// A file offset or byte count from JS: a whole number in [0, 2^53).
bool ArgFileSize(const Napi::CallbackInfo& info, size_t i, const char* name, off_t* out) {
  double v;
  if (!ArgDouble(info, i, &v)) return false;
  if (!(v >= 0 && v <= 9007199254740991.0) || v != std::floor(v)) {
    Napi::RangeError::New(info.Env(), std::string(name) + " must be a whole number of bytes")
        .ThrowAsJavaScriptException();
    return false;
  }
  *out = static_cast<off_t>(v);
  return true;
}

// sendfile(sockFd, fileFd, offset, count) -> n | -errno (-ENOSYS where there
// is none). Always given an explicit offset, so the file's own offset stays
// where it was on every OS. No MSG_NOSIGNAL exists for it: a closed peer
// gives EPIPE plus SIGPIPE, which Node ignores process-wide.
Napi::Value SendFile(const Napi::CallbackInfo& info) {
  int sock, file;
  off_t offset, count;
  if (!ArgInt(info, 0, &sock) || !ArgInt(info, 1, &file) || !ArgFileSize(info, 2, "offset", &offset) ||
      !ArgFileSize(info, 3, "count", &count))
    return {};
  // Linux sends at most 0x7ffff000 bytes a call anyway.
  const size_t want = static_cast<size_t>(std::min<off_t>(count, 0x7ffff000));
  if (want == 0) return Napi::Number::New(info.Env(), 0);  // macOS reads 0 as "to the end"
#if defined(__linux__)
  off_t at = offset;
  ssize_t n;
  do {
    n = sendfile(sock, file, &at, want);
  } while (n < 0 && errno == EINTR);
  return Napi::Number::New(info.Env(), n < 0 ? -errno : static_cast<double>(n));
#elif defined(__APPLE__) || defined(__FreeBSD__) || defined(__DragonFly__)
  // The BSDs report a partial send as -1 with EAGAIN (or EINTR) and the
  // count sent so far: that is a success.
  off_t sent;
  int r;
  do {
#if defined(__APPLE__)
    sent = static_cast<off_t>(want);
    r = sendfile(file, sock, offset, &sent, nullptr, 0);
#else
    sent = 0;
    r = sendfile(file, sock, offset, want, nullptr, &sent, 0);
#endif
  } while (r < 0 && errno == EINTR && sent == 0);
  if (r < 0 && !(sent > 0 && (errno == EAGAIN || errno == EINTR))) return Errno(info.Env(), errno);
  return Napi::Number::New(info.Env(), static_cast<double>(sent));
#else
  (void)sock;
  (void)file;
  (void)offset;
  return Errno(info.Env(), ENOSYS);
#endif
}

// pread(fd, bytes, offset, length, position) -> n | -errno: sockSendfile's
// read-and-send path, which leaves the file's own offset alone as sendfile does.
Napi::Value Pread(const Napi::CallbackInfo& info) {
  int fd;
  uint8_t* data;
  size_t length;
  off_t position;
  if (!ArgInt(info, 0, &fd) || !ArgSlice(info, 1, &data, &length) || !ArgFileSize(info, 4, "position", &position))
    return {};
  ssize_t n;
  do {
    n = pread(fd, data, length, position);
  } while (n < 0 && errno == EINTR);
  return Napi::Number::New(info.Env(), n < 0 ? -errno : static_cast<double>(n));
}

}  // namespace

void InitSendFile(Napi::Env env, Napi::Object socket) {
  socket.Set("sendfile", Napi::Function::New<SendFile>(env, "sendfile"));
  socket.Set("pread", Napi::Function::New<Pread>(env, "pread"));
}

}  // namespace ns
