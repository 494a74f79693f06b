// Futures and tasks. A Task steps a generator coroutine: `next()` to resume
// it, `throw()` to deliver an error (CancelledError above all) at the
// `yield*` where it is paused. What the coroutine yields says why it paused:
//   - a Future (a Task is one): wake me when it is done;
//   - PARKED: a loop primitive (socket wait, sleep) already parked me;
//   - undefined: a bare yield, run me again after everything ready now.
// Ready tasks go straight into the loop's ready queue (no closure per step).
import { type HandleOwner, type Runnable, TimerHandle } from './timers.js';

/** A coroutine: a generator whose `yield*` is `await`. */
export type Coro<T> = Generator<unknown, T, unknown>;

/** Thrown into a task by `cancel()`, and by `result()` of a cancelled task. */
export class CancelledError extends Error {}

/** `result()`/`exception()` of a task that is not done (asyncio's InvalidStateError). */
export class InvalidStateError extends Error {}

for (const cls of [CancelledError, InvalidStateError]) {
  Object.defineProperty(cls.prototype, 'name', { value: cls.name, configurable: true, writable: true });
}

/** Yielded by a loop primitive that has already parked the current task. */
export const PARKED: unique symbol = Symbol('parked');

/** Something other than a Future a task can be parked on (a socket, a sleep). */
export interface Parking {
  /** @internal Forget `task`: it is being cancelled and will not wait any more. */
  _unpark(task: Task<unknown>): void;
}

/** A failed future's exception, kept for the report if nobody retrieves it. */
export class UnretrievedReport {
  reported = false;
  constructor(
    readonly loop: LoopCore,
    readonly message: string,
    readonly exception: unknown,
    readonly taskName: string | undefined,
  ) {}
}

/** What futures and tasks need from their loop. */
export interface LoopCore extends HandleOwner {
  /** @internal */ _enqueue(item: Runnable): void;
  /** @internal Runs `callback(arg)` soon, as a done callback. */
  _callSoonWith(callback: (arg: never) => void, arg: unknown): void;
  /** @internal */ _taskDone(task: Task<unknown>): void;
  /** @internal */ _unretrievedAdd(report: UnretrievedReport): void;
  /** @internal */ _unretrievedRemove(report: UnretrievedReport): void;
  /** @internal */ _reportUnretrieved(report: UnretrievedReport): void;
  isClosed(): boolean;
}

// Reports a failed future once it can no longer be retrieved. The held value
// must not reference the future, or it would never be collected.
const unretrieved = new FinalizationRegistry<UnretrievedReport>((report) => {
  report.loop._reportUnretrieved(report);
});

const PENDING = 0;
const FULFILLED = 1;
const FAILED = 2;
const CANCELLED = 3;

type DoneCallback<F> = (future: F) => void;

/**
 * A one-shot result. Internal: the loop's own waits (gather, fromPromise)
 * use it; users see its subclass Task.
 */
export class Future<T = unknown> {
  /** @internal */ readonly _loop: LoopCore;
  /** @internal */ _state = PENDING;
  /** @internal */ _result: T | undefined = undefined;
  /** @internal */ _exception: unknown = undefined;
  /** @internal Tasks waiting on this future, and user done callbacks. */
  _callbacks: Array<Task<unknown> | DoneCallback<never>> | null = null;
  /** @internal */ _cancelMessage: string | undefined = undefined;
  /** @internal */ _cancelledError: CancelledError | null = null;
  /** @internal */ _report: UnretrievedReport | null = null;

  /** @internal */
  constructor(loop: LoopCore) {
    this._loop = loop;
  }

  /** Cancels the future; false if it was already done. */
  cancel(msg?: string): boolean {
    if (this._state !== PENDING) return false;
    this._state = CANCELLED;
    this._cancelMessage = msg;
    this._scheduleCallbacks();
    return true;
  }

  /** True if it was cancelled. */
  cancelled(): boolean {
    return this._state === CANCELLED;
  }

  /** True once it has a result, an exception, or was cancelled. */
  done(): boolean {
    return this._state !== PENDING;
  }

