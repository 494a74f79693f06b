// What the event loop (src/loop/) needs from the socket and selector layers,
// and nothing more: the one way the loop reaches the addon. Internal: not
// exported from the package root.
//
// Socket operations here never throw and never block: they return the byte
// count (or the accepted fd) on success and -errno on failure, because on the
// loop's hot path EAGAIN is the common case, and an exception per "would
// block" would cost more than the system call. The loop turns any other
// errno into a typed error itself (errorFromErrno).
import { MSG_DONTWAIT } from './constants.js';
import { native, type NativeAddress, type NativeRing, type NativeSelector, type Sockaddr } from './native.js';
import { nativeSelectorOf, type Selector } from './selector.js';

export type { NativeRing } from './native.js';
/**
 * claimSelector makes a loop the selector's one owner (it must have nothing
 * registered) and returns the registry only the loop may use from then on.
 */
export { claimSelector, type SelectorRegistry } from './selector.js';
/** The kernel's sockaddr for an Address (host names resolved with getaddrinfo, blocking). */
export { resolveAddress } from './address.js';
/** Sockets tell the loop of a close or detach first: its waiters get an error, not a dead fd. */
export { addCloseWatcher, type CloseWatcher, removeCloseWatcher } from './socket.js';

const sys = native.socket;

/** Accepts a connection on a listening fd: `[fd, peer address]`, or -errno (EAGAIN: none waiting). */
export function tryAccept(fd: number): [number, NativeAddress] | number {
  return sys.accept(fd);
}

/** Reads at most `length` bytes into `buf` at `offset` without waiting: the count (0 at EOF), or -errno. */
export function tryRecvInto(fd: number, buf: Uint8Array, offset: number, length: number): number {
  return sys.recvInto(fd, buf, offset, length, MSG_DONTWAIT);
}

/** Sends what the kernel takes now of `data[offset, offset + length)`: the count, or -errno. */
export function trySend(fd: number, data: Uint8Array, offset: number, length: number): number {
  return sys.send(fd, data, offset, length, MSG_DONTWAIT);
}

/** Reads a datagram (at most `length` bytes) without waiting: `[count, sender]`, or -errno. */
export function tryRecvFrom(fd: number, buf: Uint8Array, offset: number, length: number): [number, NativeAddress] | number {
  return sys.recvFrom(fd, buf, offset, length, MSG_DONTWAIT);
}

/** Sends a datagram of `data[offset, offset + length)` to `to` without waiting: the count, or -errno. */
export function trySendTo(fd: number, data: Uint8Array, offset: number, length: number, to: Sockaddr): number {
  return sys.sendTo(fd, data, offset, length, MSG_DONTWAIT, to);
}

/**
 * Sends up to `count` bytes of file `fileFd` from `offset` on (not its own
 * offset, which stays) with sendfile(2): the count (0 at end of file), or
 * -errno; -ENOSYS where the OS has no sendfile. `sockFd` must be non-blocking.
 */
export function trySendfile(sockFd: number, fileFd: number, offset: number, count: number): number {
  return sys.sendfile(sockFd, fileFd, offset, count);
}

/** pread(2): reads `buf[offset, offset + length)` from `fileFd` at `position`; the count, or -errno. */
export function tryPread(fileFd: number, buf: Uint8Array, offset: number, length: number, position: number): number {
  return sys.pread(fileFd, buf, offset, length, position);
}

/** Closes an fd the loop owns (a connection a cancelled accept got anyway). */
export function closeFd(fd: number): void {
  sys.close(fd);
}

/** True if `fd` is in blocking mode (accept and connect have no per-call "don't wait" flag). */
export function isBlockingFd(fd: number): boolean {
  return sys.getBlocking(fd) === 1;
}

/**
 * Runs pending promise reactions now. A loop that blocks the thread in
 * select calls it so that tasks waiting on promises settled by JS code wake.
 */
export function drainMicrotasks(): void {
  native.drainMicrotasks();
}

/** What the loop needs from a selector beyond its public API: runAsync's wake-ups and signals. */
export interface SelectorHooks {
  /**
   * Has libuv call `callback` on this thread whenever the selector has
   * events (runAsync); 0, or -errno. The poll backend has no fd to watch.
   */
  startWatch(callback: () => void): number;
  stopWatch(): void;
  /** Routes `signo` into the selector's wake-up pipe; 0, or -errno. */
  watchSignal(signo: number): number;
  /** Restores the signal's previous disposition. */
  unwatchSignal(signo: number): void;
  /** The signal numbers that arrived since the last call. */
  takeSignals(): number[];
  /** Closes the kernel object: only for a loop collected unclosed (its finalizer). */
  close(): void;
}

/** The hooks of an open selector (throws if it is closed). */
export function selectorHooks(selector: Selector<unknown>): SelectorHooks {
  const hooks: NativeSelector = nativeSelectorOf(selector);
  return hooks;
}

/** Why an io_uring cannot be used on this thread ('' when it can): asks the kernel. */
export function probeIoUring(): string {
  return native.uring.probe();
}

/** A new ring of `entries` submission slots (throws if the kernel refuses). */
export function openRing(entries: number): NativeRing {
  const Ring = native.uring.NativeRing;
  if (Ring === undefined) throw new Error('this build of the addon has no io_uring support');
  return new Ring(entries);
}
