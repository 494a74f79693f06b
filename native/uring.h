// What uring.cc (the ring) and uring_probe.cc (whether a ring can run here)
// share.
#pragma once

#include <napi.h>

#if defined(NS_HAVE_LIBURING)
#include <liburing.h>
#endif

namespace ns {

#if defined(NS_HAVE_LIBURING)
// Sets up `ring` with the cheapest flags this kernel takes; 0 or an errno.
int SetupRing(io_uring* ring, unsigned entries);
#endif

// uring.probe() -> '' when a ring can be used here, else why not.
Napi::Value UringProbe(const Napi::CallbackInfo& info);

}  // namespace ns