  /**
   * The result; throws the exception if it failed, CancelledError if it was
   * cancelled, InvalidStateError if it is not done.
   */
  result(): T {
    switch (this._state) {
      case FULFILLED:
        return this._result as T;
      case FAILED:
        this._markRetrieved();
        throw this._exception;
      case CANCELLED:
        throw this._makeCancelledError();
      default:
        throw new InvalidStateError('Result is not set.');
    }
  }

  /** The exception it failed with, or undefined; throws as `result()` does when cancelled or not done. */
  exception(): unknown {
    switch (this._state) {
      case FULFILLED:
        return undefined;
      case FAILED:
        this._markRetrieved();
        return this._exception;
      case CANCELLED:
        throw this._makeCancelledError();
      default:
        throw new InvalidStateError('Exception is not set.');
    }
  }

  /** Calls `cb(this)` on the loop once done (soon, if done already). */
  addDoneCallback(cb: (future: this) => void): void {
    if (typeof cb !== 'function') throw new TypeError('cb must be a function');
    if (this._state !== PENDING) {
      this._loop._callSoonWith(cb as (arg: never) => void, this);
      return;
    }
    (this._callbacks ??= []).push(cb as DoneCallback<never>);
  }

  /** Removes every registration of `cb`; returns how many there were. */
  removeDoneCallback(cb: (future: this) => void): number {
    const callbacks = this._callbacks;
    if (callbacks === null) return 0;
    const kept = callbacks.filter((c) => c !== cb);
    this._callbacks = kept;
    return callbacks.length - kept.length;
  }

  *[Symbol.iterator](): Coro<T> {
    if (this._state === PENDING) {
      awaiting = this;
      yield this;
    }
    return this.result();
  }

  /** @internal */
  _setResult(value: T): void {
    if (this._state !== PENDING) throw new InvalidStateError('the future is already done');
    this._state = FULFILLED;
    this._result = value;
    this._scheduleCallbacks();
  }

  /** @internal */
  _setException(exception: unknown, taskName?: string): void {
    if (this._state !== PENDING) throw new InvalidStateError('the future is already done');
    this._state = FAILED;
    this._exception = exception;
    // Format the stack now: until then V8 keeps the raw frames, whose
    // receivers include this task (Task._run), and the report below would
    // keep the task alive forever, so it could never be reported at GC.
    if (exception instanceof Error) void exception.stack;
    const what = taskName === undefined ? 'Future' : 'Task';
    const report = new UnretrievedReport(this._loop, `${what} exception was never retrieved`, exception, taskName);
    this._report = report;
    unretrieved.register(this, report, report);
    this._loop._unretrievedAdd(report);
    this._scheduleCallbacks();
  }

  /** @internal A task parks on this future. */
  _addWaiter(task: Task<unknown>): void {
    if (this._state !== PENDING) {
      task._wake(this);
      return;
    }
    (this._callbacks ??= []).push(task);
  }

  /** @internal True if it failed (without marking the exception retrieved). */
  _hasException(): boolean {
    return this._state === FAILED;
  }

  /** @internal */
  _markRetrieved(): void {
    const report = this._report;
    if (report === null) return;
    this._report = null;
    unretrieved.unregister(report);
    this._loop._unretrievedRemove(report);
  }

  /** @internal */
  _makeCancelledError(): CancelledError {
    return (this._cancelledError ??= new CancelledError(this._cancelMessage));
  }

  /** @internal */
  _scheduleCallbacks(): void {
    const callbacks = this._callbacks;
    if (callbacks === null) return;
    this._callbacks = null;
    for (const cb of callbacks) {
      if (cb instanceof Task) cb._wake(this);
      else this._loop._callSoonWith(cb as (arg: never) => void, this);
    }
  }
}

// Set by a future's own iterator (`yield* task`) just before it yields the
// future; the task reads it at that very step. A future yielded any other
// way is `yield task` without its `*`, which would resume with undefined.
let awaiting: Future<unknown> | null = null;

/** @internal Waits until `future` is done, without taking its result (`yield*` this). */
export function* untilDone(future: Future<unknown>): Coro<void> {
  while (future._state === PENDING) {
    awaiting = future;
    yield future;
  }
}

let current: Task<unknown> | null = null;

/** The task whose coroutine is running now, or null outside any task. */
export function currentTask(): Task<unknown> | null {
  return current;
}

let taskCounter = 0;
const NOTHING: unique symbol = Symbol('nothing');

