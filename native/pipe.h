// A close-on-exec, non-blocking pipe: the wake-up pipes of selectors, Wakers
// off Linux and SignalReaders. macOS has no pipe2, so there the flags are set
// after the fact (no other thread forks in between: Node does not fork).
#pragma once

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

namespace ns {

// 0, or the errno of pipe(2).
inline int OpenPipe(int fds[2]) {
#if defined(__linux__) || defined(__FreeBSD__) || defined(__NetBSD__) || defined(__OpenBSD__)
  if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0) return errno;
#else
  if (pipe(fds) != 0) return errno;
  for (int i = 0; i < 2; i++) {
    fcntl(fds[i], F_SETFD, FD_CLOEXEC);
    fcntl(fds[i], F_SETFL, fcntl(fds[i], F_GETFL) | O_NONBLOCK);
  }
#endif
  return 0;
}

}  // namespace ns
