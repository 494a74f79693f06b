// Signal delivery into selectors. Signal dispositions are process-wide, so
// this is the addon's one piece of shared state: a fixed table of
// (signal, wake-up pipe) slots that the async-signal-safe handler walks,
// writing the signal number as one byte into each watching pipe. A loop in
// any thread (worker_threads included) then sees its select return and
// reads which signals arrived.
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include <atomic>
#include <mutex>

#include "addon.h"

namespace ns {
namespace {

constexpr int kSlots = 256;
constexpr int kMaxSignal = 64;

struct Slot {
  std::atomic<int> signo{0};
  std::atomic<int> fd{-1};
};

Slot g_slots[kSlots];
std::atomic<int> g_in_handler{0};
std::mutex g_mutex;  // serializes table changes and sigaction calls
struct sigaction g_previous[kMaxSignal];
int g_watchers[kMaxSignal];

// While any selector watches a signal, this handler replaces whatever was
// there (as asyncio's add_signal_handler replaces the Python handler), and
// the old disposition comes back with the last UnwatchSignal. It does not
// chain: Node's previous handlers are a one-shot SIGINT/SIGTERM re-raise that
// would come straight back here, and the inspector's SIGUSR1 hook.
void OnSignal(int signo, siginfo_t*, void*) {
  int saved_errno = errno;
  g_in_handler.fetch_add(1);
  for (Slot& slot : g_slots) {
    if (slot.signo.load() != signo) continue;
    int fd = slot.fd.load();
    uint8_t byte = static_cast<uint8_t>(signo);
    if (fd >= 0) (void)!write(fd, &byte, 1);  // a full pipe already wakes it
  }
  g_in_handler.fetch_sub(1);
  errno = saved_errno;
}

// Called with g_mutex held, after the slot is cleared: a handler running on
// another thread may have loaded the fd just before, so the fd must not be
// closed (and its number reused) until it is done.
void WaitForHandlers() {
  while (g_in_handler.load() != 0) {
  }
}

}  // namespace

int WatchSignal(int signo, int wake_fd) {
  // SIGKILL/SIGSTOP cannot be caught; a handler that returns from a real
  // SIGSEGV/SIGBUS/SIGFPE/SIGILL re-runs the faulting instruction forever.
  if (signo <= 0 || signo >= kMaxSignal || signo == SIGKILL || signo == SIGSTOP ||
      signo == SIGSEGV || signo == SIGBUS || signo == SIGFPE || signo == SIGILL)
    return EINVAL;
  std::lock_guard<std::mutex> lock(g_mutex);
  for (Slot& slot : g_slots) {
    if (slot.signo.load() == signo && slot.fd.load() == wake_fd) return 0;
  }
  Slot* free_slot = nullptr;
  for (Slot& slot : g_slots) {
    if (slot.signo.load() == 0) {
      free_slot = &slot;
      break;
    }
  }
  if (free_slot == nullptr) return ENOSPC;
  if (g_watchers[signo] == 0) {
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_sigaction = OnSignal;
    action.sa_flags = SA_SIGINFO | SA_RESTART;
    sigfillset(&action.sa_mask);
    if (sigaction(signo, &action, &g_previous[signo]) != 0) return errno;
  }
  g_watchers[signo]++;
  free_slot->fd.store(wake_fd);
  free_slot->signo.store(signo);
  return 0;
}

void UnwatchSignal(int signo, int wake_fd) {
  if (signo <= 0 || signo >= kMaxSignal) return;
  std::lock_guard<std::mutex> lock(g_mutex);
  for (Slot& slot : g_slots) {
    if (slot.signo.load() != signo || slot.fd.load() != wake_fd) continue;
    slot.signo.store(0);
    slot.fd.store(-1);
    WaitForHandlers();
    if (--g_watchers[signo] == 0) {
      // Back to what was there before: the default action, or libuv's.
      sigaction(signo, &g_previous[signo], nullptr);
    }
  }
}

void UnwatchAllSignals(int wake_fd) {
  for (int signo = 1; signo < kMaxSignal; signo++) UnwatchSignal(signo, wake_fd);
}

}  // namespace ns