/**
 * A coroutine scheduled on a loop, as asyncio's Task. `yield* task` waits for
 * it and returns its result (or throws its exception). Made by
 * `loop.createTask()`.
 */
export class Task<T = unknown> extends Future<T> implements Runnable {
  /** The task's name ("Task-<n>" unless given). */
  readonly name: string;
  /** @internal */ readonly _coro: Coro<T>;
  /** @internal What the task is parked on; null while it runs or is ready. */
  _waitingOn: Future<unknown> | Parking | null = null;
  /** @internal Deliver a CancelledError at the next step. */
  _mustCancel = false;
  /** @internal */ _numCancelsRequested = 0;
  /** @internal An error to throw in at the next step (a bad yield). */
  _throwNext: unknown = NOTHING;
  #cancelling = false;

  /** @internal Use `loop.createTask()`. */
  constructor(loop: LoopCore, coro: Coro<T>, name?: string) {
    super(loop);
    this._coro = coro;
    this.name = name ?? `Task-${++taskCounter}`;
  }

  /**
   * Requests cancellation: a CancelledError is thrown into the coroutine at
   * the `yield*` where it waits (a task it waits on is cancelled instead,
   * and that error then reaches this one). False if it is already done.
   */
  override cancel(msg?: string): boolean {
    if (this._state !== PENDING) return false;
    // Waking a parked task means queueing it on its loop; asyncio's
    // call_soon raises here too rather than queue on a dead loop.
    if (this._waitingOn !== null && this._loop.isClosed()) {
      throw new Error(`Event loop is closed: cannot cancel ${this.name}, which waits on a closed loop`);
    }
    this._numCancelsRequested++;
    const waitingOn = this._waitingOn;
    if (waitingOn instanceof Future && !this.#cancelling) {
      // Leave _waitingOn: that future wakes us once it is cancelled, and it
      // may be a task that swallows the cancellation and returns a result.
      this.#cancelling = true;
      try {
        if (waitingOn.cancel(msg)) return true;
      } finally {
        this.#cancelling = false;
      }
    } else if (waitingOn !== null) {
      // A parking spot, or a cycle of tasks waiting on each other that led
      // back here (asyncio recurses until the stack overflows): stop
      // waiting and take the CancelledError ourselves, which then unwinds
      // the others.
      if (waitingOn instanceof Future) {
        this._waitingOn = null;
      } else {
        waitingOn._unpark(this);
        this._waitingOn = null;
      }
      this._loop._enqueue(this);
    }
    this._mustCancel = true;
    this._cancelMessage = msg;
    return true;
  }

  /** The number of pending cancellation requests (asyncio 3.11). */
  cancelling(): number {
    return this._numCancelsRequested;
  }

  /**
   * Takes back one cancellation request; returns the count left. At zero a
   * cancellation not yet delivered is dropped (as in Python 3.13), which is
   * what lets `waitFor` recover when its deadline and the result coincide.
   */
  uncancel(): number {
    if (this._numCancelsRequested > 0) {
      this._numCancelsRequested--;
      if (this._numCancelsRequested === 0) this._mustCancel = false;
    }
    return this._numCancelsRequested;
  }

  /** @internal Resumes the task if it is parked on `from`. */
  _wake(from: Future<unknown> | Parking): void {
    if (this._waitingOn !== from) return;
    this._waitingOn = null;
    this._loop._enqueue(this);
  }

