// Socket system calls, one thin function each; addresses, the resolver and
// getsockname/getpeername are in address.cc, sendfile and pread in
// sendfile.cc. They take and return plain fds; the Socket class, blocking
// policy and argument checks for users are in src/socket.ts. Failures come
// back as -errno (see addon.h), so the hot calls (recv, send, accept) never
// throw on EAGAIN.
//
// Every fd made here is close-on-exec, and no send can raise SIGPIPE:
// MSG_NOSIGNAL where it exists, SO_NOSIGPIPE on the socket elsewhere.
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmath>

#include "addon.h"
#include "address.h"
#include "sendfile.h"

namespace ns {
namespace {

#if defined(MSG_NOSIGNAL)
constexpr int kSendFlags = MSG_NOSIGNAL;
#else
constexpr int kSendFlags = 0;
#endif

// Marks a new fd close-on-exec (and SIGPIPE-free) where the creating call
// could not do it atomically.
void PrepareFd(int fd) {
#if !defined(SOCK_CLOEXEC)
  fcntl(fd, F_SETFD, FD_CLOEXEC);
#endif
#if defined(SO_NOSIGPIPE)
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &one, sizeof one);
#endif
  (void)fd;
}

int WithCloexec(int type) {
#if defined(SOCK_CLOEXEC)
  return type | SOCK_CLOEXEC;
#else
  return type;
#endif
}

// Runs a system call again while a signal interrupts it (PEP 475): the
// calls retried this way have no timeout of their own to recompute.
template <typename Call>
auto RetryOnEintr(Call call) -> decltype(call()) {
  decltype(call()) r;
  do {
    r = call();
  } while (r < 0 && errno == EINTR);
  return r;
}

Napi::Value Socket(const Napi::CallbackInfo& info) {
  int family, type, proto;
  if (!ArgInt(info, 0, &family) || !ArgInt(info, 1, &type) || !ArgInt(info, 2, &proto)) return {};
  int fd = socket(family, WithCloexec(type), proto);
  if (fd < 0) return Errno(info.Env(), errno);
  PrepareFd(fd);
  Instance::Of(info.Env())->Own(fd);
  return Napi::Number::New(info.Env(), fd);
}

Napi::Value Socketpair(const Napi::CallbackInfo& info) {
  int family, type, proto, fds[2];
  if (!ArgInt(info, 0, &family) || !ArgInt(info, 1, &type) || !ArgInt(info, 2, &proto)) return {};
  if (socketpair(family, WithCloexec(type), proto, fds) != 0) return Errno(info.Env(), errno);
  PrepareFd(fds[0]);
  PrepareFd(fds[1]);
  Instance::Of(info.Env())->Own(fds[0]);
  Instance::Of(info.Env())->Own(fds[1]);
  Napi::Array a = Napi::Array::New(info.Env(), 2);
  a.Set(0u, fds[0]);
  a.Set(1u, fds[1]);
  return a;
}

Napi::Value Close(const Napi::CallbackInfo& info) {
  int fd;
  if (!ArgInt(info, 0, &fd)) return {};
  Instance::Of(info.Env())->Disown(fd);
  // Never retried on EINTR: on Linux the fd is gone either way, and a retry
  // could close a number another thread has just been given.
  int r = close(fd);
  return Napi::Number::New(info.Env(), r == 0 || errno == EINTR ? 0 : -errno);
}

// adopt(fd) -> SO_TYPE | -errno: a fd handed to new Socket(..., fileno),
// checked as Python does (EBADF for a closed fd, ENOTSOCK for a file or
// pipe: one getsockopt tells both) and from then on owned by this thread,
// so it is closed with the thread unless detached.
Napi::Value Adopt(const Napi::CallbackInfo& info) {
  int fd;
  if (!ArgInt(info, 0, &fd)) return {};
  int type = 0;
  socklen_t len = sizeof type;
  if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0) return Errno(info.Env(), errno);
  Instance::Of(info.Env())->Own(fd);
  return Napi::Number::New(info.Env(), type);
}

// disown(fd): detach() hands the fd back to the caller, who closes it.
Napi::Value Disown(const Napi::CallbackInfo& info) {
  int fd;
  if (!ArgInt(info, 0, &fd)) return {};
  Instance::Of(info.Env())->Disown(fd);
  return info.Env().Undefined();
}

// sockInfo(fd) -> [family, type, proto] | -errno: what Python 3.13 reads
// from a fd when socket(fileno=fd) is given no family, type or proto.
Napi::Value SockInfo(const Napi::CallbackInfo& info) {
  int fd;
  if (!ArgInt(info, 0, &fd)) return {};
  int type = 0, proto = 0;
  socklen_t len = sizeof type;
  if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0) return Errno(info.Env(), errno);
  sockaddr_storage ss{};
  socklen_t sslen = sizeof ss;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &sslen) != 0) return Errno(info.Env(), errno);
