// Socket addresses between JS and the kernel: sockaddr -> [host, port] or
// path, the Buffers that carry a sockaddr from call to call, and the
// resolver. socket.cc's calls take and return these.
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <string>

#include "addon.h"
#include "address.h"

namespace ns {

// sockaddr -> JS address: [host, port] for IP, the path for AF_UNIX ('' when
// unnamed; abstract Linux names keep their leading NUL).
Napi::Value AddressValue(Napi::Env env, const sockaddr_storage& ss, socklen_t len) {
  char host[INET6_ADDRSTRLEN + 16];
  if (ss.ss_family == AF_INET) {
    const auto* sin = reinterpret_cast<const sockaddr_in*>(&ss);
    inet_ntop(AF_INET, &sin->sin_addr, host, sizeof host);
    Napi::Array a = Napi::Array::New(env, 2);
    a.Set(0u, host);
    a.Set(1u, ntohs(sin->sin_port));
    return a;
  }
  if (ss.ss_family == AF_INET6) {
    const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(&ss);
    inet_ntop(AF_INET6, &sin6->sin6_addr, host, INET6_ADDRSTRLEN);
    std::string h(host);
    if (sin6->sin6_scope_id != 0) h += "%" + std::to_string(sin6->sin6_scope_id);
    Napi::Array a = Napi::Array::New(env, 2);
    a.Set(0u, h);
    a.Set(1u, ntohs(sin6->sin6_port));
    return a;
  }
  if (ss.ss_family == AF_UNIX) {
    const auto* sun = reinterpret_cast<const sockaddr_un*>(&ss);
    size_t offset = offsetof(sockaddr_un, sun_path);
    if (len <= offset) return Napi::String::New(env, "");
    size_t n = std::min(static_cast<size_t>(len) - offset, sizeof sun->sun_path);
    if (sun->sun_path[0] != '\0') n = strnlen(sun->sun_path, n);
    return Napi::String::New(env, sun->sun_path, n);
  }
  return env.Null();
}

// A sockaddr travels between calls as the Buffer made by getaddrinfo() or
// unixAddress(); reading one back checks its size.
bool ArgSockaddr(const Napi::CallbackInfo& info, size_t i, const sockaddr** sa, socklen_t* len) {
  uint8_t* data;
  size_t length;
  if (!ArgBytes(info, i, &data, &length)) return false;
  if (length < sizeof(sa_family_t) || length > sizeof(sockaddr_storage)) {
    Napi::RangeError::New(info.Env(), "address has a bad size").ThrowAsJavaScriptException();
    return false;
  }
  *sa = reinterpret_cast<const sockaddr*>(data);
  *len = static_cast<socklen_t>(length);
  return true;
}

namespace {

// The resolver's error names, for GaiError.code.
const char* GaiName(int rc) {
  switch (rc) {
#define NS_EAI(name) \
  case name:         \
    return #name;
#ifdef EAI_ADDRFAMILY
    NS_EAI(EAI_ADDRFAMILY)
#endif
#ifdef EAI_NODATA
#if !defined(EAI_NONAME) || EAI_NODATA != EAI_NONAME
    NS_EAI(EAI_NODATA)
#endif
#endif
#ifdef EAI_OVERFLOW
    NS_EAI(EAI_OVERFLOW)
#endif
#ifdef EAI_BADHINTS
    NS_EAI(EAI_BADHINTS)
#endif
#ifdef EAI_PROTOCOL
    NS_EAI(EAI_PROTOCOL)
#endif
    NS_EAI(EAI_AGAIN) NS_EAI(EAI_BADFLAGS) NS_EAI(EAI_FAIL) NS_EAI(EAI_FAMILY)
    NS_EAI(EAI_MEMORY) NS_EAI(EAI_NONAME) NS_EAI(EAI_SERVICE) NS_EAI(EAI_SOCKTYPE)
    NS_EAI(EAI_SYSTEM)
#undef NS_EAI
    default:
      return "EAI_UNKNOWN";
  }
}

// getaddrinfo(host, port, family, type, passive) -> [[family, sockaddr]...],
// or on failure { errno, code, message } with the resolver's own number
// (negative on glibc) and EAI_* name as Python's gaierror has them; for
// EAI_SYSTEM, -errno (Python raises a plain OSError then). Blocking, like
// Python's socket module.
Napi::Value GetAddrInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int port, family, type;
  if (!info[0].IsString()) {
    Napi::TypeError::New(env, "host must be a string").ThrowAsJavaScriptException();
    return {};
  }
  if (!ArgInt(info, 1, &port) || !ArgInt(info, 2, &family) || !ArgInt(info, 3, &type)) return {};
  std::string host = info[0].As<Napi::String>().Utf8Value();
  bool passive = info[4].ToBoolean();
  addrinfo hints{};
  hints.ai_family = family;
  hints.ai_socktype = type;
  hints.ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0);
  std::string service = std::to_string(port);
  addrinfo* res = nullptr;
  int rc = getaddrinfo(host.empty() ? nullptr : host.c_str(), service.c_str(), &hints, &res);
  if (rc != 0) {
    if (rc == EAI_SYSTEM && errno != 0) return Errno(env, errno);
    Napi::Object failure = Napi::Object::New(env);
    failure.Set("errno", rc);
    failure.Set("code", GaiName(rc));
    failure.Set("message", gai_strerror(rc));
    return failure;
  }
  Napi::Array out = Napi::Array::New(env);
  uint32_t k = 0;
  for (addrinfo* ai = res; ai != nullptr; ai = ai->ai_next) {
    if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6) continue;
    Napi::Array entry = Napi::Array::New(env, 2);
    entry.Set(0u, ai->ai_family);
    entry.Set(1u, Napi::Buffer<uint8_t>::Copy(env, reinterpret_cast<uint8_t*>(ai->ai_addr), ai->ai_addrlen));
    out.Set(k++, entry);
  }
  freeaddrinfo(res);
  return out;
}

