// The loop's io_uring mode (io: 'io_uring'): socket operations become ring
// submissions, and each loop iteration makes one call into the addon that
// submits everything queued since the last one, waits (for the next
// completion, or until the next timer) and reaps every completion there is,
// as one io_uring_enter. The ring's mechanics are in native/uring.cc; what
// to submit and when is decided here and in uring-ops.ts.
//
// Everything readiness-based stays on the loop's Selector (signals, the
// wake-up pipe, tasks parked on fds): the selector's own epoll fd is polled
// on the ring, so that one io_uring_enter waits for both, and the selector is
// asked (select(0)) only in the iterations where it has something.

import { errorFromErrno } from '../errors.js';
import {
  addCloseWatcher, closeFd, type CloseWatcher, type NativeRing, openRing, probeIoUring, removeCloseWatcher,
  type SelectorHooks,
} from '../loop-interface.js';
import type { Selector } from '../selector.js';
import type { Socket } from '../socket.js';
import { describe } from '../validate.js';
import type { FdState, IoWatcher } from './io.js';
import type { Parking, Task } from './task.js';
import { multishotWanted, type RecvStream } from './uring-stream.js';

/** The loop's I/O mode: readiness over a Selector, or completions over an io_uring. */
export type IoMode = 'selector' | 'io_uring';

let reason: string | undefined;

/** Why io_uring cannot be used here, or '' (asked of the kernel once per thread). */
export function ioUringUnavailableReason(): string {
  if (reason === undefined) reason = process.platform === 'linux' ? probeIoUring() : 'io_uring exists only on Linux';
  return reason;
}

/** True when `new EventLoop({ io: 'io_uring' })` can work here: Linux 5.11+, not disabled, not blocked by seccomp. */
export function ioUringAvailable(): boolean {
  return ioUringUnavailableReason() === '';
}

// Submission records, as native/uring.cc reads them.
const FIELDS = 6;
const F_OP = 0, F_FD = 1, F_USER = 2, F_OFFSET = 3, F_LENGTH = 4, F_FLAGS = 5;
export const OP_RECV = 1, OP_SEND = 2, OP_ACCEPT = 3, OP_CONNECT = 4;
const OP_CANCEL = 5, OP_POLL_IN = 6, OP_RECV_MULTI = 7, OP_BUF_RETURN = 8;
// Records per enter; more are flushed early. The ring has as many slots.
const SQ_RECORDS = 1024;
const CQ_RECORDS = 2048;
// Completions may queue a record each (a buffer given back, a cancel) while
// they are delivered, when no early flush can happen: room for them.
const SQ_SPARE = CQ_RECORDS;
// Provided buffers for multishot receives: count (a power of two) and size.
const BUFFERS = 1024;
const BUFFER_SIZE = 4096;
// user_data of the loop's own requests; ops use their slot number (>= 1).
const SELECTOR_POLL = 0;
const CQE_F_MORE = 2;
const UNTRACKED = -2;

/** What a completion is delivered to: an operation of uring-ops.ts. */
export interface RingRequest extends Parking {
  /** @internal The ring's slot while in flight, else -1. */
  _slot: number;
  /** @internal The kernel's result (>= 0, or -errno) and the completion's flags. */
  _complete(res: number, flags: number): void;
  /** @internal Its socket is being closed: cancel, and wake the task with an error. */
  _socketClosed(): void;
  /** @internal The name of the task that waits for it, for error messages. */
  readonly _taskName: string;
}

/** Per socket fd: the operations in flight on it, and what a cancelled one left behind. */
export class RingFd {
  reader: RingRequest | null = null;
  writer: RingRequest | null = null;
  /** Bytes a cancelled receive got anyway: the next receive returns them first. */
  stash: Buffer | null = null;
  /** Connections a cancelled accept got anyway: the next accept returns them first. */
  accepted: number[] | null = null;
  /** The multishot receive and its unread bytes, once a read used it. */
  stream: RecvStream | null = null;
  /** sockRecv's buffer for this socket, kept between reads (grown as asked). */
  scratch: Buffer | null = null;
  /** The last read was short: ask the kernel to wait for data before trying. */
  drained = false;
  closed = false;
  // Weak: the table must not keep a socket dropped without close() alive
  // (its finalizer closes the fd, and the loop's registry drops this entry).
  readonly #sock: WeakRef<Socket>;
  constructor(sock: Socket, readonly fd: number) {
    this.#sock = new WeakRef(sock);
  }
  /** The socket, or undefined once collected. */
  get sock(): Socket | undefined {
    return this.#sock.deref();
  }
}

/** A ring for a loop (the mode was checked by chooseIo); throws if the kernel refuses. */
export function openLoopRing(): NativeRing {
  return openRing(SQ_RECORDS);
}