#if defined(SO_PROTOCOL)
  len = sizeof proto;
  if (getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &proto, &len) != 0) proto = 0;
#endif
  Napi::Array a = Napi::Array::New(info.Env(), 3);
  a.Set(0u, static_cast<int>(ss.ss_family));
  a.Set(1u, type);
  a.Set(2u, proto);
  return a;
}

Napi::Value SetBlocking(const Napi::CallbackInfo& info) {
  int fd;
  if (!ArgInt(info, 0, &fd)) return {};
  bool blocking = info[1].ToBoolean();
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0) return Errno(info.Env(), errno);
  int next = blocking ? flags & ~O_NONBLOCK : flags | O_NONBLOCK;
  if (next != flags && fcntl(fd, F_SETFL, next) < 0) return Errno(info.Env(), errno);
  return Napi::Number::New(info.Env(), 0);
}

Napi::Value GetBlocking(const Napi::CallbackInfo& info) {
  int fd;
  if (!ArgInt(info, 0, &fd)) return {};
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0) return Errno(info.Env(), errno);
  return Napi::Number::New(info.Env(), (flags & O_NONBLOCK) ? 0 : 1);
}

Napi::Value Bind(const Napi::CallbackInfo& info) {
  int fd;
  const sockaddr* sa;
  socklen_t len;
  if (!ArgInt(info, 0, &fd) || !ArgSockaddr(info, 1, &sa, &len)) return {};
  return Napi::Number::New(info.Env(), bind(fd, sa, len) == 0 ? 0 : -errno);
}

// connect: an EINTR'd connect keeps going in the kernel, so (as PEP 475
// does) wait for it to finish instead of calling connect again. On a
// non-blocking socket the EINPROGRESS goes back to the caller.
Napi::Value Connect(const Napi::CallbackInfo& info) {
  int fd;
  const sockaddr* sa;
  socklen_t len;
  if (!ArgInt(info, 0, &fd) || !ArgSockaddr(info, 1, &sa, &len)) return {};
  if (connect(fd, sa, len) == 0) return Napi::Number::New(info.Env(), 0);
  if (errno != EINTR) return Errno(info.Env(), errno);
  pollfd p{fd, POLLOUT, 0};
  if (RetryOnEintr([&] { return poll(&p, 1, -1); }) < 0) return Errno(info.Env(), errno);
  int err = 0;
  socklen_t errlen = sizeof err;
  if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &errlen) != 0) err = errno;
  return Napi::Number::New(info.Env(), -err);
}

Napi::Value Listen(const Napi::CallbackInfo& info) {
  int fd, backlog;
  if (!ArgInt(info, 0, &fd) || !ArgInt(info, 1, &backlog)) return {};
  return Napi::Number::New(info.Env(), listen(fd, backlog) == 0 ? 0 : -errno);
}

// accept(fd) -> [newFd, address] | -errno. The new socket is blocking, as
// Python's accept() gives it.
Napi::Value Accept(const Napi::CallbackInfo& info) {
  int fd;
  if (!ArgInt(info, 0, &fd)) return {};
  sockaddr_storage ss;
  socklen_t len;
  int conn = RetryOnEintr([&] {
    len = sizeof ss;
#if defined(__linux__) || defined(__FreeBSD__) || defined(__NetBSD__) || defined(__OpenBSD__)
    return accept4(fd, reinterpret_cast<sockaddr*>(&ss), &len, SOCK_CLOEXEC);
#else
    return accept(fd, reinterpret_cast<sockaddr*>(&ss), &len);
#endif
  });
  if (conn < 0) return Errno(info.Env(), errno);
#if !defined(__linux__) && !defined(__FreeBSD__) && !defined(__NetBSD__) && !defined(__OpenBSD__)
  fcntl(conn, F_SETFD, FD_CLOEXEC);
  // BSD accept() inherits O_NONBLOCK from the listener; Python's does not.
  fcntl(conn, F_SETFL, fcntl(conn, F_GETFL) & ~O_NONBLOCK);
#endif
  PrepareFd(conn);
  Instance::Of(info.Env())->Own(conn);
  Napi::Array a = Napi::Array::New(info.Env(), 2);
  a.Set(0u, conn);
  a.Set(1u, AddressValue(info.Env(), ss, len));
  return a;
}

// recvInto(fd, bytes, offset, length, flags) -> n | -errno
Napi::Value RecvInto(const Napi::CallbackInfo& info) {
  int fd, flags;
  uint8_t* data;
  size_t length;
  if (!ArgInt(info, 0, &fd) || !ArgSlice(info, 1, &data, &length) || !ArgInt(info, 4, &flags)) return {};
  ssize_t n = RetryOnEintr([&] { return recv(fd, data, length, flags); });
  return Napi::Number::New(info.Env(), n < 0 ? -errno : static_cast<double>(n));
}

