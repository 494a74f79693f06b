// The io_uring mechanics of the loop's completion mode: one ring per loop,
// filled from a submission list that JavaScript writes into an Int32Array,
// and drained into another, so that a whole loop iteration (every queued
// send, receive, accept, connect and cancel, plus the wait for the next
// completion or timer) costs one call into the addon and one io_uring_enter.
// What to submit and when is decided in src/loop/uring.ts.
//
// Built only where liburing's header was found (binding.gyp and
// CMakeLists.txt define NS_HAVE_LIBURING and link liburing.a statically, so
// the addon needs nothing at run time); elsewhere only uring_probe.cc's
// probe is exported, to say why not.
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <cmath>
#include <string>

#include "addon.h"
#include "fd_watch.h"
#include "uring.h"

#if defined(NS_HAVE_LIBURING)
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#endif

namespace ns {
namespace {

#if defined(NS_HAVE_LIBURING)

// One submission record, as src/loop/uring.ts writes it (Int32 fields).
enum Field { kOp, kFd, kUser, kOffset, kLength, kFlags, kFields };
// The record's operations. The byte range of RECV/SEND and the sockaddr of
// CONNECT come from the JS array passed alongside, at the record's index.
enum Op {
  kRecv = 1, kSend = 2, kAccept = 3, kConnect = 4, kCancel = 5, kPollIn = 6,
  // A multishot receive into the provided buffers (setupBuffers).
  kRecvMulti = 7,
  // Not a request: buffer kOffset of the provided buffers goes back to the kernel.
  kBufReturn = 8,
};
// The one buffer group of a ring's provided buffers.
constexpr int kBufGroup = 0;
// user_data values below 1 are the loop's own requests (the selector poll,
// cancels); only requests with user_data >= 1 count as in flight.

// As selector.cc: a blocking wait sleeps at most this long at a time, then
// checks whether Node is stopping the thread (worker.terminate()).
constexpr int64_t kStopCheckNs = 250 * 1000000LL;

int64_t MonotonicNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

class NativeRing : public Napi::ObjectWrap<NativeRing>, public EnvResource {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "NativeRing",
                       {
                           InstanceMethod<&NativeRing::Enter>("enter"),
                           InstanceMethod<&NativeRing::StartWatch>("startWatch"),
                           InstanceMethod<&NativeRing::SetupBuffers>("setupBuffers"),
                           InstanceMethod<&NativeRing::StopWatch>("stopWatch"),
                           InstanceMethod<&NativeRing::Close>("close"),
                       });
  }

  // new NativeRing(entries)
  explicit NativeRing(const Napi::CallbackInfo& info)
      : Napi::ObjectWrap<NativeRing>(info), instance_(Instance::Of(info.Env())) {
    Napi::Env env = info.Env();
    instance_->Add(this);
    int entries;
    if (!ArgInt(info, 0, &entries)) return;
    if (entries < 1 || entries > 32768) {
      Napi::RangeError::New(env, "entries must be 1..32768").ThrowAsJavaScriptException();
      return;
    }
    int err = SetupRing(&ring_, static_cast<unsigned>(entries));
    if (err != 0) {
      Napi::Error e = Napi::Error::New(env, std::string("io_uring_setup: ") + strerror(err));
      e.Set("errno", Napi::Number::New(env, err));
      e.ThrowAsJavaScriptException();
      return;
    }
    open_ = true;
    defer_ = (ring_.flags & IORING_SETUP_DEFER_TASKRUN) != 0;
  }

  ~NativeRing() override {
    Release();
    instance_->Remove(this);
  }

  // A worker's teardown (returned, process.exit(), terminate()) closes the ring.
  void ReleaseAtTeardown() override { Release(); }

 private:
  bool Open(Napi::Env env) {
    if (open_) return true;
    Napi::Error::New(env, "io_uring is closed").ThrowAsJavaScriptException();
    return false;
  }

  io_uring_sqe* NextSqe() {
    io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
    if (sqe == nullptr) {
      // Full: hand what is queued to the kernel, then there is room.
      io_uring_submit(&ring_);
      sqe = io_uring_get_sqe(&ring_);
    }
    return sqe;
  }

  // The bytes of bufs[i] (a Uint8Array), or false with a TypeError thrown.
  static bool BufferAt(Napi::Env env, napi_value bufs, uint32_t i, uint8_t** data, size_t* length) {
    napi_value v;
    bool is_typed = false;
    napi_typedarray_type type;
    void* base = nullptr;
    if (napi_get_element(env, bufs, i, &v) != napi_ok || napi_is_typedarray(env, v, &is_typed) != napi_ok ||
        !is_typed || napi_get_typedarray_info(env, v, &type, length, &base, nullptr, nullptr) != napi_ok ||
        type != napi_uint8_array) {
      Napi::TypeError::New(env, "submission " + std::to_string(i) + " needs a Uint8Array")
          .ThrowAsJavaScriptException();
      return false;
    }
    *data = static_cast<uint8_t*>(base);
    return true;
  }

