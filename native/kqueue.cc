// kqueue(2) backend: one EVFILT_READ and/or EVFILT_WRITE filter per fd. The
// logic (the changes each call makes, each fd's interest, merging the two
// filters of one fd into one entry) is in kqueue_logic.cc; this file makes
// the kevent() calls. (Keeping the interest in udata instead would need
// EV_ADD on a live filter to refresh it, which libkqueue rejects for sockets.)
//
// Built on macOS and the BSDs, and on Linux against libkqueue when
// NS_HAVE_KQUEUE is defined by the build (see README).
#include "backend.h"

#include <cerrno>

#if defined(NS_HAVE_KQUEUE)

#include <fcntl.h>
#include <sys/event.h>
#include <sys/time.h>
#include <sys/types.h>
#include <unistd.h>

#include <vector>

#include "kqueue_logic.h"

namespace ns {
namespace {

static_assert(EV_ADD == kq::kActionAdd && EV_DELETE == kq::kActionDelete &&
                  EV_ERROR == kq::kFlagError && EV_EOF == kq::kFlagEof,
              "kqueue_logic.h's constants are this system's");

class KqueueBackend final : public Backend, private kq::Kernel {
 public:
  explicit KqueueBackend(int kq) : kq_(kq), state_(this, EVFILT_READ, EVFILT_WRITE) {}
  ~KqueueBackend() override { Close(); }

  int Fd() const override {
#if defined(LIBKQUEUE)
    // libkqueue's descriptor is the write end of a pipe that never becomes
    // readable, so nothing can wait on it (no nesting, no runAsync watch).
    return -1;
#else
    return kq_;
#endif
  }

  // Trigger modes other than level are refused until this backend maps
  // them (EV_CLEAR for edge, EV_DISPATCH re-enabled by Modify for oneshot).
  int Add(int fd, uint32_t events, uint32_t mode) override {
    if (mode != kModeLevel) return ENOSYS;
    return state_.Add(fd, events);
  }

  int Modify(int fd, uint32_t old_events, uint32_t, uint32_t events, uint32_t mode) override {
    if (mode != kModeLevel) return ENOSYS;
    return state_.Modify(fd, old_events, events);
  }

  int Remove(int fd, uint32_t events) override { return state_.Remove(fd, events); }

  int Wait(int64_t timeout_ns, ReadyEvent* out, int capacity) override {
    if (capacity <= 0) return 0;
    int slots = state_.EventSlots(capacity);
    if (static_cast<size_t>(slots) > events_.size()) events_.resize(slots);
    kq::Timeout t = kq::ToTimeout(timeout_ns);
    timespec ts{};
    ts.tv_sec = static_cast<time_t>(t.sec);
    ts.tv_nsec = static_cast<long>(t.nsec);
    int n = kevent(kq_, nullptr, 0, events_.data(), slots, t.infinite ? nullptr : &ts);
    if (n < 0) return -errno;
    return state_.Collect(events_.data(), n, out, capacity);
  }

  void Close() override {
    if (kq_ >= 0) {
      close(kq_);
      kq_ = -1;
    }
  }

 private:
  // One change per call. (udata is 0, not nullptr: it is an intptr_t on
  // older NetBSD.)
  int Change(int fd, int32_t filter, uint16_t action) override {
    struct kevent change;
    EV_SET(&change, fd, filter, action, 0, 0, 0);
    errno = 0;
    if (kevent(kq_, &change, 1, nullptr, 0, nullptr) >= 0) return 0;
    // libkqueue can fail without setting errno; never report that as success.
    return errno != 0 ? errno : EINVAL;
  }

  int kq_;
  kq::State state_;
  std::vector<struct kevent> events_;
};

}  // namespace

std::unique_ptr<Backend> MakeKqueueBackend(int* err) {
  int kq = kqueue();
  if (kq < 0) {
    *err = errno;
    return nullptr;
  }
  // kqueue descriptors are not inherited across fork, but exec is another
  // matter: mark it close-on-exec like every other fd we create.
  fcntl(kq, F_SETFD, FD_CLOEXEC);
  return std::make_unique<KqueueBackend>(kq);
}

bool HasKqueueBackend() { return true; }

}  // namespace ns

#else

namespace ns {
std::unique_ptr<Backend> MakeKqueueBackend(int* err) {
  *err = ENOSYS;
  return nullptr;
}
bool HasKqueueBackend() { return false; }
}  // namespace ns

#endif
