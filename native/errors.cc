// errno -> name and message, the native half of the error mapping. Native
// calls report failures as -errno numbers; src/errors.ts turns a number into
// the Python-named OSError subclass using the tables exported here, so the
// mapping from number to class is written once, in one place.
#include <errno.h>
#include <string.h>

#include "addon.h"

namespace ns {
namespace {

// The names that differ by platform are guarded; one name per number wins
// (EAGAIN over EWOULDBLOCK, ENOTSUP over EOPNOTSUPP) as Node's own util does.
#define NS_ERRNO_LIST(X)                                                      \
  X(EPERM) X(ENOENT) X(ESRCH) X(EINTR) X(EIO) X(ENXIO) X(E2BIG) X(ENOEXEC)    \
  X(EBADF) X(ECHILD) X(EAGAIN) X(ENOMEM) X(EACCES) X(EFAULT) X(EBUSY)         \
  X(EEXIST) X(EXDEV) X(ENODEV) X(ENOTDIR) X(EISDIR) X(EINVAL) X(ENFILE)       \
  X(EMFILE) X(ENOTTY) X(EFBIG) X(ENOSPC) X(ESPIPE) X(EROFS) X(EMLINK)         \
  X(EPIPE) X(EDOM) X(ERANGE) X(EDEADLK) X(ENAMETOOLONG) X(ENOLCK) X(ENOSYS)   \
  X(ENOTEMPTY) X(ELOOP) X(ENOMSG) X(EIDRM)       \
  X(EPROTO) X(EBADMSG) X(EOVERFLOW) X(EILSEQ) X(ENOTSOCK) \
  X(EDESTADDRREQ) X(EMSGSIZE) X(EPROTOTYPE) X(ENOPROTOOPT)                    \
  X(EPROTONOSUPPORT) X(ENOTSUP) X(EAFNOSUPPORT) X(EADDRINUSE)                 \
  X(EADDRNOTAVAIL) X(ENETDOWN) X(ENETUNREACH) X(ENETRESET) X(ECONNABORTED)    \
  X(ECONNRESET) X(ENOBUFS) X(EISCONN) X(ENOTCONN) X(ETIMEDOUT)               \
  X(ECONNREFUSED) X(EHOSTUNREACH) X(EALREADY) X(EINPROGRESS) X(ESTALE)        \
  X(EDQUOT) X(ECANCELED)

void SetName(Napi::Object names, int err, const char* name) {
  if (!names.Has(static_cast<uint32_t>(err))) names.Set(static_cast<uint32_t>(err), name);
}

Napi::Value Strerror(const Napi::CallbackInfo& info) {
  int err;
  if (!ArgInt(info, 0, &err)) return {};
  return Napi::String::New(info.Env(), strerror(err));
}

}  // namespace

void InitErrors(Napi::Env env, Napi::Object exports) {
  Napi::Object names = Napi::Object::New(env);
#define X(name) SetName(names, name, #name);
  NS_ERRNO_LIST(X)
#undef X
  // Not every platform defines these.
#ifdef ESOCKTNOSUPPORT
  SetName(names, ESOCKTNOSUPPORT, "ESOCKTNOSUPPORT");
#endif
#ifdef EPFNOSUPPORT
  SetName(names, EPFNOSUPPORT, "EPFNOSUPPORT");
#endif
#ifdef ESHUTDOWN
  SetName(names, ESHUTDOWN, "ESHUTDOWN");
#endif
#ifdef EHOSTDOWN
  SetName(names, EHOSTDOWN, "EHOSTDOWN");
#endif
#ifdef ENOSTR
  SetName(names, ENOSTR, "ENOSTR");
#endif
#ifdef ENODATA
  SetName(names, ENODATA, "ENODATA");
#endif
#ifdef ETIME
  SetName(names, ETIME, "ETIME");
#endif
#ifdef ENOSR
  SetName(names, ENOSR, "ENOSR");
#endif
#ifdef ENOLINK
  SetName(names, ENOLINK, "ENOLINK");
#endif
#ifdef EOWNERDEAD
  SetName(names, EOWNERDEAD, "EOWNERDEAD");
#endif
#ifdef ENOTRECOVERABLE
  SetName(names, ENOTRECOVERABLE, "ENOTRECOVERABLE");
#endif
  exports.Set("errnoNames", names);
  exports.Set("strerror", Napi::Function::New<Strerror>(env, "strerror"));
}

}  // namespace ns
