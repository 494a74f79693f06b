// See kqueue_logic.h. Each filter is changed with its own call: a kevent()
// with several changes and no room for receipts stops at the first failing
// one and does not say which, and the BSDs and libkqueue fail differently.
#include "kqueue_logic.h"

#include <cerrno>

namespace ns {
namespace kq {

Timeout ToTimeout(int64_t timeout_ns) {
  if (timeout_ns < 0) return {true, 0, 0};
  constexpr int64_t kMaxSec = 2147483647;  // INT32_MAX
  int64_t sec = timeout_ns / 1000000000;
  if (sec >= kMaxSec) return {false, kMaxSec, 0};
  return {false, sec, timeout_ns % 1000000000};
}

int State::Add(int fd, uint32_t events, uint32_t mode) {
  int err;
  if (uint32_t stale = Interest(fd)) {
    // This fd number was closed without Remove and has been reused. The
    // kernel dropped its filters at close(), but libkqueue cannot notice a
    // close and keeps them, and would refuse the EV_ADD: drop them first.
    DeleteEach(fd, stale, &err);
    SetInterest(fd, 0);
  }
  uint32_t added = 0;
  for (int32_t filter : filters_) {
    if (!(events & EventOf(filter))) continue;
    err = kernel_->Change(fd, filter, kActionAdd | ModeFlags(mode));
    if (err != 0) {
      int ignored;
      DeleteEach(fd, added, &ignored);
      return err;
    }
    added |= EventOf(filter);
  }
  SetInterest(fd, events, mode);
  return 0;
}

int State::Modify(int fd, uint32_t old_events, uint32_t old_mode, uint32_t events,
                  uint32_t mode) {
  const uint16_t flags = ModeFlags(mode);
  uint32_t added = 0;
  int err = 0;
  for (int32_t filter : filters_) {
    if (!(events & ~old_events & EventOf(filter))) continue;
    err = kernel_->Change(fd, filter, kActionAdd | flags);
    if (err != 0) break;
    added |= EventOf(filter);
  }
  // A kept filter stays as it is in the same mode, re-enabled if oneshot
  // (the re-arm; a no-op on one that never fired). In another mode it is
  // made anew: EV_ADD does not change the flags of a live filter.
  for (int32_t filter : filters_) {
    if (err != 0) break;
    if (!(events & old_events & EventOf(filter))) continue;
    if (mode == old_mode) {
      if (mode & kModeOneshot) err = kernel_->Change(fd, filter, kActionEnable);
      continue;
    }
    err = kernel_->Change(fd, filter, kActionDelete);
    if (err == ENOENT || err == EBADF) err = 0;  // gone with a close(), as below
    if (err == 0) err = kernel_->Change(fd, filter, kActionAdd | flags);
  }
  for (int32_t filter : filters_) {
    if (err != 0) break;
    if (!(old_events & ~events & EventOf(filter))) continue;
    err = kernel_->Change(fd, filter, kActionDelete);
    // Already gone: the fd was closed since (the kernel drops its filters
    // then) and the number may hold a new file, which the add just watched.
    if (err == ENOENT || err == EBADF) err = 0;
  }
  if (err != 0) {
    // Leave no more than the fd had: the caller forgets it next and
    // removes only the old filters.
    int ignored;
    DeleteEach(fd, added, &ignored);
    return err;
  }
  SetInterest(fd, events, mode);
  return 0;
}

int State::Remove(int fd, uint32_t events) {
  int err = 0;
  int removed = DeleteEach(fd, events | Interest(fd), &err);
  SetInterest(fd, 0);
  // Something was removed: whatever else failed was already gone.
  return removed > 0 ? 0 : err;
}

int State::DeleteEach(int fd, uint32_t filters, int* err) {
  *err = 0;
  int removed = 0;
  for (int32_t filter : filters_) {
    if (!(filters & EventOf(filter))) continue;
    int e = kernel_->Change(fd, filter, kActionDelete);
    if (e == 0) {
      removed++;
    } else if (*err == 0) {
      *err = e;
    }
  }
  return removed;
}

void State::SetInterest(int fd, uint32_t events, uint32_t mode) {
  if (fd < 0) return;
  if (static_cast<size_t>(fd) >= slots_.size()) {
    if (events == 0) return;
    slots_.resize(static_cast<size_t>(fd) + 1);
  }
  Slot& slot = slots_[fd];
  live_ += (events != 0) - (slot.interest != 0);
  slot.interest = events;
  slot.mode = events != 0 ? mode : kModeLevel;
  slot.disarmed = false;
  slot.owed = 0;  // a stale entry in owed_ is skipped
}

void State::Disarm(int fd) {
  Slot& slot = slots_[fd];  // it has an entry, so an interest and a slot
  if (!(slot.mode & kModeOneshot) || slot.disarmed) return;
  slot.disarmed = true;
  // EV_DISPATCH disabled the filters that fired; the others are owed.
  uint32_t owed = slot.interest & ~slot.fired;
  if (owed != 0 && slot.owed == 0) owed_.push_back(fd);
  slot.owed |= owed;
}

void State::NextRound() {
  // A stamp per round marks which fds already have an entry, so nothing
  // needs clearing between rounds.
  if (++stamp_ == 0) {
    for (Slot& s : slots_) s.stamp = 0;
    stamp_ = 1;
  }
}

int State::Take(uintptr_t ident, int32_t filter, uint32_t flags, ReadyEvent* out, int count,
                int capacity) {
  uint32_t event = EventOf(filter);
  if (event == 0 || ident > 0x7fffffff) return count;
  int fd = static_cast<int>(ident);
  // Reported once already: nothing until re-armed, not even the error of
  // a disable that met a closed fd.
  if (Interest(fd) != 0 && slots_[fd].disarmed) return count;
  uint32_t mask;
  if (flags & kFlagError) {
    // An error for the fd, not readiness (data holds the errno): like an
    // epoll or poll error, every registered event, so that the caller's
    // next call on the fd meets it.
    mask = Interest(fd);
  } else {
    // EV_EOF changes nothing: on the read filter it is a readable end of
    // file; on the write filter it means nothing more can be sent (our own
    // shutdown(SHUT_WR), or the connection is gone, which fires the read
    // filter too), and says nothing about reading.
    mask = event & Interest(fd);
    if (mask == 0) {
      int ignored = kernel_->Change(fd, filter, kActionDelete);
      (void)ignored;
    }
  }
  if (mask == 0) return count;
  Slot& slot = slots_[fd];  // mask != 0: the fd has an interest, so a slot
  uint32_t fired = (flags & kFlagError) ? 0 : event;
  if (slot.stamp == stamp_) {
    out[slot.index].mask |= static_cast<int32_t>(mask);
    slot.fired |= fired;
    return count;
  }
  // Unreachable while EventSlots sized the request (at most one entry per
  // watched fd, or per event taken); kept as the bound on `out`.
  if (count >= capacity) return count;
  slot.stamp = stamp_;
  slot.fired = fired;
  slot.index = static_cast<uint32_t>(count);
  out[count].fd = fd;
  out[count].mask = static_cast<int32_t>(mask);
  return count + 1;
}

}  // namespace kq
}  // namespace ns