  // enter(count, sq: Int32Array, bufs: Array, timeoutMs, cq: Int32Array) -> completions | -errno
  // Queues the `count` records of `sq`, submits them and waits at most
  // timeoutMs (< 0: no limit, 0: do not wait) for a first completion, then
  // writes every completion there is as (user_data, res) pairs into `cq`.
  Napi::Value Enter(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    int count;
    double timeout_ms;
    if (!Open(env) || !ArgInt(info, 0, &count) || !ArgDouble(info, 3, &timeout_ms)) return {};
    if (!info[1].IsTypedArray() || info[1].As<Napi::TypedArray>().TypedArrayType() != napi_int32_array ||
        !info[4].IsTypedArray() || info[4].As<Napi::TypedArray>().TypedArrayType() != napi_int32_array ||
        !info[2].IsArray()) {
      Napi::TypeError::New(env, "enter(count, sq: Int32Array, bufs: Array, timeoutMs, cq: Int32Array)")
          .ThrowAsJavaScriptException();
      return {};
    }
    Napi::Int32Array sq = info[1].As<Napi::Int32Array>();
    Napi::Int32Array cq = info[4].As<Napi::Int32Array>();
    if (count < 0 || static_cast<size_t>(count) * kFields > sq.ElementLength() || cq.ElementLength() < 3) {
      Napi::RangeError::New(env, "count is outside the submission array").ThrowAsJavaScriptException();
      return {};
    }
    napi_value bufs = info[2];
    const int32_t* rec = sq.Data();
    int returned = 0;
    for (int i = 0; i < count; i++, rec += kFields) {
      if (rec[kOp] == kBufReturn) {
        if (ReturnBuffer(rec[kOffset], returned)) returned++;
        continue;
      }
      if (!Prepare(env, rec, bufs, static_cast<uint32_t>(i))) {
        if (returned > 0) io_uring_buf_ring_advance(buf_ring_, returned);
        return {};
      }
    }
    // Seen by the kernel before the submissions below can pick a buffer.
    if (returned > 0) io_uring_buf_ring_advance(buf_ring_, returned);

    int rc;
    if (timeout_ms == 0 || std::isnan(timeout_ms)) {
      // No wait, but deferred task work must still run to post completions.
      rc = defer_ ? io_uring_submit_and_get_events(&ring_) : io_uring_submit(&ring_);
    } else {
      rc = WaitFor(env, timeout_ms);
    }
    if (rc < 0 && rc != -ETIME && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY) return Errno(env, -rc);
    return Napi::Number::New(env, Reap(cq));
  }

