// Loads the compiled addon and describes its surface. Everything native
// reports failure as a negative errno number (see native/addon.h); the
// classes in this package turn those into typed errors.
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

/** A (fd, mask) pair per ready fd, written by NativeSelector.wait. */
export interface NativeSelector {
  fileno(): number;
  /** `mode`: native/backend.h's kMode bits (edge 1, oneshot 2); absent is level. */
  add(fd: number, events: number, mode?: number): number;
  modify(fd: number, oldEvents: number, events: number, oldMode?: number, mode?: number): number;
  remove(fd: number, events: number): number;
  wait(timeoutMs: number, ready: Int32Array): number;
  wakeup(): void;
  watchSignal(signo: number): number;
  unwatchSignal(signo: number): void;
  takeSignals(): number[];
  startWatch(callback: () => void): number;
  stopWatch(): void;
  setupBuffers(memory: ArrayBuffer, count: number, size: number): number;
  close(): void;
}

/** One io_uring (src/loop/uring.ts): submissions in, completions out, one call per loop iteration. */
export interface NativeRing {
  enter(count: number, sq: Int32Array, bufs: Array<Uint8Array | null>, timeoutMs: number, cq: Int32Array): number;
  startWatch(callback: () => void): number;
  stopWatch(): void;
  setupBuffers(memory: ArrayBuffer, count: number, size: number): number;
  close(): void;
}

/** A socket address as the kernel speaks it, made by getaddrinfo/unixAddress. */
export type Sockaddr = Buffer;
export type NativeAddress = string | [string, number] | null;

/** A resolver failure: its EAI_* number (as Python's gaierror.errno) and name. */
export interface GaiFailure {
  errno: number;
  code: string;
  message: string;
}

export interface NativeSocketCalls {
  socket(family: number, type: number, proto: number): number;
  socketpair(family: number, type: number, proto: number): [number, number] | number;
  close(fd: number): number;
  /** Checks that fd is a socket (SO_TYPE, or -errno) and makes this thread its owner. */
  adopt(fd: number): number;
  /** Gives an fd up (detach): the thread no longer closes it when it ends. */
  disown(fd: number): void;
  sockInfo(fd: number): [family: number, type: number, proto: number] | number;
  setBlocking(fd: number, blocking: boolean): number;
  getBlocking(fd: number): number;
  getaddrinfo(host: string, port: number, family: number, type: number, passive: boolean):
    Array<[number, Sockaddr]> | GaiFailure | number;
  unixAddress(path: Buffer): Sockaddr | number;
  bind(fd: number, addr: Sockaddr): number;
  connect(fd: number, addr: Sockaddr): number;
  listen(fd: number, backlog: number): number;
  accept(fd: number): [number, NativeAddress] | number;
  recvInto(fd: number, buf: Uint8Array, offset: number, length: number, flags: number): number;
  recvFrom(fd: number, buf: Uint8Array, offset: number, length: number, flags: number):
    [number, NativeAddress] | number;
  send(fd: number, buf: Uint8Array, offset: number, length: number, flags: number): number;
  sendTo(fd: number, buf: Uint8Array, offset: number, length: number, flags: number, addr: Sockaddr): number;
  /** sendfile(2) from `fileFd` at `offset` (its own offset untouched): count, or -errno (-ENOSYS: none here). */
  sendfile(sockFd: number, fileFd: number, offset: number, count: number): number;
  pread(fd: number, buf: Uint8Array, offset: number, length: number, position: number): number;
  shutdown(fd: number, how: number): number;
  getsockname(fd: number): NativeAddress | number;
  getpeername(fd: number): NativeAddress | number;
  setsockopt(fd: number, level: number, name: number, value: Uint8Array): number;
  getsockopt(fd: number, level: number, name: number, buflen: number): Buffer | number;
  waitFd(fd: number, events: number, timeoutMs: number): number;
}

/** The wake-up fd calls behind Waker (native/waker.cc). */
export interface NativeWakerCalls {
  /** [readFd, writeFd]: one eventfd twice on Linux unless `forcePipe`, else a pipe. */
  open(forcePipe: boolean): [number, number] | number;
  wake(writeFd: number): number;
  /** 1 if wake-ups were pending, 0 if none, or -errno. */
  drain(readFd: number): number;
  /** 0 if fd is open, else -errno. */
  check(fd: number): number;
}

/** The native half of SignalReader (native/signals.cc): a pipe the signal handler writes to. */
export interface NativeSignalPipe {
  /** The read end; -1 once closed. */
  fileno(): number;
  watchSignal(signo: number): number;
  unwatchSignal(signo: number): void;
  /** The signal numbers delivered since the last call, oldest first, or -errno. */
  read(): number[] | number;
  close(): void;
}

export interface NativeAddon {
  errnoNames: Record<number, string>;
  strerror(errno: number): string;
  NativeSelector: { new (backend: string): NativeSelector; prototype: NativeSelector };
  backends: string[];
  socket: NativeSocketCalls;
  waker: NativeWakerCalls;
  NativeSignalPipe: new () => NativeSignalPipe;
  constants: Record<string, number>;
  /** io_uring: probe() is '' where a ring can be used, else why not; NativeRing only when built with liburing. */
  uring: { probe(): string; NativeRing?: new (entries: number) => NativeRing };
  /** The resolver's EAI_NONAME on this platform. */
  eaiNoname: number;
  /** Runs pending promise reactions now (for a loop that blocks the thread). */
  drainMicrotasks(): void;
}

// src/ and dist/ both sit one level below the package root.
const packageRoot = fileURLToPath(new URL('..', import.meta.url));
const require = createRequire(import.meta.url);

function load(): NativeAddon {
  // An explicit path wins: CI and the sanitizer build point it at their own
  // build folders (cmake-js, ASan) without touching build/.
  const explicit = process.env.NATIVE_SELECTORS_ADDON;
  if (explicit) return require(explicit) as NativeAddon;
  try {
    const gypBuild = require('node-gyp-build') as (dir: string) => unknown;
    return gypBuild(packageRoot) as NativeAddon;
  } catch (cause) {
    throw new Error(
      'native-selectors: no compiled addon was found for this platform. ' +
        'Build it with `npm run build:native` (needs a C++ compiler and Python), ' +
        'or set NATIVE_SELECTORS_ADDON to the path of a built native_selectors.node.',
      { cause },
    );
  }
}

// Node-API builds its objects one property at a time, which leaves the
// bigger ones in V8's dictionary mode: then optimised code cannot inline a
// load like `sys.send` and calls the generic LoadIC on every call. A copy made
// by spreading has fast properties. (Class prototypes stay slow: their hot
// methods are called through captured functions instead, see selector.ts.)
function withFastTables(addon: NativeAddon): NativeAddon {
  return { ...addon, socket: { ...addon.socket }, waker: { ...addon.waker }, constants: { ...addon.constants } };
}

/** The addon, loaded once per thread (each worker gets its own instance). */
export const native: NativeAddon = withFastTables(load());