/** The ring of one loop and the operations in flight on it. */
export class Uring implements CloseWatcher {
  readonly #ring: NativeRing;
  // Sockets hold their watchers weakly: nothing there keeps a loop alive.
  readonly #ref = new WeakRef<CloseWatcher>(this);
  readonly #selector: Selector<FdState>;
  readonly #io: IoWatcher;
  readonly #sq = new Int32Array((SQ_RECORDS + SQ_SPARE) * FIELDS);
  #reaping = false;
  // The buffer of each record (the native side reads its address), by index.
  #bufs: Array<Uint8Array | null> = [];
  #queued = 0;
  readonly #cq = new Int32Array(CQ_RECORDS * 3);
  /** The provided buffers (multishot receives), or null where the kernel has none. */
  readonly pool: Buffer | null = null;
  readonly bufferSize = BUFFER_SIZE;
  /** Provided buffers the kernel filled that are not given back yet. */
  buffersHeld = 0;
  // Streams whose request ended for want of buffers (re-armed as one comes back).
  #starved: RecvStream[] = [];
  // Streams of fds an addReader callback took over, while they hold (or may
  // still get) bytes read ahead: the callback runs for those as for readiness.
  readonly #handedOver = new Set<RecvStream>();
  // Requests in flight by slot; slot 0 is the selector's poll.
  readonly #requests: Array<RingRequest | null> = [null];
  readonly #free: number[] = [];
  readonly #fds = new Map<number, RingFd>();
  readonly #bySock = new WeakMap<Socket, RingFd>();
  #selectorPolled = false;
  #closed = false;
  // Sockets dropped without close(): their entries go when they are collected.
  readonly #dropped = new FinalizationRegistry<RingFd>((state) => {
    if (this.#fds.get(state.fd) === state) this.#forget(state, false);
  });

  /** Records queued for the next enter (runAsync submits them before it idles). */
  get queued(): number {
    return this.#queued;
  }
  /** Bytes read ahead wait for an addReader callback: runAsync must iterate again, not idle. */
  get handOverPending(): boolean {
    for (const stream of this.#handedOver) if (stream.unread) return true;
    return false;
  }

  /** Tasks waiting on a request in flight (for the loop's "would wait forever" check). */
  waiting = 0;

  constructor(ring: NativeRing, selector: Selector<FdState>, io: IoWatcher) {
    this.#ring = ring;
    this.#selector = selector;
    this.#io = io;
    if (multishotWanted()) {
      const memory = new ArrayBuffer(BUFFERS * BUFFER_SIZE);
      if (ring.setupBuffers(memory, BUFFERS, BUFFER_SIZE) === 0) this.pool = Buffer.from(memory);
    }
  }

  /** Arms `stream`'s multishot receive (submitted by the next enter). */
  armStream(stream: RecvStream): void {
    const slot = this.#free.length > 0 ? this.#free.pop()! : this.#requests.length;
    this.#requests[slot] = stream;
    stream._slot = slot;
    this.#push(OP_RECV_MULTI, stream.fd, slot, 0, 0, 0, null);
  }

  /** Gives provided buffer `bid` back to the kernel (with the next enter). */
  returnBuffer(bid: number): void {
    this.buffersHeld--;
    // After close the kernel has let go of them all (bytes read ahead stay readable).
    if (this.#closed) return;
    this.#push(OP_BUF_RETURN, -1, UNTRACKED, bid, 0, 0, null);
  }

  /** `stream` ran out of provided buffers. */
  starved(stream: RecvStream): void {
    this.#starved.push(stream);
  }

  /** Cancels the request in `slot` (its completion still comes). */
  cancelSlot(slot: number): void {
    this.#push(OP_CANCEL, -1, UNTRACKED, slot, 0, 0, null);
  }

  /** `sock`'s multishot receive, if a read made one. */
  streamOf(sock: Socket): RecvStream | null {
    const state = this.#bySock.get(sock);
    return state === undefined || state.closed ? null : state.stream;
  }

  /** The state of `sock`'s fd, made on first use. */
  fdState(sock: Socket, fd: number): RingFd {
    // By socket, not fd: cheaper than a WeakRef's deref on every operation,
    // and an fd changes only by close or detach, which forget the entry.
    const known = this.#bySock.get(sock);
    if (known !== undefined && !known.closed) return known;
    // A new Socket over a reused fd number: the old entry is stale.
    const stale = this.#fds.get(fd);
    if (stale !== undefined) this.#forget(stale);
    const state = new RingFd(sock, fd);
    this.#fds.set(fd, state);
    this.#bySock.set(sock, state);
    addCloseWatcher(sock, this.#ref);
    this.#dropped.register(sock, state, state);
    return state;
  }

  /** An addReader callback now owns reading `fd`: stop reading ahead, hand over what came. */
  readerAdded(fd: number): void {
    const stream = this.#fds.get(fd)?.stream;
    if (stream == null) return;
    stream.disarm();
    this.#handedOver.add(stream);
  }

  /** The task whose request is in flight on `fd` for reading (or writing), if any. */
  busyWith(fd: number, reads: boolean): RingRequest | null {
    const state = this.#fds.get(fd);
    return state === undefined ? null : reads ? state.reader ?? (state.stream?.waiter != null ? state.stream : null) : state.writer;
  }

  /** Queues `request` (parking `task` on it): submitted by the next iteration's enter. */
  submit(request: RingRequest, task: Task<unknown>, op: number, fd: number, buf: Uint8Array | null,
    offset: number, length: number, flags: number): void {
    const slot = this.#free.length > 0 ? this.#free.pop()! : this.#requests.length;
    this.#requests[slot] = request;
    request._slot = slot;
    this.#push(op, fd, slot, offset, length, flags, buf);
    task._waitingOn = request;
    this.waiting++;
  }

  /**
   * Cancels `request` (its task no longer waits: cancelled, or its socket
   * closed). Its completion still comes, and the request handles what it
   * brings (a cancel can lose the race to a finished receive).
   */
  cancel(request: RingRequest): void {
    if (request._slot < 0) return;
    this.waiting--;
    this.#push(OP_CANCEL, -1, UNTRACKED, request._slot, 0, 0, null);
  }

  #push(op: number, fd: number, user: number, offset: number, length: number, flags: number, buf: Uint8Array | null): void {
    if (this.#queued >= SQ_RECORDS && !this.#reaping) this.#enter(0);
    const sq = this.#sq;
    const at = this.#queued * FIELDS;
    sq[at + F_OP] = op;
    sq[at + F_FD] = fd;
    sq[at + F_USER] = user;
    sq[at + F_OFFSET] = offset;
    sq[at + F_LENGTH] = length;
    sq[at + F_FLAGS] = flags;
    this.#bufs[this.#queued] = buf;
    this.#queued++;
  }

  /**
   * The iteration's wait: submits, waits at most `timeout` ms (null: until
   * something completes) and delivers the completions, then the selector's
   * events if its fd polled ready.
   */
  wait(timeout: number | null): void {
    // Streams that ran out of buffers try again, now that some may be back
    // (here, not as each comes back: no records queued while reaping).
    if (this.#starved.length > 0) {
      const starved = this.#starved;
      this.#starved = [];
      for (const stream of starved) if (stream.waiter !== null) stream.arm();
    }
    if (this.#handedOver.size > 0 && this.#runHandedOver()) timeout = 0;
    if (!this.#selectorPolled) {
      this.#selectorPolled = true;
      this.#push(OP_POLL_IN, this.#selector.fileno(), SELECTOR_POLL, 0, 0, 0, null);
    }
    if (this.#enter(timeout === null ? -1 : timeout)) {
      const events = this.#selector.select(0);
      if (events.length > 0) this.#io.dispatch(events);
    }
  }

  // Bytes read ahead are readiness the selector cannot see: queue the fd's
  // read callback for them (level-triggered, until read). True if one was.
  #runHandedOver(): boolean {
    let queued = false;
    for (const stream of this.#handedOver) {
      if (stream.unread) {
        if (this.#io.queueReadCallback(stream.fd)) queued = true;
        else this.#handedOver.delete(stream); // the callback went: the bytes wait for a read
      } else if (!stream.armed) {
        this.#handedOver.delete(stream);
      }
    }
    return queued;
  }

  // One io_uring_enter; true if the selector's fd polled ready.
  #enter(timeoutMs: number): boolean {
    let n: number;
    try {
      n = this.#ring.enter(this.#queued, this.#sq, this.#bufs, timeoutMs, this.#cq);
    } finally {
      // Taken by the kernel (or, on a bad record, never to be sent twice).
      // The requests hold their own buffers; this list only carried them in.
      this.#queued = 0;
      this.#bufs.length = 0;
    }
    if (n < 0) throw errorFromErrno(-n, 'io_uring_enter');
    const cq = this.#cq;
    const requests = this.#requests;
    let selectorReady = false;
    this.#reaping = true;
    for (let i = 0; i < 3 * n; i += 3) {
      const user = cq[i]!;
      if (user > 0) {
        const request = requests[user]!;
        const flags = cq[i + 2]!;
        // A multishot request goes on until a completion without MORE.
        if ((flags & CQE_F_MORE) === 0) {
          requests[user] = null;
          this.#free.push(user);
          request._slot = -1;
        }
        request._complete(cq[i + 1]!, flags);
      } else if (user === SELECTOR_POLL) {
        // One-shot, re-armed by the next wait: a re-armed poll reports an
        // fd that is still ready at once, so readiness stays level-triggered.
        this.#selectorPolled = false;
        selectorReady = true;
      }
    }
    this.#reaping = false;
    return selectorReady;
  }

  /** runAsync's hooks: the ring's eventfd replaces the selector's fd as what Node's loop watches. */
  hooks(selectorHooks: SelectorHooks): SelectorHooks {
    const ring = this.#ring;
    return {
      startWatch: (callback) => ring.startWatch(callback),
      stopWatch: () => ring.stopWatch(),
      watchSignal: (signo) => selectorHooks.watchSignal(signo),
      unwatchSignal: (signo) => selectorHooks.unwatchSignal(signo),
      takeSignals: () => selectorHooks.takeSignals(),
      // For a loop collected unclosed: the ring goes with the selector.
      close: () => {
        ring.close();
        selectorHooks.close();
      },
    };
  }

  /** Called just before `sock` is closed or detached: its requests are cancelled and their tasks woken. */
  socketClosing(sock: Socket): void {
    const fd = sock.fileno();
    const state = fd < 0 ? undefined : this.#fds.get(fd);
    if (state !== undefined && state.sock === sock) this.#forget(state);
  }

  // The socket is going: its waiters wake (their next step throws EBADF),
  // and their requests are cancelled: closing the fd alone would not end
  // them, as the ring holds its own reference to the file.
  // `now`: submit the cancels at once (not from a finalizer, outside the loop's run).
  #forget(state: RingFd, now = true): void {
    this.#fds.delete(state.fd);
    this.#dropped.unregister(state);
    const sock = state.sock;
    if (sock !== undefined) removeCloseWatcher(sock, this.#ref);
    state.closed = true;
    let cancelled = false;
    if (state.stream !== null) {
      cancelled = state.stream._slot >= 0;
      state.stream._socketClosed();
    }
    for (const request of [state.reader, state.writer]) {
      if (request !== null && request._slot >= 0) {
        request._socketClosed();
        cancelled = true;
      }
    }
    // Cancel now, not at the next iteration: a request in flight holds the
    // file, so until then the fd's close would not reach the socket (a
    // listener would go on taking connections, a peer would see no FIN).
    if (cancelled && now && !this.#closed) this.#enter(0);
    state.reader = null;
    state.writer = null;
    if (state.accepted !== null) {
      for (const fd of state.accepted) closeFd(fd);
      state.accepted = null;
    }
    state.stash = null;
    state.scratch = null;
  }

  /**
   * Closes the ring: the kernel cancels what is still in flight. Pending
   * tasks stay pending, as in asyncio. Safe to call twice.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#ring.close();
    for (const state of this.#fds.values()) {
      const sock = state.sock;
      // Bytes read ahead stay the socket's (copied out: the ring's memory goes).
      if (sock !== undefined && state.stream?.unread) sock._unread = state.stream.leftover();
      state.stream?.dropped();
      this.#dropped.unregister(state);
      if (sock !== undefined) removeCloseWatcher(sock, this.#ref);
      if (state.accepted !== null) for (const fd of state.accepted) closeFd(fd);
    }
    this.#fds.clear();
    this.#requests.length = 1;
    this.#free.length = 0;
    this.waiting = 0;
  }
}

// The whole loop test suite runs once per mode: its setup sets this (LOOP_IO).
let defaultIo: IoMode = 'selector';

/** @internal For the tests: the mode of loops whose options name none. */
export function setDefaultIo(io: IoMode): void {
  defaultIo = io;
}

/** The mode `options.io` asks for: checked, defaulted. */
export function chooseIo(io: unknown, selector: Selector<unknown> | undefined): IoMode {
  if (io === undefined) {
    // The tests' default cannot apply to a loop over a selector without an fd (poll).
    return defaultIo === 'io_uring' && selector !== undefined && selector.fileno() < 0 ? 'selector' : defaultIo;
  }
  if (io !== 'selector' && io !== 'io_uring') {
    throw new TypeError(`options.io must be 'selector' or 'io_uring', got ${describe(io)}`);
  }
  if (io === 'io_uring') {
    if (!ioUringAvailable()) throw new Error(`io: 'io_uring' is not available here: ${ioUringUnavailableReason()}`);
    // The ring waits on the selector's own fd (for signals, wake-ups, fd waiters).
    if (selector !== undefined && selector.fileno() < 0) {
      throw new Error(`io: 'io_uring' needs a selector with a pollable fd (epoll); the ${selector.backend} backend has none`);
    }
  }
  return io;
}