// recvFrom(fd, bytes, offset, length, flags) -> [n, address] | -errno
Napi::Value RecvFrom(const Napi::CallbackInfo& info) {
  int fd, flags;
  uint8_t* data;
  size_t length;
  if (!ArgInt(info, 0, &fd) || !ArgSlice(info, 1, &data, &length) || !ArgInt(info, 4, &flags)) return {};
  sockaddr_storage ss;
  socklen_t len;
  ssize_t n = RetryOnEintr([&] {
    len = sizeof ss;
    return recvfrom(fd, data, length, flags, reinterpret_cast<sockaddr*>(&ss), &len);
  });
  if (n < 0) return Errno(info.Env(), errno);
  Napi::Array a = Napi::Array::New(info.Env(), 2);
  a.Set(0u, static_cast<double>(n));
  a.Set(1u, len > 0 ? AddressValue(info.Env(), ss, len) : info.Env().Null());
  return a;
}

// send(fd, bytes, offset, length, flags) -> n | -errno
Napi::Value Send(const Napi::CallbackInfo& info) {
  int fd, flags;
  uint8_t* data;
  size_t length;
  if (!ArgInt(info, 0, &fd) || !ArgSlice(info, 1, &data, &length) || !ArgInt(info, 4, &flags)) return {};
  ssize_t n = RetryOnEintr([&] { return send(fd, data, length, flags | kSendFlags); });
  return Napi::Number::New(info.Env(), n < 0 ? -errno : static_cast<double>(n));
}

// sendTo(fd, bytes, offset, length, flags, sockaddr) -> n | -errno
Napi::Value SendTo(const Napi::CallbackInfo& info) {
  int fd, flags;
  uint8_t* data;
  size_t length;
  const sockaddr* sa;
  socklen_t salen;
  if (!ArgInt(info, 0, &fd) || !ArgSlice(info, 1, &data, &length) || !ArgInt(info, 4, &flags) ||
      !ArgSockaddr(info, 5, &sa, &salen))
    return {};
  ssize_t n = RetryOnEintr([&] { return sendto(fd, data, length, flags | kSendFlags, sa, salen); });
  return Napi::Number::New(info.Env(), n < 0 ? -errno : static_cast<double>(n));
}

Napi::Value Shutdown(const Napi::CallbackInfo& info) {
  int fd, how;
  if (!ArgInt(info, 0, &fd) || !ArgInt(info, 1, &how)) return {};
  return Napi::Number::New(info.Env(), shutdown(fd, how) == 0 ? 0 : -errno);
}

// setsockopt(fd, level, name, bytes) -> 0 | -errno
Napi::Value SetSockOpt(const Napi::CallbackInfo& info) {
  int fd, level, name;
  if (!ArgInt(info, 0, &fd) || !ArgInt(info, 1, &level) || !ArgInt(info, 2, &name)) return {};
  uint8_t* value;
  size_t length;
  if (!ArgBytes(info, 3, &value, &length)) return {};
  int r = setsockopt(fd, level, name, value, static_cast<socklen_t>(length));
  return Napi::Number::New(info.Env(), r == 0 ? 0 : -errno);
}

// getsockopt(fd, level, name, buflen) -> Buffer (trimmed to what the kernel
// wrote) | -errno
Napi::Value GetSockOpt(const Napi::CallbackInfo& info) {
  int fd, level, name, buflen;
  if (!ArgInt(info, 0, &fd) || !ArgInt(info, 1, &level) || !ArgInt(info, 2, &name) ||
      !ArgInt(info, 3, &buflen))
    return {};
  if (buflen < 0 || buflen > 1024) {
    Napi::RangeError::New(info.Env(), "buflen must be within 0..1024").ThrowAsJavaScriptException();
    return {};
  }
  uint8_t buf[1024];
  socklen_t len = static_cast<socklen_t>(buflen);
  if (getsockopt(fd, level, name, buf, &len) != 0) return Errno(info.Env(), errno);
  if (len > static_cast<socklen_t>(buflen)) len = static_cast<socklen_t>(buflen);
  return Napi::Buffer<uint8_t>::Copy(info.Env(), buf, len);
}

