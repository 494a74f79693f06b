// poll(2) backend: the portable fallback. The pollfd array is kept packed
// (swap-remove) with an fd -> slot index, so add/modify/remove are O(1) and
// Wait hands the kernel the array as it stands.
//
// Oneshot is emulated, as smol-rs/polling does: once a oneshot fd has been
// reported its entry is parked (the fd stored as ~fd, a negative number
// poll(2) skips, so not even POLLHUP/POLLNVAL reach it) until Modify
// re-arms it. poll(2) has no edge-triggered mode.
#include "backend.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>

#include <vector>

namespace ns {
namespace {

short ToPoll(uint32_t events) {
  short e = 0;
  if (events & kEventRead) e |= POLLIN;
  if (events & kEventWrite) e |= POLLOUT;
  return e;
}

// The fd of an entry, parked or not.
int RealFd(const pollfd& p) { return p.fd < 0 ? ~p.fd : p.fd; }

class PollBackend final : public Backend {
 public:
  int Fd() const override { return -1; }

  int Add(int fd, uint32_t events, uint32_t mode) override {
    if (mode & kModeEdge) return EINVAL;
    // poll(2) accepts any number; check the fd is open so that a closed fd
    // fails here with EBADF, as it does under epoll and kqueue.
    if (fcntl(fd, F_GETFD) < 0) return errno;
    if (Slot(fd) >= 0) return EEXIST;
    if (static_cast<size_t>(fd) >= slot_of_.size()) slot_of_.resize(fd + 1, -1);
    slot_of_[fd] = static_cast<int>(fds_.size());
    fds_.push_back(pollfd{fd, ToPoll(events), 0});
    interest_.push_back(Interest{events, mode});
    return 0;
  }

  int Modify(int fd, uint32_t, uint32_t, uint32_t events, uint32_t mode) override {
    if (mode & kModeEdge) return EINVAL;
    int slot = Slot(fd);
    if (slot < 0) return ENOENT;
    fds_[slot].fd = fd;  // re-arms a parked oneshot entry
    fds_[slot].events = ToPoll(events);
    interest_[slot] = Interest{events, mode};
    return 0;
  }

  int Remove(int fd, uint32_t) override {
    int slot = Slot(fd);
    if (slot < 0) return ENOENT;
    int last = static_cast<int>(fds_.size()) - 1;
    if (slot != last) {
      fds_[slot] = fds_[last];
      interest_[slot] = interest_[last];
      slot_of_[RealFd(fds_[slot])] = slot;
    }
    fds_.pop_back();
    interest_.pop_back();
    slot_of_[fd] = -1;
    return 0;
  }

  int Wait(int64_t timeout_ns, ReadyEvent* out, int capacity) override {
    int timeout_ms = -1;
    if (timeout_ns >= 0) {
      int64_t ms = (timeout_ns + 999999) / 1000000;  // never wake early
      timeout_ms = ms > 0x7fffffff ? 0x7fffffff : static_cast<int>(ms);
    }
    int n = poll(fds_.data(), static_cast<nfds_t>(fds_.size()), timeout_ms);
    if (n < 0) return -errno;
    int count = 0;
    for (size_t i = 0; i < fds_.size() && count < n && count < capacity; i++) {
      short re = fds_[i].revents;
      if (re == 0) continue;
      uint32_t registered = interest_[i].events;
      uint32_t mask = 0;
      if (re & (POLLERR | POLLHUP | POLLNVAL)) {
        mask = registered;
      } else {
        if (re & POLLIN) mask |= kEventRead;
        if (re & POLLOUT) mask |= kEventWrite;
      }
      out[count].fd = fds_[i].fd;
      out[count].mask = static_cast<int32_t>(mask & registered);
      count++;
      // Only what is reported disarms: an fd past `capacity` keeps its turn.
      if (interest_[i].mode & kModeOneshot) fds_[i].fd = ~fds_[i].fd;
    }
    return count;
  }

  void Close() override {}

 private:
  struct Interest {
    uint32_t events;
    uint32_t mode;
  };

  int Slot(int fd) const {
    return static_cast<size_t>(fd) < slot_of_.size() ? slot_of_[fd] : -1;
  }

  std::vector<pollfd> fds_;
  std::vector<Interest> interest_;  // parallel to fds_
  std::vector<int> slot_of_;        // fd -> index in fds_, or -1
};

}  // namespace

std::unique_ptr<Backend> MakePollBackend(int*) {
  return std::make_unique<PollBackend>();
}

}  // namespace ns
