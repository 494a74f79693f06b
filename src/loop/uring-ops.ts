// The socket operations of the io_uring mode: sockAccept, sockConnect,
// sockRecv, sockRecvInto and sockSendall as ring requests. Each queues its
// request and parks its task; the next iteration's enter submits it along
// with everything else, and the completion wakes the task with the result.
//
// Like the readiness ops (sock-ops.ts) they are hand-written iterators: a
// small state machine driven by the task through yield*. Two rules keep
// bytes and connections from being lost or reordered:
//   - A request whose task is cancelled is cancelled on the ring, but a
//     cancel can lose the race to a finished receive or accept: what that
//     completion brings is kept on the socket (RingFd.stash / .accepted)
//     and handed to the next operation.
//   - So a new operation on a socket whose cancelled request has not
//     completed yet waits behind it rather than overtake it.
// A request the kernel answers with EAGAIN (a kernel that honours the
// socket's O_NONBLOCK) waits for readiness on the selector, then goes again.
import { SO_ERROR, SOL_SOCKET } from '../constants.js';
import { errno, errorFromErrno } from '../errors.js';
import { closeFd } from '../loop-interface.js';
import { EVENT_READ, EVENT_WRITE } from '../selector.js';
import { type Address, resolveAddress, Socket } from '../socket.js';
import { checkBytes, checkInt, INT32_MAX } from '../validate.js';
import type { Coro } from './futures.js';
import type { IoWatcher } from './io.js';
import { callerTask, closedWhileWaiting, requireNonBlocking, socketFd } from './sock-ops.js';
import { type LoopCore, PARKED, type Task } from './task.js';
import { OP_ACCEPT, OP_CONNECT, OP_RECV, OP_SEND, type RingFd, type RingRequest, type Uring } from './uring.js';

const EAGAIN = errno.EAGAIN!;
const EINPROGRESS = errno.EINPROGRESS!;
const EALREADY = errno.EALREADY!;
const EINTR = errno.EINTR!;

const PARKED_STEP: IteratorResult<unknown, never> = Object.freeze({ done: false, value: PARKED });
const FINISHED_STEP: IteratorResult<unknown, undefined> = Object.freeze({ done: true, value: undefined });
const EMPTY = new Uint8Array(0);
// sockRecv's per-socket buffer is at most this big; larger reads get their own.
const SCRATCH_MAX = 65536;

const NEW = 0;
const IN_FLIGHT = 1;
const COMPLETED = 2;
const ON_FD = 3; // waiting for readiness after EAGAIN
const BEHIND = 4; // waiting for a cancelled request on the same socket to complete
const DONE = 5;

abstract class RingOp<T> implements Coro<T>, RingRequest {
  /** @internal */ _slot = -1;
  protected phase = NEW;
  protected fd = -1;
  protected state: RingFd | null = null;
  protected task: Task<unknown> | null = null;
  protected result: T | undefined = undefined;
  #res = 0;
  // The task no longer waits for the request in flight (cancelled, or socket closed).
  #orphaned = false;
  #socketClosed = false;
  // Another op of the same side waiting for this orphaned one to complete.
  #next: RingOp<unknown> | null = null;

  constructor(
    protected readonly loop: LoopCore,
    protected readonly ring: Uring,
    protected readonly io: IoWatcher,
    protected readonly sock: Socket,
    protected readonly syscall: string,
    protected readonly what: string,
    /** Reader (recv, accept) or writer (send, connect) side of the socket. */
    private readonly reads: boolean,
  ) {}

  /** Validates the arguments (first step only). */
  protected abstract validate(): void;
  /** Finishes without the ring if it can (what a cancelled request left behind): true, with result set. */
  protected takeLeftover(): boolean { return false; }
  /** Queues the request. */
  protected abstract issue(): void;
  /** Handles the kernel's result: true when finished (result set), false when it went again or parked. */
  protected abstract finish(res: number): boolean;
  /** A result nobody will take (the task was cancelled): keeps what must not be lost. */
  protected salvage(_res: number): void {}
  /** Woken by readiness after EAGAIN: by default, ask the ring again. */
  protected ready(): boolean {
    this.issue();
    return false;
  }

