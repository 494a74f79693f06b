// epoll(7) backend: one interest entry per fd; edge and oneshot are the
// kernel's own EPOLLET and EPOLLONESHOT.
#include "backend.h"

#include <cerrno>

#if defined(__linux__)

#include <errno.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <vector>

namespace ns {
namespace {

uint32_t ToEpoll(uint32_t events, uint32_t mode) {
  uint32_t e = 0;
  if (events & kEventRead) e |= EPOLLIN;
  if (events & kEventWrite) e |= EPOLLOUT;
  if (mode & kModeEdge) e |= EPOLLET;
  if (mode & kModeOneshot) e |= EPOLLONESHOT;
  return e;
}

class EpollBackend final : public Backend {
 public:
  explicit EpollBackend(int epfd) : epfd_(epfd) {}
  ~EpollBackend() override { Close(); }

  int Fd() const override { return epfd_; }

  int Add(int fd, uint32_t events, uint32_t mode) override {
    return Control(EPOLL_CTL_ADD, fd, events, mode);
  }

  // EPOLL_CTL_MOD also re-arms an EPOLLONESHOT entry that has fired.
  int Modify(int fd, uint32_t, uint32_t, uint32_t events, uint32_t mode) override {
    return Control(EPOLL_CTL_MOD, fd, events, mode);
  }

  int Remove(int fd, uint32_t) override {
    epoll_event ev{};  // non-null for kernels before 2.6.9
    return epoll_ctl(epfd_, EPOLL_CTL_DEL, fd, &ev) == 0 ? 0 : errno;
  }

  int Wait(int64_t timeout_ns, ReadyEvent* out, int capacity) override {
    if (capacity <= 0) return 0;
    // Grows with the caller's capacity (which follows the number of
    // registered fds), so the steady state allocates nothing.
    if (static_cast<size_t>(capacity) > events_.size()) events_.resize(capacity);
    int timeout_ms = -1;
    if (timeout_ns >= 0) {
      // Round up: epoll_wait counts whole milliseconds and must not wake
      // before the caller's deadline.
      int64_t ms = (timeout_ns + 999999) / 1000000;
      timeout_ms = ms > 0x7fffffff ? 0x7fffffff : static_cast<int>(ms);
    }
    int n = epoll_wait(epfd_, events_.data(), capacity, timeout_ms);
    if (n < 0) return -errno;
    for (int i = 0; i < n; i++) {
      const epoll_event& ev = events_[i];
      uint32_t registered = ev.data.u64 >> 32;
      uint32_t mask = 0;
      if (ev.events & (EPOLLERR | EPOLLHUP)) {
        mask = registered;
      } else {
        if (ev.events & EPOLLIN) mask |= kEventRead;
        if (ev.events & EPOLLOUT) mask |= kEventWrite;
      }
      out[i].fd = static_cast<int32_t>(ev.data.u64 & 0xffffffffu);
      out[i].mask = static_cast<int32_t>(mask & registered);
    }
    return n;
  }

  void Close() override {
    if (epfd_ >= 0) {
      close(epfd_);
      epfd_ = -1;
    }
  }

 private:
  int Control(int op, int fd, uint32_t events, uint32_t mode) {
    epoll_event ev{};
    ev.events = ToEpoll(events, mode);
    // The interest travels with the event, so Wait needs no lookup table.
    ev.data.u64 = (static_cast<uint64_t>(events) << 32) | static_cast<uint32_t>(fd);
    return epoll_ctl(epfd_, op, fd, &ev) == 0 ? 0 : errno;
  }

  int epfd_;
  std::vector<epoll_event> events_;
};

}  // namespace

std::unique_ptr<Backend> MakeEpollBackend(int* err) {
  int epfd = epoll_create1(EPOLL_CLOEXEC);
  if (epfd < 0) {
    *err = errno;
    return nullptr;
  }
  return std::make_unique<EpollBackend>(epfd);
}

bool HasEpollBackend() { return true; }

}  // namespace ns

#else

namespace ns {
std::unique_ptr<Backend> MakeEpollBackend(int* err) {
  *err = ENOSYS;
  return nullptr;
}
bool HasEpollBackend() { return false; }
}  // namespace ns

#endif
