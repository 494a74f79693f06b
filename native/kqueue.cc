// kqueue(2) backend: one EVFILT_READ and/or EVFILT_WRITE filter per fd. The
// backend keeps each fd's interest in a table indexed by fd, which Wait uses
// to intersect masks and to merge the two filters of one fd into one entry.
// (Keeping the interest in udata instead would need EV_ADD on a live filter
// to refresh it, which libkqueue rejects for sockets.)
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

namespace ns {
namespace {

class KqueueBackend final : public Backend {
 public:
  explicit KqueueBackend(int kq) : kq_(kq) {}
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
    if (fd >= 0 && static_cast<size_t>(fd) < slots_.size() && slots_[fd].interest != 0) {
      // This fd number was closed without Remove and has been reused. The
      // kernel dropped its filters at close(), but libkqueue cannot notice a
      // close and keeps them, and would refuse the EV_ADD: drop them first.
      Apply(fd, slots_[fd].interest, EV_DELETE);
      slots_[fd].interest = 0;
    }
    int err = Apply(fd, events, EV_ADD);
    if (err != 0) {
      Apply(fd, events, EV_DELETE);  // undo a half-add
      return err;
    }
    if (static_cast<size_t>(fd) >= slots_.size()) slots_.resize(fd + 1);
    slots_[fd].interest = events;
    return 0;
  }

  int Modify(int fd, uint32_t old_events, uint32_t, uint32_t events, uint32_t mode) override {
    if (mode != kModeLevel) return ENOSYS;
    // Only the filters that change are touched: a kept filter stays as is.
    int err = Apply(fd, events & ~old_events, EV_ADD);
    if (err == 0) err = Apply(fd, old_events & ~events, EV_DELETE);
    // On failure either set of filters may be live; the caller removes the
    // fd next, so just keep reporting whatever still fires.
    SetInterest(fd, err == 0 ? events : old_events | events);
    return err;
  }

  int Remove(int fd, uint32_t events) override {
    SetInterest(fd, 0);
    return Apply(fd, events, EV_DELETE);
  }

  int Wait(int64_t timeout_ns, ReadyEvent* out, int capacity) override {
    if (capacity <= 0) return 0;
    if (static_cast<size_t>(capacity) > events_.size()) events_.resize(capacity);
    timespec ts{};
    timespec* tsp = nullptr;
    if (timeout_ns >= 0) {
      ts.tv_sec = static_cast<time_t>(timeout_ns / 1000000000);
      ts.tv_nsec = static_cast<long>(timeout_ns % 1000000000);
      tsp = &ts;
    }
    int n = kevent(kq_, nullptr, 0, events_.data(), capacity, tsp);
    if (n < 0) return -errno;
    // A stamp per Wait marks which fds already have an entry this round,
    // so nothing needs clearing between calls.
    if (++stamp_ == 0) {
      for (Slot& s : slots_) s.stamp = 0;
      stamp_ = 1;
    }
    int count = 0;
    for (int i = 0; i < n; i++) {
      const struct kevent& ev = events_[i];
      size_t fd = static_cast<size_t>(ev.ident);
      if (fd >= slots_.size()) continue;
      Slot& slot = slots_[fd];
      uint32_t mask;
      if (ev.filter == EVFILT_WRITE && (ev.flags & (EV_EOF | EV_ERROR))) {
        // Nothing can be sent any more (hang-up or error): ready for all.
        mask = slot.interest;
      } else {
        // EV_EOF on the read filter is a readable end of file; on a socket
        // the peer may only have shut down its side, so writing may go on.
        mask = ev.filter == EVFILT_READ ? kEventRead : kEventWrite;
      }
      mask &= slot.interest;
      if (slot.stamp == stamp_) {
        out[slot.index].mask |= static_cast<int32_t>(mask);
        continue;
      }
      slot.stamp = stamp_;
      slot.index = static_cast<uint32_t>(count);
      out[count].fd = static_cast<int32_t>(fd);
      out[count].mask = static_cast<int32_t>(mask);
      count++;
    }
    return count;
  }

  void Close() override {
    if (kq_ >= 0) {
      close(kq_);
      kq_ = -1;
    }
  }

 private:
  struct Slot {
    uint32_t interest = 0;
    uint32_t stamp = 0;  // == stamp_: already has an entry at out[index]
    uint32_t index = 0;
  };

  // Applies `action` to the filters named by `filters`, in one call that
  // stops at the first failure. (udata is 0, not nullptr: it is an intptr_t
  // on older NetBSD.)
  int Apply(int fd, uint32_t filters, uint16_t action) {
    struct kevent changes[2];
    int n = 0;
    if (filters & kEventRead) {
      EV_SET(&changes[n++], fd, EVFILT_READ, action, 0, 0, 0);
    }
    if (filters & kEventWrite) {
      EV_SET(&changes[n++], fd, EVFILT_WRITE, action, 0, 0, 0);
    }
    if (n == 0) return 0;
    errno = 0;
    if (kevent(kq_, changes, n, nullptr, 0, nullptr) >= 0) return 0;
    // libkqueue can fail without setting errno; never report that as success.
    return errno != 0 ? errno : EINVAL;
  }

  void SetInterest(int fd, uint32_t events) {
    if (fd >= 0 && static_cast<size_t>(fd) < slots_.size()) slots_[fd].interest = events;
  }

  int kq_;
  uint32_t stamp_ = 0;
  std::vector<struct kevent> events_;
  std::vector<Slot> slots_;  // indexed by fd
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
