// The loop's socket operations, asyncio's selector_events: sockAccept,
// sockConnect, sockRecv, sockRecvInto and sockSendall. Each tries the system
// call first and parks the task only when it would block, so a socket with
// data ready costs one native call and no registration. Failures come back
// as -errno, not exceptions, on this hot path (see loop-interface.ts).
//
// The hot ones (sockRecv, sockRecvInto, sockSendall) are hand-written
// iterators rather than generator functions. `yield*` drives them exactly as
// it drives a generator (next, throw, return), but the usual path, where the
// system call succeeds at once, costs one small object and no generator
// frame to create, resume and close: in an echo server, generator machinery
// was ~7 % of the time (perf), a third of it these ops.
//
// Each op is a small state machine: validate and look up on the first
// next(), try the system call, and on EAGAIN park the task and hand PARKED up
// through the yield* chain; the task's next step resumes it here.
import { SO_ERROR, SOL_SOCKET } from '../constants.js';
import { errno, errorFromErrno, OSError } from '../errors.js';
import { isBlockingFd, tryAccept, tryRecvInto, trySend } from '../loop-interface.js';
import { recvBuffer, takeReceived } from '../recv-buffer.js';
import { EVENT_READ, EVENT_WRITE } from '../selector.js';
import { type Address, Socket } from '../socket.js';
import { checkBytes, checkInt, describe, INT32_MAX } from '../validate.js';
import type { Coro } from './futures.js';
import type { FdState, IoWatcher } from './io.js';
import { currentTask, type LoopCore, PARKED, type Task } from './task.js';

const EAGAIN = errno.EAGAIN!;
const EBADF = errno.EBADF!;
const EINPROGRESS = errno.EINPROGRESS!;
const EINTR = errno.EINTR!;

/** The fd of an open Socket; throws a typed error naming `syscall` otherwise. */
export function socketFd(sock: unknown, syscall: string): number {
  if (!(sock instanceof Socket)) throw new TypeError(`sock must be a Socket, got ${describe(sock)}`);
  const fd = sock.fileno();
  if (fd < 0) throw new OSError(EBADF, 'Bad file descriptor: the socket is closed', syscall);
  return fd;
}

/** The error a parked task gets when another task closed its socket. */
export function closedWhileWaiting(syscall: string): OSError {
  return new OSError(EBADF, 'the socket was closed while a task waited on it', syscall);
}

/** The task that called `what` (a socket operation), which must be one of `loop`'s. */
export function callerTask(loop: LoopCore, what: string): Task<unknown> {
  const task = currentTask();
  if (task === null || task._loop !== loop) {
    throw new Error(`${what}() must run inside a task of this loop (yield* it from a coroutine the loop runs)`);
  }
  return task;
}

export function requireNonBlocking(fd: number, what: string): void {
  // accept() and connect() have no per-call "don't wait" flag, so a blocking
  // socket would block the whole loop; asyncio refuses it too.
  if (isBlockingFd(fd)) {
    throw new Error(`${what}(): the socket must be non-blocking (call sock.setBlocking(false))`);
  }
}

/** loop.sockAccept(): a new non-blocking Socket and the peer's address. */
export function* sockAccept<F extends number>(
  loop: LoopCore, io: IoWatcher, sock: Socket<F>,
): Coro<[Socket<F>, Address]> {
  const fd = socketFd(sock, 'accept');
  requireNonBlocking(fd, 'sockAccept');
  for (;;) {
    const out = tryAccept(fd);
    if (typeof out !== 'number') {
      const conn = new Socket(sock.family, sock.type, sock.proto, out[0]);
      try {
        conn.setBlocking(false);
      } catch (error) {
        conn.close();
        throw error;
      }
      return [conn, out[1] ?? ''];
    }
    if (out !== -EAGAIN) throw errorFromErrno(-out, 'accept');
    io.park(sock, fd, EVENT_READ, callerTask(loop, 'sockAccept'));
    yield PARKED;
    if (sock.fileno() !== fd) throw closedWhileWaiting('accept');
  }
}

/** loop.sockConnect(): starts the connect, waits for writability, then reads the outcome from SO_ERROR. */
export function* sockConnect(loop: LoopCore, io: IoWatcher, sock: Socket, address: Address): Coro<void> {
  const fd = socketFd(sock, 'connect');
  requireNonBlocking(fd, 'sockConnect');
  const err = sock.connectEx(address);
  if (err === 0) return;
  if (err !== EINPROGRESS && err !== EAGAIN && err !== EINTR) throw errorFromErrno(err, 'connect');
  for (;;) {
    io.park(sock, fd, EVENT_WRITE, callerTask(loop, 'sockConnect'));
    yield PARKED;
    if (sock.fileno() !== fd) throw closedWhileWaiting('connect');
    const outcome = sock.getsockopt(SOL_SOCKET, SO_ERROR) as number;
    if (outcome === 0) return;
    if (outcome !== EINPROGRESS && outcome !== EAGAIN && outcome !== EINTR) throw errorFromErrno(outcome, 'connect');
  }
}

// ---- the hot ones: hand-written iterators ----------------------------------