  /** @internal One step of the coroutine: run it to its next pause. */
  _run(): void {
    if (this._state !== PENDING) return;
    let error: unknown = NOTHING;
    if (this._mustCancel) {
      this._mustCancel = false;
      error = new CancelledError(this._cancelMessage);
    } else if (this._throwNext !== NOTHING) {
      error = this._throwNext;
      this._throwNext = NOTHING;
    }
    const previous = current;
    current = this;
    awaiting = null;
    let step: IteratorResult<unknown, T>;
    try {
      step = error === NOTHING ? this._coro.next() : this._coro.throw(error);
    } catch (thrown) {
      current = previous;
      if (thrown instanceof CancelledError) this._finishCancelled(thrown);
      else this._finishFailed(thrown);
      return;
    }
    current = previous;

    if (step.done === true) {
      if (this._mustCancel) {
        // Cancelled after its last pause: cancelled it is, as in asyncio.
        this._mustCancel = false;
        this._finishCancelled(new CancelledError(this._cancelMessage));
      } else {
        this._state = FULFILLED;
        this._result = step.value;
        this._loop._taskDone(this);
        this._scheduleCallbacks();
      }
      return;
    }

    const yielded = step.value;
    // Read once and cleared: a global must not keep a future (and its loop) alive.
    const awaited = awaiting as Future<unknown> | null;
    awaiting = null;
    if (yielded === PARKED) {
      const waitingOn = this._waitingOn;
      if (waitingOn === null || waitingOn instanceof Future) {
        this._badYield(new Error('internal error: PARKED was yielded without parking the task'));
      } else if (this._mustCancel) {
        waitingOn._unpark(this);
        this._waitingOn = null;
        this._loop._enqueue(this);
      }
    } else if (yielded instanceof Future) {
      if (yielded !== awaited) {
        this._badYield(new TypeError(`${this.name} yielded ${yielded instanceof Task ? 'a Task' : 'a Future'} ` +
          'without *: write `yield* task` to wait for it and get its result'));
      } else if (yielded._loop !== this._loop) {
        this._badYield(new Error(`${this.name} waits on a task or future of another event loop`));
      } else if (yielded === this) {
        this._badYield(new Error(`${this.name} cannot wait on itself`));
      } else {
        this._waitingOn = yielded;
        yielded._addWaiter(this);
        if (this._mustCancel && yielded.cancel(this._cancelMessage)) this._mustCancel = false;
      }
    } else if (yielded === undefined) {
      this._loop._enqueue(this);
    } else {
      this._badYield(new TypeError(`${this.name} ${describeYield(yielded)}`));
    }
  }

  #describeState(): string {
    switch (this._state) {
      case PENDING:
        return 'pending';
      case CANCELLED:
        return 'cancelled';
      default:
        return 'finished';
    }
  }

  override toString(): string {
    let text = `<Task ${this.#describeState()} name='${this.name}'`;
    if (this._state === FAILED) text += ` exception=${describeError(this._exception)}`;
    return `${text}>`;
  }

  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return this.toString();
  }

  /** @internal */
  _finishCancelled(error: CancelledError): void {
    this._state = CANCELLED;
    this._cancelledError = error;
    this._loop._taskDone(this);
    this._scheduleCallbacks();
  }

  /** @internal */
  _finishFailed(exception: unknown): void {
    this._setException(exception, this.name);
    this._loop._taskDone(this);
  }

  /** @internal Throws `error` in at the next step, as asyncio does for a bad yield. */
  _badYield(error: Error): void {
    this._throwNext = error;
    this._loop._enqueue(this);
  }
}

// What a mistaken yield was, and the fix, for the TypeError thrown back in.
function describeYield(value: unknown): string {
  if (value !== null && typeof value === 'object' && typeof (value as Coro<unknown>).next === 'function') {
    return 'yielded a generator without *: write `yield* gen()` to run it and get its result';
  }
  if (value !== null && (typeof value === 'object' || typeof value === 'function') &&
      typeof (value as PromiseLike<unknown>).then === 'function') {
    return 'yielded a Promise: wait for it with `yield* fromPromise(promise)`';
  }
  const what = typeof value === 'object' ? String(value) : `${typeof value} ${String(value)}`;
  return `yielded ${what}; a coroutine must pause with yield* (e.g. \`yield* sleep(10)\`, \`yield* task\`), not yield`;
}

/** Short form of an exception for one-line descriptions: `Error('boom')`. */
export function describeError(error: unknown): string {
  if (error instanceof Error) return `${error.name}(${JSON.stringify(error.message)})`;
  return String(error);
}

/**
 * A task parked in a sleep: the timer resumes the task directly when due,
 * so a sleep costs one heap entry and no callback or future.
 */
export class SleepHandle extends TimerHandle implements Parking {
  /** @internal */
  constructor(owner: HandleOwner, when: number, task: Task<unknown>) {
    super(owner, when, noop, task);
  }

  /** @internal */
  override _run(): void {
    const task = this._arg as Task<unknown>;
    if (this._callback === null || task._waitingOn !== this) return;
    task._waitingOn = null;
    task._run();
  }

  /** @internal */
  _unpark(): void {
    this.cancel();
  }
}

function noop(): void {}