  bool Prepare(Napi::Env env, const int32_t* rec, napi_value bufs, uint32_t i) {
    int fd = rec[kFd];
    uint64_t user = static_cast<uint64_t>(static_cast<int64_t>(rec[kUser]));
    io_uring_sqe* sqe = NextSqe();
    if (sqe == nullptr) {
      Napi::Error::New(env, "io_uring submission queue is full").ThrowAsJavaScriptException();
      return false;
    }
    // A refused record still holds its slot: make it a no-op nobody waits for.
    auto refuse = [sqe]() {
      io_uring_prep_nop(sqe);
      io_uring_sqe_set_data64(sqe, static_cast<uint64_t>(-1));
      return false;
    };
    uint8_t* data = nullptr;
    size_t length = 0;
    switch (rec[kOp]) {
      case kRecv:
      case kSend: {
        if (!BufferAt(env, bufs, i, &data, &length)) return refuse();
        size_t offset = static_cast<uint32_t>(rec[kOffset]), len = static_cast<uint32_t>(rec[kLength]);
        if (offset > length || len > length - offset) {
          Napi::RangeError::New(env, "byte range is outside the buffer").ThrowAsJavaScriptException();
          return refuse();
        }
        if (rec[kOp] == kRecv) {
          io_uring_prep_recv(sqe, fd, data + offset, len, 0);
          // The last read was short: the socket is most likely empty, so
          // wait for data before trying (saves a failed attempt).
          if (rec[kFlags] != 0) sqe->ioprio |= IORING_RECVSEND_POLL_FIRST;
        } else {
          io_uring_prep_send(sqe, fd, data + offset, len, MSG_NOSIGNAL);
        }
        break;
      }
      case kAccept:
        // Non-blocking at once, as the loop wants it. The peer's address is
        // read afterwards (getpeername): accepts are
        // rare next to receives, and it keeps native memory out of flight.
        io_uring_prep_accept(sqe, fd, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
        break;
      case kConnect:
        if (!BufferAt(env, bufs, i, &data, &length)) return refuse();
        if (length < sizeof(sa_family_t) || length > sizeof(sockaddr_storage)) {
          Napi::RangeError::New(env, "address has a bad size").ThrowAsJavaScriptException();
          return refuse();
        }
        io_uring_prep_connect(sqe, fd, reinterpret_cast<sockaddr*>(data), static_cast<socklen_t>(length));
        break;
      case kCancel:
        io_uring_prep_cancel64(sqe, static_cast<uint64_t>(static_cast<int64_t>(rec[kOffset])), 0);
        break;
      case kPollIn:
        io_uring_prep_poll_add(sqe, fd, POLLIN);
        break;
      case kRecvMulti:
        if (buf_ring_ == nullptr) {
          Napi::Error::New(env, "no provided buffers (setupBuffers)").ThrowAsJavaScriptException();
          return refuse();
        }
        io_uring_prep_recv_multishot(sqe, fd, nullptr, 0, 0);
        sqe->flags |= IOSQE_BUFFER_SELECT;
        sqe->buf_group = kBufGroup;
        break;
      default:
        Napi::RangeError::New(env, "unknown submission op").ThrowAsJavaScriptException();
        return refuse();
    }
    io_uring_sqe_set_data64(sqe, user);
    return true;
  }

  // Submits and waits for a first completion (timeout_ms < 0: no limit),
  // in slices of kStopCheckNs, retrying EINTR with what is left.
  int WaitFor(Napi::Env env, double timeout_ms) {
    io_uring_cqe* cqe = nullptr;
    int64_t left = -1;
    if (timeout_ms > 0) {
      double ns = std::ceil(timeout_ms * 1e6);
      left = ns > 9.2e18 ? INT64_MAX / 2 : static_cast<int64_t>(ns);
    }
    const int64_t deadline = left > 0 ? MonotonicNs() + left : 0;
    for (;;) {
      bool sliced = left < 0 || left > kStopCheckNs;
      int64_t wait = sliced ? kStopCheckNs : left;
      __kernel_timespec ts{};
      ts.tv_sec = wait / 1000000000;
      ts.tv_nsec = wait % 1000000000;
      int rc = io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, &ts, nullptr);
      if (rc != -EINTR && rc != -ETIME) return rc;
      // Back to JS with nothing: V8 then ends the thread as asked.
      if (sliced && Instance::Stopping(env)) return -ETIME;
      if (left >= 0) {
        left = deadline - MonotonicNs();
        if (left <= 0) return -ETIME;
      }
    }
  }

  // Copies every posted completion into cq as (user_data, res, flags)
  // (as many as fit; the rest wait for the next call) and marks them seen.
  int Reap(Napi::Int32Array& cq) {
    int32_t* out = cq.Data();
    const unsigned capacity = static_cast<unsigned>(cq.ElementLength() / 3);
    unsigned head, n = 0;
    io_uring_cqe* cqe;
    io_uring_for_each_cqe(&ring_, head, cqe) {
      if (n == capacity) break;
      out[3 * n] = static_cast<int32_t>(static_cast<int64_t>(cqe->user_data));
      out[3 * n + 1] = cqe->res;
      out[3 * n + 2] = static_cast<int32_t>(cqe->flags);
      n++;
    }
    io_uring_cq_advance(&ring_, n);
    return static_cast<int>(n);
  }

