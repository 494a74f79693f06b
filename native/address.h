// Address conversions that socket.cc's calls share with address.cc.
#pragma once

#include <napi.h>
#include <sys/socket.h>

namespace ns {

// sockaddr -> JS address: [host, port] for IP, the path for AF_UNIX ('' when
// unnamed; abstract Linux names keep their leading NUL).
Napi::Value AddressValue(Napi::Env env, const sockaddr_storage& ss, socklen_t len);

// Reads argument i, a sockaddr Buffer from getaddrinfo() or unixAddress(),
// checking its size; or throws and returns false.
bool ArgSockaddr(const Napi::CallbackInfo& info, size_t i, const sockaddr** sa, socklen_t* len);

// Adds getaddrinfo, unixAddress, getsockname and getpeername to the
// `socket` exports object, and eaiNoname to the addon's exports.
void InitAddress(Napi::Env env, Napi::Object socket, Napi::Object exports);

}  // namespace ns
