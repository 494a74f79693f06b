// The state machine every socket operation of the io_uring mode shares
// (uring-ops.ts has the operations): a hand-written iterator, like the
// readiness ops of sock-ops.ts, driven by its task through yield*. Two rules
// keep bytes and connections from being lost or reordered:
//   - A request whose task is cancelled is cancelled on the ring, but a
//     cancel can lose the race to a finished receive or accept: what that
//     completion brings is kept on the socket (RingFd.stash / .accepted)
//     and handed to the next operation (salvage()).
//   - So a new operation on a socket whose cancelled request has not
//     completed yet waits behind it rather than overtake it.
// A request the kernel answers with EAGAIN (a kernel that honours the
// socket's O_NONBLOCK) waits for readiness on the selector, then goes again.
import { EVENT_READ, EVENT_WRITE } from '../selector.js';
import type { Socket } from '../socket.js';
import type { Coro } from './futures.js';
import type { IoWatcher } from './io.js';
import { callerTask, closedWhileWaiting, socketFd } from './sock-ops.js';
import { type LoopCore, PARKED, type Task } from './task.js';
import type { RingFd, RingRequest, Uring } from './uring.js';

const PARKED_STEP: IteratorResult<unknown, never> = Object.freeze({ done: false, value: PARKED });
const FINISHED_STEP: IteratorResult<unknown, undefined> = Object.freeze({ done: true, value: undefined });

const NEW = 0;
const IN_FLIGHT = 1;
const COMPLETED = 2;
const ON_FD = 3; // waiting for readiness after EAGAIN
const BEHIND = 4; // waiting for a cancelled request on the same socket to complete
const DONE = 5;

/** One socket operation as a ring request, driven by its task. */
export abstract class RingOp<T> implements Coro<T>, RingRequest {
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

  /** @internal */
  get _taskName(): string {
    return this.task?.name ?? '?';
  }

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
          // One owner per direction, as in the selector mode.
          this.io.checkNoCallback(this.fd, this.reads ? EVENT_READ : EVENT_WRITE);
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
  _complete(res: number, _flags: number): void {
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
    // An orphaned request's task stopped waiting already (cancelled, not yet resumed).
    const inFlight = this.phase === IN_FLIGHT && !this.#orphaned;
    const waiting = inFlight || this.phase === BEHIND;
    if (inFlight) this.#orphan();
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