// waitFd(fd, events, timeoutMs) -> ready mask (0 on timeout) | -errno.
// One fd, for blocking connect with a timeout; EINTR resumes with the time
// that is left.
Napi::Value WaitFd(const Napi::CallbackInfo& info) {
  int fd, events;
  double timeout_ms;
  if (!ArgInt(info, 0, &fd) || !ArgInt(info, 1, &events) || !ArgDouble(info, 2, &timeout_ms)) return {};
  // poll(2) ignores a negative fd, which would turn this into a plain sleep
  // (forever, with no timeout); NaN would wait ~24 days. As in wait(): poll.
  if (fd < 0) return Errno(info.Env(), EBADF);
  if (std::isnan(timeout_ms)) timeout_ms = 0;
  pollfd p{fd, 0, 0};
  if (events & 1) p.events |= POLLIN;
  if (events & 2) p.events |= POLLOUT;
  timespec start;
  clock_gettime(CLOCK_MONOTONIC, &start);
  double left = timeout_ms;
  for (;;) {
    int ms = left < 0 ? -1 : static_cast<int>(std::ceil(std::fmin(left, 2147483647.0)));
    int r = poll(&p, 1, ms);
    if (r > 0) {
      int mask = 0;
      if (p.revents & (POLLIN | POLLERR | POLLHUP)) mask |= events & 1;
      if (p.revents & (POLLOUT | POLLERR | POLLHUP)) mask |= events & 2;
      if (p.revents & POLLNVAL) return Errno(info.Env(), EBADF);
      return Napi::Number::New(info.Env(), mask);
    }
    if (r == 0) return Napi::Number::New(info.Env(), 0);
    if (errno != EINTR) return Errno(info.Env(), errno);
    if (timeout_ms >= 0) {
      timespec now;
      clock_gettime(CLOCK_MONOTONIC, &now);
      double spent = (now.tv_sec - start.tv_sec) * 1e3 + (now.tv_nsec - start.tv_nsec) / 1e6;
      left = timeout_ms - spent;
      if (left <= 0) return Napi::Number::New(info.Env(), 0);
    }
  }
}

Napi::Object Constants(Napi::Env env) {
  Napi::Object c = Napi::Object::New(env);
#define NS_CONST(name) c.Set(#name, Napi::Number::New(env, name));
  NS_CONST(AF_INET) NS_CONST(AF_INET6) NS_CONST(AF_UNIX) NS_CONST(AF_UNSPEC)
  NS_CONST(SOCK_STREAM) NS_CONST(SOCK_DGRAM)
  NS_CONST(SOL_SOCKET) NS_CONST(SO_REUSEADDR) NS_CONST(SO_KEEPALIVE) NS_CONST(SO_RCVBUF)
  NS_CONST(SO_SNDBUF) NS_CONST(SO_ERROR) NS_CONST(SO_LINGER) NS_CONST(SO_TYPE)
  NS_CONST(SO_BROADCAST)
  NS_CONST(IPPROTO_TCP) NS_CONST(IPPROTO_UDP) NS_CONST(IPPROTO_IP) NS_CONST(IPPROTO_IPV6)
  NS_CONST(TCP_NODELAY) NS_CONST(IPV6_V6ONLY)
  NS_CONST(SHUT_RD) NS_CONST(SHUT_WR) NS_CONST(SHUT_RDWR)
  NS_CONST(MSG_PEEK) NS_CONST(MSG_OOB) NS_CONST(MSG_WAITALL) NS_CONST(MSG_DONTWAIT)
  NS_CONST(SOMAXCONN)
#if defined(SO_REUSEPORT)
  NS_CONST(SO_REUSEPORT)
#endif
#undef NS_CONST
  return c;
}

}  // namespace

void InitSocket(Napi::Env env, Napi::Object exports) {
  Napi::Object s = Napi::Object::New(env);
#define NS_FN(name, fn) s.Set(name, Napi::Function::New<fn>(env, name));
  NS_FN("socket", Socket)
  NS_FN("socketpair", Socketpair)
  NS_FN("close", Close)
  NS_FN("adopt", Adopt)
  NS_FN("disown", Disown)
  NS_FN("sockInfo", SockInfo)
  NS_FN("setBlocking", SetBlocking)
  NS_FN("getBlocking", GetBlocking)
  NS_FN("bind", Bind)
  NS_FN("connect", Connect)
  NS_FN("listen", Listen)
  NS_FN("accept", Accept)
  NS_FN("recvInto", RecvInto)
  NS_FN("recvFrom", RecvFrom)
  NS_FN("send", Send)
  NS_FN("sendTo", SendTo)
  NS_FN("shutdown", Shutdown)
  NS_FN("setsockopt", SetSockOpt)
  NS_FN("getsockopt", GetSockOpt)
  NS_FN("waitFd", WaitFd)
#undef NS_FN
  // Addresses and sendfile live in their own files, on this same object.
  InitAddress(env, s, exports);
  InitSendFile(env, s);
  exports.Set("socket", s);
  exports.Set("constants", Constants(env));
}

}  // namespace ns
