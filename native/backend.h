// The readiness backend: the one interface that epoll, kqueue and poll(2)
// implement. Everything above it (EINTR, deadlines, the wake-up pipe, the JS
// result buffer) lives once in selector.cc, so a backend only translates
// interest masks and calls its OS primitive.
#pragma once

#include <cstdint>
#include <memory>

namespace ns {

enum : uint32_t { kEventRead = 1, kEventWrite = 2 };

// Trigger mode bits of a registration, as smol-rs/polling's PollMode:
// 0 is level-triggered; kModeEdge reports once per new readiness
// (EPOLLET, EV_CLEAR); kModeOneshot reports once, then nothing until the
// next Modify re-arms the fd (which stays registered). Both bits together
// are edge-oneshot. The numbers are shared with src/selector.ts.
enum : uint32_t { kModeLevel = 0, kModeEdge = 1, kModeOneshot = 2 };
constexpr uint32_t kModeAll = kModeEdge | kModeOneshot;

// One ready fd, as written into the caller's buffer.
struct ReadyEvent {
  int32_t fd;
  int32_t mask;
};

class Backend {
 public:
  virtual ~Backend() = default;

  // The pollable fd that becomes readable when an event is pending, or -1
  // (poll(2) has none).
  virtual int Fd() const = 0;

  // Each returns 0 or an errno. `events` is a non-empty subset of
  // kEventRead | kEventWrite and `mode` a subset of kModeAll, already
  // validated by the caller; a mode the backend cannot do is EINVAL.
  // Modify is also how a oneshot fd is re-armed: it must re-arm even when
  // events and mode are unchanged.
  virtual int Add(int fd, uint32_t events, uint32_t mode) = 0;
  virtual int Modify(int fd, uint32_t old_events, uint32_t old_mode, uint32_t events,
                     uint32_t mode) = 0;
  virtual int Remove(int fd, uint32_t events) = 0;

  // One wait of at most timeout_ns (-1: forever, 0: poll), rounded up to the
  // primitive's resolution. Writes at most `capacity` events, each mask
  // already intersected with the fd's interest (error and hang-up count as
  // every registered event). Returns the count or -errno; EINTR is returned,
  // not retried: the caller owns the deadline.
  virtual int Wait(int64_t timeout_ns, ReadyEvent* out, int capacity) = 0;

  // Releases the backend's own fd, once.
  virtual void Close() = 0;
};

// Factories return nullptr and set *err when the OS refuses; a backend not
// compiled into this build reports ENOSYS.
std::unique_ptr<Backend> MakeEpollBackend(int* err);
std::unique_ptr<Backend> MakeKqueueBackend(int* err);
std::unique_ptr<Backend> MakePollBackend(int* err);

bool HasEpollBackend();
bool HasKqueueBackend();

}  // namespace ns