  // setupBuffers(memory: ArrayBuffer, count, size) -> 0 | -errno: registers
  // `count` (a power of two) buffers of `size` bytes, laid end to end in
  // `memory`, as the ring's provided buffers, numbered 0..count-1. The ring
  // holds `memory` until it closes (the kernel writes into it).
  Napi::Value SetupBuffers(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    int count, size;
    if (!Open(env) || !ArgInt(info, 1, &count) || !ArgInt(info, 2, &size)) return {};
    if (!info[0].IsArrayBuffer()) {
      Napi::TypeError::New(env, "memory must be an ArrayBuffer").ThrowAsJavaScriptException();
      return {};
    }
    Napi::ArrayBuffer memory = info[0].As<Napi::ArrayBuffer>();
    if (buf_ring_ != nullptr || count < 1 || count > 32768 || (count & (count - 1)) != 0 || size < 1 ||
        static_cast<size_t>(count) * static_cast<size_t>(size) > memory.ByteLength()) {
      Napi::RangeError::New(env, "bad provided-buffer layout").ThrowAsJavaScriptException();
      return {};
    }
    size_t ring_bytes = static_cast<size_t>(count) * sizeof(io_uring_buf);
    void* mem = mmap(nullptr, ring_bytes, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    if (mem == MAP_FAILED) return Errno(env, errno);
    auto* br = static_cast<io_uring_buf_ring*>(mem);
    io_uring_buf_ring_init(br);
    io_uring_buf_reg reg{};
    reg.ring_addr = reinterpret_cast<uint64_t>(br);
    reg.ring_entries = static_cast<uint32_t>(count);
    reg.bgid = kBufGroup;
    int rc = io_uring_register_buf_ring(&ring_, &reg, 0);
    if (rc < 0) {
      munmap(mem, ring_bytes);
      return Errno(env, -rc);
    }
    buf_ring_ = br;
    buf_ring_bytes_ = ring_bytes;
    buf_count_ = count;
    buf_size_ = size;
    buf_base_ = static_cast<uint8_t*>(memory.Data());
    buf_memory_ = Napi::Persistent(memory);
    for (int i = 0; i < count; i++) ReturnBuffer(i, i);
    io_uring_buf_ring_advance(buf_ring_, count);
    return Napi::Number::New(env, 0);
  }

  // Puts buffer `bid` at slot `at` past the ring's tail (advanced by the caller).
  bool ReturnBuffer(int bid, int at) {
    if (buf_ring_ == nullptr || bid < 0 || bid >= buf_count_) return false;
    io_uring_buf_ring_add(buf_ring_, buf_base_ + static_cast<size_t>(bid) * buf_size_, static_cast<unsigned>(buf_size_),
                          static_cast<unsigned short>(bid), io_uring_buf_ring_mask(buf_count_), at);
    return true;
  }

  // startWatch(callback) -> 0 | -errno: libuv calls `callback` on this
  // thread whenever the ring posts a completion (runAsync), through an
  // eventfd registered with the ring.
  Napi::Value StartWatch(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!Open(env)) return {};
    if (!info[0].IsFunction()) {
      Napi::TypeError::New(env, "callback must be a function").ThrowAsJavaScriptException();
      return {};
    }
    if (event_fd_ < 0) {
      int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
      if (fd < 0) return Errno(env, errno);
      int rc = io_uring_register_eventfd(&ring_, fd);
      if (rc < 0) {
        close(fd);
        return Errno(env, -rc);
      }
      event_fd_ = fd;
    }
    return Napi::Number::New(
        env, watch_.Start(env, instance_, event_fd_, info[0].As<Napi::Function>(), true));
  }

  Napi::Value StopWatch(const Napi::CallbackInfo& info) {
    watch_.Stop();
    return info.Env().Undefined();
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    Release();
    return info.Env().Undefined();
  }

  // The one close path (close(), the finalizer, a worker's teardown):
  // requests still in flight are cancelled by the kernel as the ring goes.
  void Release() {
    watch_.Stop();
    if (open_) {
      io_uring_queue_exit(&ring_);
      open_ = false;
    }
    // Only now that the kernel no longer writes into them.
    if (buf_ring_ != nullptr) {
      munmap(buf_ring_, buf_ring_bytes_);
      buf_ring_ = nullptr;
      buf_memory_.Reset();
    }
    if (event_fd_ >= 0) close(event_fd_);
    event_fd_ = -1;
  }

  io_uring ring_{};
  bool open_ = false;
  bool defer_ = false;
  int event_fd_ = -1;
  // The provided buffers (setupBuffers), if any.
  io_uring_buf_ring* buf_ring_ = nullptr;
  size_t buf_ring_bytes_ = 0;
  int buf_count_ = 0;
  int buf_size_ = 0;
  uint8_t* buf_base_ = nullptr;
  Napi::Reference<Napi::ArrayBuffer> buf_memory_;
  Instance* instance_;
  FdWatch watch_;
};

#endif  // NS_HAVE_LIBURING

}  // namespace

void InitUring(Napi::Env env, Napi::Object exports) {
  Napi::Object u = Napi::Object::New(env);
  // uringProbe() -> '' when a ring can be used here, else why not.
  u.Set("probe", Napi::Function::New<UringProbe>(env, "probe"));
#if defined(NS_HAVE_LIBURING)
  u.Set("NativeRing", NativeRing::Define(env));
#endif
  exports.Set("uring", u);
}

}  // namespace ns
