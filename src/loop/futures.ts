// Futures: one-shot results that tasks wait on (asyncio's futures.py). A
// Task (task.ts) is one; the loop's own waits (gather, fromPromise) use
// plain ones.

/** A coroutine: a generator whose `yield*` is `await`. */
export type Coro<T> = Generator<unknown, T, unknown>;

/** Thrown into a task by `cancel()`, and by `result()` of a cancelled task. */
export class CancelledError extends Error {}

/** `result()`/`exception()` of a task that is not done (asyncio's InvalidStateError). */
export class InvalidStateError extends Error {}

for (const cls of [CancelledError, InvalidStateError]) {
  Object.defineProperty(cls.prototype, 'name', { value: cls.name, configurable: true, writable: true });
}

/** A failed future's exception, kept for the report if nobody retrieves it. */
export class UnretrievedReport {
  reported = false;
  constructor(
    readonly loop: FutureLoop,
    readonly message: string,
    readonly exception: unknown,
    readonly taskName: string | undefined,
  ) {}
}

/** What a future needs from its loop. */
export interface FutureLoop {
  /** @internal Runs the done callback `callback(future)` on the next iteration. */
  _scheduleDoneCallback(callback: (future: never) => void, future: unknown): void;
  /** @internal */ _unretrievedAdd(report: UnretrievedReport): void;
  /** @internal */ _unretrievedRemove(report: UnretrievedReport): void;
  /** @internal */ _reportUnretrieved(report: UnretrievedReport): void;
}

/** A task waiting on a future: woken, not called, when the future is done. */
export interface Waiter {
  /** @internal */
  _wake(from: Future<unknown>): void;
}

// Reports a failed future once it can no longer be retrieved. The held value
// must not reference the future, or it would never be collected.
const unretrieved = new FinalizationRegistry<UnretrievedReport>((report) => {
  report.loop._reportUnretrieved(report);
});

// A future's state (Task reads it too).
export const PENDING = 0;
export const FULFILLED = 1;
export const FAILED = 2;
export const CANCELLED = 3;

type DoneCallback<F> = (future: F) => void;

/**
 * A one-shot result. Internal: the loop's own waits (gather, fromPromise)
 * use it; users see its subclass Task.
 */
export class Future<T = unknown> {
  /** @internal */ readonly _loop: FutureLoop;
  /** @internal */ _state = PENDING;
  /** @internal */ _result: T | undefined = undefined;
  /** @internal */ _exception: unknown = undefined;
  /** @internal Tasks waiting on this future, and user done callbacks. */
  _callbacks: Array<Waiter | DoneCallback<never>> | null = null;
  /** @internal */ _cancelMessage: string | undefined = undefined;
  /** @internal */ _cancelledError: CancelledError | null = null;
  /** @internal */ _report: UnretrievedReport | null = null;

  /** @internal */
  constructor(loop: FutureLoop) {
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
      this._loop._scheduleDoneCallback(cb as (arg: never) => void, this);
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
  _addWaiter(task: Waiter): void {
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
      // Done callbacks are functions (addDoneCallback checks); waiters are tasks.
      if (typeof cb === 'function') this._loop._scheduleDoneCallback(cb, this);
      else cb._wake(this);
    }
  }
}

// Set by a future's own iterator (`yield* task`) just before it yields the
// future; the task reads it at that very step. A future yielded any other
// way is `yield task` without its `*`, which would resume with undefined.
let awaiting: Future<unknown> | null = null;

/**
 * @internal For Task: the future that the step just run awaited with
 * `yield*` (null if none), and the marker cleared, so that this global never
 * keeps a future (and its loop) alive.
 */
export function takeAwaiting(): Future<unknown> | null {
  const future = awaiting;
  awaiting = null;
  return future;
}

/** @internal Waits until `future` is done, without taking its result (`yield*` this). */
export function* untilDone(future: Future<unknown>): Coro<void> {
  while (future._state === PENDING) {
    awaiting = future;
    yield future;
  }
}
