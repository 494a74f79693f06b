// Whether this kernel can run the loop's io_uring mode, and why not when it
// cannot: the ring setup with the flags this kernel takes (shared with
// uring.cc's NativeRing) and the probe behind ioUringAvailable(). Split from
// uring.cc so that file holds only the ring's mechanics.
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <string>

#include "uring.h"

#if defined(NS_HAVE_LIBURING)
#include <sys/utsname.h>
#endif

namespace ns {

#if defined(NS_HAVE_LIBURING)

namespace {

// Linux >= 6.2: DEFER_TASKRUN rings also signal a registered eventfd (6.1
// did not), which runAsync's wake-ups rely on.
bool KernelAtLeast(int major, int minor) {
  utsname u;
  if (uname(&u) != 0) return false;
  int ma = 0, mi = 0;
  if (sscanf(u.release, "%d.%d", &ma, &mi) != 2) return false;
  return ma > major || (ma == major && mi >= minor);
}

// Why io_uring cannot be used here, or "" when it can. Tries the real thing:
// a ring, the opcodes the loop submits, and the timeout argument of enter.
std::string ProbeReason() {
  int fd = open("/proc/sys/kernel/io_uring_disabled", O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    char c = '0';
    ssize_t n = read(fd, &c, 1);
    close(fd);
    if (n == 1 && c == '2') return "io_uring is disabled on this system (sysctl kernel.io_uring_disabled=2)";
  }
  io_uring ring;
  int err = SetupRing(&ring, 8);
  if (err == ENOSYS) return "this kernel has no io_uring (older than 5.1, or built without it)";
  if (err == EPERM) {
    return "io_uring is not permitted here (seccomp filter of a container, or sysctl "
           "kernel.io_uring_disabled=1 for this user)";
  }
  if (err != 0) return std::string("io_uring_setup failed: ") + strerror(err);
  std::string reason;
  if (!(ring.features & IORING_FEAT_EXT_ARG)) reason = "the kernel is too old for io_uring here (needs Linux 5.11 or later)";
  io_uring_probe* probe = reason.empty() ? io_uring_get_probe_ring(&ring) : nullptr;
  if (reason.empty() && probe == nullptr) reason = "the kernel is too old for io_uring here (no opcode probe: needs Linux 5.11 or later)";
  if (probe != nullptr) {
    const struct { int op; const char* name; } needed[] = {
        {IORING_OP_RECV, "RECV"}, {IORING_OP_SEND, "SEND"}, {IORING_OP_ACCEPT, "ACCEPT"},
        {IORING_OP_CONNECT, "CONNECT"}, {IORING_OP_POLL_ADD, "POLL_ADD"},
        {IORING_OP_ASYNC_CANCEL, "ASYNC_CANCEL"},
    };
    for (const auto& n : needed) {
      if (!io_uring_opcode_supported(probe, n.op)) {
        reason = std::string("the kernel is too old for io_uring here (no IORING_OP_") + n.name + ")";
        break;
      }
    }
    io_uring_free_probe(probe);
  }
  io_uring_queue_exit(&ring);
  return reason;
}

}  // namespace

// Sets up `ring` with the cheapest flags this kernel takes: each flag is
// dropped in turn when refused (EINVAL on kernels that predate it).
int SetupRing(io_uring* ring, unsigned entries) {
  const unsigned defer = KernelAtLeast(6, 2) ? IORING_SETUP_DEFER_TASKRUN : 0;
  const unsigned tries[] = {
      // Completions run only when this thread enters the ring, never as
      // interrupts of JavaScript; one thread submits (each loop is its thread's).
      IORING_SETUP_SUBMIT_ALL | IORING_SETUP_SINGLE_ISSUER | defer,
      IORING_SETUP_SUBMIT_ALL | IORING_SETUP_SINGLE_ISSUER,
      IORING_SETUP_SUBMIT_ALL,
      0,
  };
  int err = EINVAL;
  for (unsigned flags : tries) {
    io_uring_params p{};
    p.flags = flags;
    int rc = io_uring_queue_init_params(entries, ring, &p);
    if (rc == 0) return 0;
    err = -rc;
    if (err != EINVAL) break;
  }
  return err;
}

Napi::Value UringProbe(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), ProbeReason());
}

#else  // !NS_HAVE_LIBURING

Napi::Value UringProbe(const Napi::CallbackInfo& info) {
#if defined(__linux__)
  return Napi::String::New(info.Env(), "this build of the addon has no io_uring support (liburing's header "
                                       "was not found when it was compiled: install liburing-dev and rebuild)");
#else
  return Napi::String::New(info.Env(), "io_uring exists only on Linux");
#endif
}

#endif

}  // namespace ns
