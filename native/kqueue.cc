// kqueue(2) backend: one EVFILT_READ and/or EVFILT_WRITE filter per fd. The
// fd's whole interest rides in udata, so a hang-up on either filter can be
// reported as every registered event without a lookup, and the two filters
// of one fd are merged into one ready entry.
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

#include <algorithm>
#include <vector>

namespace ns {
namespace {

class KqueueBackend final : public Backend {
 public:
  explicit KqueueBackend(int kq) : kq_(kq) {}
  ~KqueueBackend() override { Close(); }

  int Fd() const override { return kq_; }

  int Add(int fd, uint32_t events) override {
    int err = Apply(fd, events, events, EV_ADD);
    if (err != 0) Apply(fd, events, events, EV_DELETE);  // undo a half-add
    if (err == 0) Track(fd);
    return err;
  }

  int Modify(int fd, uint32_t old_events, uint32_t events) override {
    // Re-adding a kept filter refreshes its udata with the new interest.
    int err = Apply(fd, events, events, EV_ADD);
    if (err == 0) {
      uint32_t dropped = old_events & ~events;
      if (dropped) err = Apply(fd, dropped, events, EV_DELETE);
    }
    return err;
  }

  int Remove(int fd, uint32_t events) override {
    return Apply(fd, events, events, EV_DELETE);
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
      std::fill(seen_.begin(), seen_.end(), 0);
      stamp_ = 1;
    }
    int count = 0;
    for (int i = 0; i < n; i++) {
      const struct kevent& ev = events_[i];
      int fd = static_cast<int>(ev.ident);
      uint32_t registered = static_cast<uint32_t>(reinterpret_cast<uintptr_t>(ev.udata));
      uint32_t mask;
      if (ev.flags & (EV_EOF | EV_ERROR)) {
        mask = registered;
      } else {
        mask = ev.filter == EVFILT_READ ? kEventRead : kEventWrite;
      }
      mask &= registered;
      uint64_t seen = static_cast<size_t>(fd) < seen_.size() ? seen_[fd] : 0;
      if ((seen >> 32) == stamp_) {
        out[seen & 0xffffffffu].mask |= static_cast<int32_t>(mask);
        continue;
      }
      if (static_cast<size_t>(fd) < seen_.size()) {
        seen_[fd] = (static_cast<uint64_t>(stamp_) << 32) | static_cast<uint32_t>(count);
      }
      out[count].fd = fd;
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
  // Applies `action` to the filters named by `filters`; udata carries the
  // fd's full interest.
  int Apply(int fd, uint32_t filters, uint32_t interest, uint16_t action) {
    struct kevent changes[2];
    int n = 0;
    void* udata = reinterpret_cast<void*>(static_cast<uintptr_t>(interest));
    if (filters & kEventRead) {
      EV_SET(&changes[n++], fd, EVFILT_READ, action, 0, 0, udata);
    }
    if (filters & kEventWrite) {
      EV_SET(&changes[n++], fd, EVFILT_WRITE, action, 0, 0, udata);
    }
    if (n == 0) return 0;
    return kevent(kq_, changes, n, nullptr, 0, nullptr) < 0 ? errno : 0;
  }

  void Track(int fd) {
    if (static_cast<size_t>(fd) >= seen_.size()) seen_.resize(fd + 1, 0);
  }

  int kq_;
  uint32_t stamp_ = 0;
  std::vector<struct kevent> events_;
  std::vector<uint64_t> seen_;  // fd -> (stamp << 32 | output index)
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
