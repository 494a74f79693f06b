// Tasks (asyncio's tasks.py). A Task steps a generator coroutine: `next()` to resume
// it, `throw()` to deliver an error (CancelledError above all) at the
// `yield*` where it is paused. What the coroutine yields says why it paused:
//   - a Future (a Task is one): wake me when it is done;
//   - PARKED: a loop primitive (socket wait, sleep) already parked me;
//   - undefined: a bare yield, run me again after everything ready now.
// Ready tasks go straight into the loop's ready queue (no closure per step).
import {
  CANCELLED, CancelledError, type Coro, FAILED, FULFILLED, Future, type FutureLoop, PENDING, takeAwaiting,
} from './futures.js';
import { type HandleOwner, type Runnable, TimerHandle } from './timers.js';

/** Something the loop can wait for: a coroutine or a task. */
export type Awaitable<T> = Coro<T> | Task<T>;

/** Whether `value` is a generator object (a coroutine). */
export function isCoro(value: unknown): value is Coro<unknown> {
  return typeof value === 'object' && value !== null &&
    typeof (value as Coro<unknown>).next === 'function' && typeof (value as Coro<unknown>).throw === 'function';
}

/** Yielded by a loop primitive that has already parked the current task. */
export const PARKED: unique symbol = Symbol('parked');

/** Something other than a Future a task can be parked on (a socket, a sleep). */
export interface Parking {
  /** @internal Forget `task`: it is being cancelled and will not wait any more. */
  _unpark(task: Task<unknown>): void;
}

/** What futures, tasks and the combinators need from their loop. */
export interface LoopCore extends FutureLoop, HandleOwner {
  /** Schedules a coroutine to run as a task (loop.createTask). */
  createTask<T>(coro: Coro<T>, options?: { name?: string }): Task<T>;
  /** Runs `cb` after `delay` ms (loop.callLater). */
  callLater(delay: number, cb: () => void): TimerHandle;
  /** @internal */ _enqueue(item: Runnable): void;
  /** @internal */ _taskDone(task: Task<unknown>): void;
  /** @internal Parks `task` in a sleep of `delay` ms. */
  _parkSleep(task: Task<unknown>, delay: number): void;
  /** @internal A task starts waiting on a Promise (fromPromise). */
  _promiseWaitStarted(): void;
  /** @internal */ _promiseWaitEnded(): void;
  isClosed(): boolean;
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
  /** @internal */ declare readonly _loop: LoopCore;

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
    takeAwaiting();
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
    const awaited = takeAwaiting();
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