  next(): IteratorResult<unknown, T> {
    if (this.phase === DONE) return FINISHED_STEP as IteratorResult<unknown, T>;
    try {
      let finished: boolean;
      switch (this.phase) {
        case NEW:
          this.validate();
          this.fd = socketFd(this.sock, this.syscall);
          this.task = callerTask(this.loop, this.what);
          this.state = this.ring.fdState(this.sock, this.fd);
          finished = this.#begin();
          break;
        case COMPLETED:
          finished = this.finish(this.#res);
          break;
        case BEHIND:
          if (this.#socketClosed) throw closedWhileWaiting(this.syscall);
          finished = this.#begin();
          break;
        case ON_FD:
          if (this.sock.fileno() !== this.fd) throw closedWhileWaiting(this.syscall);
          finished = this.ready();
          break;
        default: // IN_FLIGHT, woken without a completion: its socket was closed
          throw closedWhileWaiting(this.syscall);
      }
      if (!finished) return PARKED_STEP;
      this.#release();
      this.phase = DONE;
      return { done: true, value: this.result as T };
    } catch (error) {
      this.#end();
      throw error;
    }
  }

  // Takes a leftover, waits behind a cancelled request, or issues.
  #begin(): boolean {
    const state = this.state!;
    const busy = this.reads ? state.reader : state.writer;
    if (busy !== null && busy !== this) {
      const op = busy as RingOp<unknown>;
      if (!op.#orphaned || op.#next !== null) {
        const side = this.reads ? 'read' : 'write';
        throw new Error(`fd ${this.fd} already has a task waiting to ${side}; two tasks ${side === 'read' ? 'reading' : 'writing'} ` +
          'one socket at once would race');
      }
      op.#next = this as RingOp<unknown>;
      this.phase = BEHIND;
      this.task!._waitingOn = this;
      this.ring.waiting++;
      return false;
    }
    if (this.takeLeftover()) return true;
    this.issue();
    return false;
  }

  /** Queues the request on the ring and parks the task on it. */
  protected submit(op: number, buf: Uint8Array | null, offset: number, length: number, flags: number): void {
    const state = this.state!;
    if (this.reads) state.reader = this;
    else state.writer = this;
    this.phase = IN_FLIGHT;
    this.ring.submit(this, this.task!, op, this.fd, buf, offset, length, flags);
  }

  /** Waits for readiness on the selector (the kernel said EAGAIN). */
  protected parkOnFd(): void {
    this.#release();
    this.phase = ON_FD;
    this.io.park(this.sock, this.fd, this.reads ? EVENT_READ : EVENT_WRITE, this.task!);
  }

  /** @internal */
  _complete(res: number): void {
    if (this.#orphaned) {
      this.salvage(res);
      this.#release();
      return;
    }
    this.#res = res;
    this.phase = COMPLETED;
    this.ring.waiting--;
    this.task!._wake(this);
  }

  /** @internal The task is cancelled while it waits on this op. */
  _unpark(_task: Task<unknown>): void {
    if (this.phase === IN_FLIGHT) this.#orphan();
    else if (this.phase === BEHIND) this.#leaveQueue();
  }

  /** @internal */
  _socketClosed(): void {
    this.#socketClosed = true;
    const waiting = this.phase === IN_FLIGHT || this.phase === BEHIND;
    if (this.phase === IN_FLIGHT) this.#orphan();
    else if (this.phase === BEHIND) this.ring.waiting--;
    const next = this.#next;
    this.#next = null;
    next?._socketClosed();
    if (waiting) this.task!._wake(this);
  }

  #orphan(): void {
    this.#orphaned = true;
    this.ring.cancel(this);
  }

  #leaveQueue(): void {
    this.ring.waiting--;
    const state = this.state!;
    const busy = (this.reads ? state.reader : state.writer) as RingOp<unknown> | null;
    if (busy !== null && busy.#next === this) busy.#next = null;
  }