// unixAddress(path: Buffer) -> sockaddr_un Buffer | -ENAMETOOLONG. A path
// that starts with NUL is a Linux abstract name and keeps its exact length.
Napi::Value UnixAddress(const Napi::CallbackInfo& info) {
  uint8_t* path;
  size_t length;
  if (!ArgBytes(info, 0, &path, &length)) return {};
  sockaddr_un sun{};
  size_t max = sizeof sun.sun_path - (length > 0 && path[0] == 0 ? 0 : 1);
  if (length > max) return Errno(info.Env(), ENAMETOOLONG);
  sun.sun_family = AF_UNIX;
  // An empty Buffer's data may be null, and memcpy from null is undefined
  // even for zero bytes.
  if (length > 0) memcpy(sun.sun_path, path, length);
  size_t len = offsetof(sockaddr_un, sun_path) + length;
  if (length > 0 && path[0] != 0) len += 1;  // the terminating NUL
  return Napi::Buffer<uint8_t>::Copy(info.Env(), reinterpret_cast<uint8_t*>(&sun), len);
}

// getsockname(fd) / getpeername(fd) -> address | -errno
template <int (*Get)(int, sockaddr*, socklen_t*)>
Napi::Value SocketAddress(const Napi::CallbackInfo& info) {
  int fd;
  if (!ArgInt(info, 0, &fd)) return {};
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (Get(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return Errno(info.Env(), errno);
  return AddressValue(info.Env(), ss, len);
}

}  // namespace

void InitAddress(Napi::Env env, Napi::Object socket, Napi::Object exports) {
  socket.Set("getaddrinfo", Napi::Function::New<GetAddrInfo>(env, "getaddrinfo"));
  socket.Set("unixAddress", Napi::Function::New<UnixAddress>(env, "unixAddress"));
  socket.Set("getsockname", Napi::Function::New<SocketAddress<getsockname>>(env, "getsockname"));
  socket.Set("getpeername", Napi::Function::New<SocketAddress<getpeername>>(env, "getpeername"));
  // For a GaiError made in JS (a name with no address of the wanted family).
  exports.Set("eaiNoname", Napi::Number::New(env, EAI_NONAME));
}

}  // namespace ns
