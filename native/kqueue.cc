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
                  EV_ENABLE == kq::kActionEnable && EV_DISABLE == kq::kActionDisable &&
                  EV_CLEAR == kq::kFlagClear && EV_DISPATCH == kq::kFlagDispatch &&
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

  // Trigger modes: EV_CLEAR for edge, EV_DISPATCH (re-enabled by Modify)
  // for oneshot; see kqueue_logic.h.
  int Add(int fd, uint32_t events, uint32_t mode) override {
    return state_.Add(fd, events, mode);
  }

  int Modify(int fd, uint32_t old_events, uint32_t old_mode, uint32_t events,
             uint32_t mode) override {
    return state_.Modify(fd, old_events, old_mode, events, mode);
  }

  int Remove(int fd, uint32_t events) override { return state_.Remove(fd, events); }

  int Wait(int64_t timeout_ns, ReadyEvent* out, int capacity) override {
    if (capacity <= 0) return 0;
    int slots = state_.EventSlots(capacity);
    if (static_cast<size_t>(slots) > events_.size()) {
      events_.resize(slots);
      changes_.resize(slots);
    }
    // The disables a oneshot report left owed ride on this call, ahead of
    // the scan. No more than there are event slots: a failed one takes a
    // slot for its EV_ERROR entry.
    int k = 0;
    int nchanges = state_.TakeDisables(slots, [&](int fd, int32_t filter) {
      EV_SET(&changes_[k++], fd, filter, EV_DISABLE, 0, 0, 0);
    });
    kq::Timeout t = kq::ToTimeout(timeout_ns);
    timespec ts{};
    ts.tv_sec = static_cast<time_t>(t.sec);
    ts.tv_nsec = static_cast<long>(t.nsec);
    int n = kevent(kq_, changes_.data(), nchanges, events_.data(), slots,
                   t.infinite ? nullptr : &ts);
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
  int Change(int fd, int32_t filter, uint16_t flags) override {
    struct kevent change;
    EV_SET(&change, fd, filter, flags, 0, 0, 0);
    errno = 0;
    if (kevent(kq_, &change, 1, nullptr, 0, nullptr) >= 0) return 0;
    // libkqueue can fail without setting errno; never report that as success.
    return errno != 0 ? errno : EINVAL;
  }

  int kq_;
  kq::State state_;
  std::vector<struct kevent> events_;
  std::vector<struct kevent> changes_;  // as long as events_
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