  // This op no longer occupies its side of the socket; one waiting behind it goes next.
  #release(): void {
    const state = this.state;
    if (state === null) return;
    if (this.reads) {
      if (state.reader === this) state.reader = null;
    } else if (state.writer === this) {
      state.writer = null;
    }
    const next = this.#next;
    if (next !== null) {
      this.#next = null;
      this.ring.waiting--;
      next.task!._wake(next);
    }
  }

  // The op ends (finished, failed, cancelled): a result not taken is salvaged.
  #end(): void {
    if (this.phase === COMPLETED) this.salvage(this.#res);
    else if (this.phase === IN_FLIGHT && !this.#orphaned) this.#orphan();
    else if (this.phase === BEHIND) this.#leaveQueue();
    if (!this.#orphaned) this.#release();
    this.phase = DONE;
  }

  throw(error: unknown): IteratorResult<unknown, T> {
    if (this.phase !== DONE) this.#end();
    throw error;
  }

  return(value?: T): IteratorResult<unknown, T> {
    if (this.phase !== DONE) this.#end();
    return { done: true, value: value as T };
  }

  [Symbol.iterator](): this {
    return this;
  }

  [Symbol.dispose](): void {
    if (this.phase !== DONE) this.#end();
  }
}

/** sockRecv (copy: up to n bytes in a Buffer of their own) and sockRecvInto (into the caller's buffer). */
export class RingRecvOp<T extends number | Buffer> extends RingOp<T> {
  #buf: Uint8Array = EMPTY;
  #length = 0;

  constructor(loop: LoopCore, ring: Uring, io: IoWatcher, sock: Socket, private readonly arg: unknown,
    private readonly copy: boolean) {
    super(loop, ring, io, sock, 'recv', copy ? 'sockRecv' : 'sockRecvInto', true);
  }

  protected validate(): void {
    if (this.copy) this.#length = checkInt(this.arg, 'n', 0, INT32_MAX);
    else this.#length = (this.#buf = checkBytes(this.arg, 'buf')).byteLength;
  }

  protected override takeLeftover(): boolean {
    const state = this.state!;
    const stash = state.stash;
    if (stash === null) return false;
    const n = Math.min(stash.length, this.#length);
    if (this.copy) {
      this.result = Buffer.from(stash.subarray(0, n)) as T;
    } else {
      this.#buf.set(stash.subarray(0, n));
      this.result = n as T;
    }
    state.stash = n === stash.length ? null : stash.subarray(n);
    return true;
  }

  protected issue(): void {
    const state = this.state!;
    if (this.copy && this.#buf === EMPTY) {
      const n = this.#length;
      if (n <= SCRATCH_MAX) {
        // Reused by this socket's next reads: one reader at a time, and the
        // bytes are copied out before the task sees them.
        if (state.scratch === null || state.scratch.length < n) state.scratch = Buffer.allocUnsafeSlow(Math.max(n, 1024));
        this.#buf = state.scratch;
      } else {
        this.#buf = Buffer.allocUnsafe(n);
      }
    }
    this.submit(OP_RECV, this.#buf, 0, this.#length, state.drained ? 1 : 0);
  }

  protected finish(res: number): boolean {
    if (res < 0) {
      if (res === -EAGAIN) {
        this.parkOnFd();
        return false;
      }
      throw errorFromErrno(-res, 'recv');
    }
    this.state!.drained = res > 0 && res < this.#length;
    this.result = (this.copy ? this.#copyOut(res) : res) as T;
    return true;
  }

  protected override salvage(res: number): void {
    const state = this.state!;
    if (res <= 0 || state.closed) return;
    const got = Buffer.from(this.#buf.subarray(0, res));
    state.stash = state.stash === null ? got : Buffer.concat([state.stash, got]);
  }

  #copyOut(got: number): Buffer {
    const buf = this.#buf as Buffer;
    if (buf === this.state!.scratch || got < this.#length / 2) {
      const out = Buffer.allocUnsafe(got);
      buf.copy(out, 0, 0, got);
      return out;
    }
    return buf.subarray(0, got);
  }
}

/** sockSendall: sends everything, asking again after a partial send. */
export class RingSendallOp extends RingOp<void> {
  #data: Uint8Array = EMPTY;
  #offset = 0;

  constructor(loop: LoopCore, ring: Uring, io: IoWatcher, sock: Socket, private readonly arg: unknown) {
    super(loop, ring, io, sock, 'send', 'sockSendall', false);
  }

  protected validate(): void {
    this.#data = checkBytes(this.arg, 'data');
  }

  protected override takeLeftover(): boolean {
    return this.#data.byteLength === 0;
  }

  protected issue(): void {
    this.submit(OP_SEND, this.#data, this.#offset, this.#data.byteLength - this.#offset, 0);
  }

  protected finish(res: number): boolean {
    if (res < 0) {
      if (res === -EAGAIN) {
        this.parkOnFd();
        return false;
      }
      throw errorFromErrno(-res, 'send');
    }
    this.#offset += res;
    if (this.#offset < this.#data.byteLength) {
      this.issue();
      return false;
    }
    return true;
  }
}

/** sockAccept: a new non-blocking Socket (made so by the kernel) and the peer's address. */
export class RingAcceptOp extends RingOp<[Socket, Address]> {
  constructor(loop: LoopCore, ring: Uring, io: IoWatcher, sock: Socket) {
    super(loop, ring, io, sock, 'accept', 'sockAccept', true);
  }

  protected validate(): void {
    requireNonBlocking(socketFd(this.sock, 'accept'), 'sockAccept');
  }

  protected override takeLeftover(): boolean {
    const accepted = this.state!.accepted;
    if (accepted === null || accepted.length === 0) return false;
    this.result = this.#wrap(accepted.shift()!);
    return true;
  }

  protected issue(): void {
    this.submit(OP_ACCEPT, null, 0, 0, 0);
  }

  protected finish(res: number): boolean {
    if (res < 0) {
      if (res === -EAGAIN) {
        this.parkOnFd();
        return false;
      }
      throw errorFromErrno(-res, 'accept');
    }
    this.result = this.#wrap(res);
    return true;
  }

  protected override salvage(res: number): void {
    if (res < 0) return;
    const state = this.state!;
    if (state.closed) closeFd(res);
    else (state.accepted ??= []).push(res);
  }

  #wrap(fd: number): [Socket, Address] {
    const conn = new Socket(this.sock.family, this.sock.type, this.sock.proto, fd);
    let address: Address = '';
    try {
      address = conn.getpeername();
    } catch {
      // The peer is already gone (ENOTCONN): its address is lost with it.
    }
    return [conn, address];
  }
}

/** sockConnect: the ring waits for the handshake; a kernel that says EINPROGRESS gets the readiness path. */
export class RingConnectOp extends RingOp<void> {
  #address: Buffer = Buffer.alloc(0);

  constructor(loop: LoopCore, ring: Uring, io: IoWatcher, sock: Socket, private readonly arg: Address) {
    super(loop, ring, io, sock, 'connect', 'sockConnect', false);
  }

  protected validate(): void {
    const fd = socketFd(this.sock, 'connect');
    requireNonBlocking(fd, 'sockConnect');
    this.#address = resolveAddress(this.sock.family, this.sock.type, this.arg);
  }

  protected issue(): void {
    this.submit(OP_CONNECT, this.#address, 0, 0, 0);
  }

  protected finish(res: number): boolean {
    if (res === -EINPROGRESS || res === -EAGAIN || res === -EALREADY || res === -EINTR) {
      this.parkOnFd();
      return false;
    }
    if (res < 0) throw errorFromErrno(-res, 'connect');
    return true;
  }

  protected override ready(): boolean {
    const outcome = this.sock.getsockopt(SOL_SOCKET, SO_ERROR) as number;
    if (outcome === 0) return true;
    if (outcome === EINPROGRESS || outcome === EAGAIN || outcome === EINTR) {
      this.parkOnFd();
      return false;
    }
    throw errorFromErrno(outcome, 'connect');
  }
}
