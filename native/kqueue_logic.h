// The kqueue backend's logic, apart from the kevent() call: which filter
// changes register/modify/remove make (and undo), how many events to ask
// the kernel for, and how a list of returned events becomes one (fd, mask)
// entry per fd. It needs no <sys/event.h>, so it builds on every platform
// and a test can drive it with scripted kernel answers (kqueue_testing.cc).
//
// The flag and action values are those of every kqueue (XNU, the BSDs,
// libkqueue; kqueue.cc checks them). Filter codes differ (NetBSD numbers
// them from 0), so State is given the system's.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "backend.h"

namespace ns {
namespace kq {

// EVFILT_READ and EVFILT_WRITE on XNU, FreeBSD, OpenBSD and libkqueue.
constexpr int32_t kFilterRead = -1;
constexpr int32_t kFilterWrite = -2;
constexpr uint16_t kActionAdd = 0x0001;      // EV_ADD
constexpr uint16_t kActionDelete = 0x0002;   // EV_DELETE
constexpr uint16_t kActionEnable = 0x0004;   // EV_ENABLE
constexpr uint16_t kActionDisable = 0x0008;  // EV_DISABLE
constexpr uint16_t kFlagClear = 0x0020;      // EV_CLEAR
constexpr uint16_t kFlagDispatch = 0x0080;   // EV_DISPATCH
constexpr uint16_t kFlagError = 0x4000;     // EV_ERROR
constexpr uint16_t kFlagEof = 0x8000;       // EV_EOF

// The fields of a returned kevent that the translation reads, for callers
// without <sys/event.h>; `struct kevent` has the same names.
struct Event {
  uintptr_t ident;
  int32_t filter;
  uint32_t flags;
};

// The flags a filter is added with for a trigger mode (backend.h): edge is
// EV_CLEAR; oneshot is EV_DISPATCH, which disables the filter after one
// event but keeps it (EV_ONESHOT would delete it, and Modify re-arms with
// EV_ENABLE). The kernel reads these at EV_ADD only: no later change
// updates them on a live filter.
inline uint16_t ModeFlags(uint32_t mode) {
  return static_cast<uint16_t>(((mode & kModeEdge) ? kFlagClear : 0) |
                               ((mode & kModeOneshot) ? kFlagDispatch : 0));
}

// The one system call the change logic makes: apply one change (`flags`:
// an action with ModeFlags, to one filter of one fd) and return 0 or an errno.
class Kernel {
 public:
  virtual int Change(int fd, int32_t filter, uint16_t flags) = 0;

 protected:
  ~Kernel() = default;
};

// kevent() timeout for Wait's timeout_ns (-1: none). XNU rejects tv_sec
// above INT32_MAX with EINVAL; ~68 years is as good as forever (FreeBSD
// treats larger values so), and the selector waits again if it ever ends.
struct Timeout {
  bool infinite;
  int64_t sec;
  int64_t nsec;
};
Timeout ToTimeout(int64_t timeout_ns);

class State {
 public:
  State(Kernel* kernel, int32_t read_filter, int32_t write_filter)
      : kernel_(kernel), filters_{read_filter, write_filter} {}

  // Backend::Add/Modify/Remove. On failure the kernel is left with at most
  // the filters the fd had before the call.
  int Add(int fd, uint32_t events, uint32_t mode);
  int Modify(int fd, uint32_t old_events, uint32_t old_mode, uint32_t events, uint32_t mode);
  int Remove(int fd, uint32_t events);

  // The EV_DISABLE changes owed to the kernel, at most `max`, each passed
  // to emit(fd, filter); the rest stay owed. Wait sends them with its
  // kevent() (no call of their own): EV_DISPATCH disables only the filter
  // that fired, and a oneshot fd is reported once as a whole, so its other
  // filter is disabled too, before the kernel next looks for events. A
  // change that fails comes back as an EV_ERROR entry, which Collect
  // ignores, as everything else for a disarmed fd.
  template <class Emit>
  int TakeDisables(int max, Emit&& emit) {
    int n = 0;
    size_t keep = 0;
    for (int fd : owed_) {
      Slot& s = slots_[fd];
      for (int32_t filter : filters_) {
        if (n == max || !(s.owed & EventOf(filter))) continue;
        emit(fd, filter);
        n++;
        s.owed &= ~EventOf(filter);
      }
      if (s.owed != 0) owed_[keep++] = fd;
    }
    owed_.resize(keep);
    return n;
  }

  // How many events to ask kevent() for, for `capacity` entries: one per
  // filter while every watched fd fits, so that both filters of each fit;
  // otherwise one per entry, so that every event taken from the kernel fits
  // (the kernel keeps the rest queued for the next wait).
  int EventSlots(int capacity) const {
    return live_ <= static_cast<size_t>(capacity) ? 2 * capacity : capacity;
  }

  // Turns `n` returned events into at most `capacity` entries, one per fd,
  // each mask the fd's interest. Returns the count. A filter that fires for
  // an fd that does not want it (left by a failed change) is deleted, lest
  // it wake every wait with nothing to report. A oneshot fd with an entry
  // is disarmed: nothing more for it until Add or Modify.
  template <class Ev>
  int Collect(const Ev* events, int n, ReadyEvent* out, int capacity) {
    NextRound();
    int count = 0;
    for (int i = 0; i < n; i++) {
      count = Take(static_cast<uintptr_t>(events[i].ident), static_cast<int32_t>(events[i].filter),
                   static_cast<uint32_t>(events[i].flags), out, count, capacity);
    }
    for (int i = 0; i < count; i++) Disarm(out[i].fd);
    return count;
  }

 private:
  struct Slot {
    uint32_t interest = 0;
    uint32_t mode = 0;
    bool disarmed = false;  // a oneshot fd already reported
    uint32_t owed = 0;      // filters to disable (TakeDisables)
    uint32_t fired = 0;     // filters that fired this round (valid while stamp == stamp_)
    uint32_t stamp = 0;     // == stamp_: already has an entry at out[index]
    uint32_t index = 0;
  };

  uint32_t Interest(int fd) const {
    return fd >= 0 && static_cast<size_t>(fd) < slots_.size() ? slots_[fd].interest : 0;
  }
  // Sets the fd's interest and mode, and re-arms it (nothing owed).
  void SetInterest(int fd, uint32_t events, uint32_t mode = kModeLevel);
  void Disarm(int fd);
  // Deletes each filter in `filters` with its own change; returns how many
  // went, and the first error in *err.
  int DeleteEach(int fd, uint32_t filters, int* err);
  void NextRound();
  int Take(uintptr_t ident, int32_t filter, uint32_t flags, ReadyEvent* out, int count,
           int capacity);
  // kEventRead or kEventWrite for filters_[0] or [1], else 0.
  uint32_t EventOf(int32_t filter) const {
    if (filter == filters_[0]) return kEventRead;
    return filter == filters_[1] ? kEventWrite : 0u;
  }

  Kernel* kernel_;
  int32_t filters_[2];  // read, write
  size_t live_ = 0;     // fds with a non-zero interest
  uint32_t stamp_ = 0;  // one per Collect
  std::vector<Slot> slots_;  // indexed by fd
  std::vector<int> owed_;    // fds that may have Slot::owed set
};

}  // namespace kq
}  // namespace ns