// What every parked op returns: yield* hands this very object up to the
// task (the language passes a delegate's results through unchanged), so it
// is shared and frozen.
const PARKED_STEP: IteratorResult<unknown, never> = Object.freeze({ done: false, value: PARKED });
const FINISHED_STEP: IteratorResult<unknown, undefined> = Object.freeze({ done: true, value: undefined });

const EMPTY = new Uint8Array(0);

const NEW = 0;
const RUNNING = 1;
const PARKED_ON_FD = 2;
const DONE = 3;

/**
 * The iterator protocol around `attempt()`. One level of subclassing only,
 * and no symbol returned where a value is expected: both showed up in
 * profiles (derived-constructor stubs, generic strict-equality checks).
 */
export abstract class SockOp<T> implements Coro<T> {
  protected phase = NEW;
  protected fd = -1;
  /** Set by attempt() when it returns true. */
  protected result: T | undefined = undefined;

  constructor(
    protected readonly loop: LoopCore,
    protected readonly io: IoWatcher,
    protected readonly sock: Socket,
    protected readonly syscall: string,
  ) {}

  /** Validates the arguments (first step only); returns the fd. */
  protected abstract start(): number;
  /** Tries the system call: true when finished (see result), false when it parked the task. */
  protected abstract attempt(): boolean;

  next(): IteratorResult<unknown, T> {
    if (this.phase === DONE) return FINISHED_STEP as IteratorResult<unknown, T>;
    try {
      if (this.phase === NEW) {
        this.fd = this.start();
      } else if (this.sock.fileno() !== this.fd) {
        throw closedWhileWaiting(this.syscall);
      }
      if (!this.attempt()) {
        this.phase = PARKED_ON_FD;
        return PARKED_STEP;
      }
      this.phase = DONE;
      return { done: true, value: this.result as T };
    } catch (error) {
      this.phase = DONE;
      throw error;
    }
  }

  /** An error thrown in at the pause (a cancellation): it ends the op. */
  throw(error: unknown): IteratorResult<unknown, T> {
    // Whoever threw it (Task.cancel) has already taken the task off the fd.
    this.phase = DONE;
    throw error;
  }

  return(value?: T): IteratorResult<unknown, T> {
    this.phase = DONE;
    return { done: true, value: value as T };
  }

  [Symbol.iterator](): this {
    return this;
  }

  [Symbol.dispose](): void {
    this.phase = DONE;
  }

  protected park(event: number, what: string): FdState {
    return this.io.park(this.sock, this.fd, event, callerTask(this.loop, what));
  }
}

/**
 * sockRecvInto (into the caller's buffer; allocates nothing) and sockRecv
 * (up to n bytes in a Buffer of their own, read via the shared scratch).
 */
export class RecvOp<T extends number | Buffer> extends SockOp<T> {
  #buf: Uint8Array = EMPTY;
  #length = 0;
  #state: FdState | undefined = undefined;

  /** `copy`: sockRecv, with `arg` the byte count; else sockRecvInto, with `arg` the buffer. */
  constructor(loop: LoopCore, io: IoWatcher, sock: Socket, private readonly arg: unknown, private readonly copy: boolean) {
    super(loop, io, sock, 'recv');
  }

  protected start(): number {
    let n = 0;
    if (this.copy) n = checkInt(this.arg, 'n', 0, INT32_MAX);
    const fd = socketFd(this.sock, 'recv');
    if (this.copy) {
      this.#buf = recvBuffer(n);
      this.#length = n;
    } else {
      this.#buf = checkBytes(this.arg, 'buf');
      this.#length = this.#buf.byteLength;
    }
    this.#state = this.io.lookup(this.sock, fd);
    return fd;
  }

  protected attempt(): boolean {
    const state = this.#state;
    // A short last read means the socket is most likely empty: park at once
    // rather than make a system call to hear EAGAIN (see FdState.drained).
    if (state === undefined || !state.drained) {
      const got = tryRecvInto(this.fd, this.#buf, 0, this.#length);
      if (got >= 0) {
        if (state !== undefined) state.drained = got > 0 && got < this.#length;
        this.result = (this.copy ? takeReceived(this.#buf as Buffer, got, this.#length) : got) as T;
        return true;
      }
      if (got !== -EAGAIN) throw errorFromErrno(-got, 'recv');
    }
    this.#state = this.park(EVENT_READ, this.copy ? 'sockRecv' : 'sockRecvInto');
    return false;
  }
}

/** sockSendall: send everything, waiting for room whenever the kernel's buffer is full. */
export class SendallOp extends SockOp<void> {
  #data: Uint8Array = EMPTY;
  #offset = 0;

  constructor(loop: LoopCore, io: IoWatcher, sock: Socket, private readonly arg: unknown) {
    super(loop, io, sock, 'send');
  }

  protected start(): number {
    const fd = socketFd(this.sock, 'send');
    this.#data = checkBytes(this.arg, 'data');
    return fd;
  }

  protected attempt(): boolean {
    const data = this.#data;
    const length = data.byteLength;
    while (this.#offset < length) {
      const sent = trySend(this.fd, data, this.#offset, length - this.#offset);
      if (sent >= 0) {
        this.#offset += sent;
        continue;
      }
      if (sent !== -EAGAIN) throw errorFromErrno(-sent, 'send');
      // Watch for writability only now that the kernel's buffer is full.
      this.park(EVENT_WRITE, 'sockSendall');
      return false;
    }
    return true;
  }
}
