// The asyncio functions that compose waits: sleep, waitFor, gather,
// fromPromise. Each is a coroutine: `yield*` it from a task.
import { TimeoutError } from '../errors.js';
import { describe } from '../validate.js';
import { CancelledError, type Coro, Future } from './futures.js';
import { requireRunningLoop } from './running.js';
import { type Awaitable, currentTask, isCoro, type LoopCore, PARKED, Task } from './task.js';

function currentTaskOf(what: string): Task<unknown> {
  const task = currentTask();
  if (task === null) throw new Error(`${what}() must run inside a task (yield* it from a coroutine the loop runs)`);
  return task;
}

function checkDelay(value: unknown, name: string): number {
  if (typeof value !== 'number' || Number.isNaN(value)) {
    throw new TypeError(`${name} must be a number of milliseconds, got ${describe(value)}`);
  }
  return value;
}

/**
 * Waits `delay` ms, then returns `value`. `sleep(0)` lets every other ready
 * task run once first.
 */
export function* sleep<T = void>(delay: number, value?: T): Coro<T> {
  checkDelay(delay, 'delay');
  if (delay <= 0) {
    // A bare yield: the task goes to the back of the ready queue.
    yield;
    return value as T;
  }
  const task = currentTaskOf('sleep');
  task._loop._parkSleep(task, delay);
  yield PARKED;
  return value as T;
}

/**
 * Waits for `aw` at most `timeout` ms (`null`: no limit). On timeout the
 * work is cancelled (a coroutine at its current pause, a task by `cancel()`),
 * and TimeoutError is thrown once it has finished unwinding.
 */
export function* waitFor<T>(aw: Awaitable<T>, timeout: number | null | undefined): Coro<T> {
  if (!(aw instanceof Task) && !isCoro(aw)) {
    throw new TypeError(`waitFor() needs a coroutine or a task, got ${describe(aw)}`);
  }
  if (timeout === null || timeout === undefined) return yield* aw;
  checkDelay(timeout, 'timeout');
  const task = currentTaskOf('waitFor');

  if (timeout <= 0) {
    // asyncio: no time at all, so the work never starts; a task already
    // done still gives its result.
    const inner = aw instanceof Task ? aw : task._loop.createTask(aw);
    if (inner.done()) return inner.result();
    // Wait on a future of our own, not on `inner`: a cancel of this task
    // then lands here as CancelledError and ends it cancelled (as CPython's
    // _cancel_and_wait), instead of reaching `inner`, which is already being
    // cancelled and whose CancelledError would read as the timeout.
    const waiter = new Future<void>(task._loop);
    const release = (): void => {
      if (!waiter.done()) waiter._setResult(undefined);
    };
    inner.addDoneCallback(release);
    try {
      inner.cancel();
      yield* waiter;
    } finally {
      inner.removeDoneCallback(release);
    }
    try {
      return inner.result();
    } catch (error) {
      if (error instanceof CancelledError) throw timeoutError(timeout, error);
      throw error;
    }
  }

  // As asyncio.timeout (Python 3.11+): the deadline cancels this very task,
  // so the cancellation lands wherever the work is paused (for a task we
  // wait on, that task is cancelled), and the CancelledError that comes back
  // out is turned into TimeoutError. cancelling()/uncancel() tell our
  // cancellation apart from one requested by someone else meanwhile.
  const cancellingBefore = task.cancelling();
  let expired = false;
  const handle = task._loop.callLater(timeout, () => {
    expired = true;
    task.cancel();
  });
  let result: T;
  try {
    result = yield* aw;
  } catch (error) {
    handle.cancel();
    if (expired && task.uncancel() <= cancellingBefore && error instanceof CancelledError) {
      throw timeoutError(timeout, error);
    }
    throw error;
  }
  handle.cancel();
  if (expired) task.uncancel();
  return result;
}

function timeoutError(timeout: number, cause: CancelledError): TimeoutError {
  const error = new TimeoutError(`waitFor() timed out after ${timeout} ms`);
  Object.defineProperty(error, 'cause', { value: cause, configurable: true, writable: true });
  return error;
}

/** Options for `gather(aws, options)`. */
export interface GatherOptions {
  /** Return exceptions (and CancelledErrors) in place of results instead of failing. */
  returnExceptions?: boolean;
}

// The result of gather: done when every child is (or, failing fast, at the
// first failure). Cancelling it cancels the children, as in asyncio.
class GatheringFuture extends Future<unknown[]> {
  readonly #children: Task<unknown>[];
  #cancelRequested = false;

  constructor(loop: LoopCore, children: Task<unknown>[]) {
    super(loop);
    this.#children = children;
  }

  override cancel(msg?: string): boolean {
    if (this.done()) return false;
    let any = false;
    for (const child of this.#children) {
      if (child.cancel(msg)) any = true;
    }
    // The future itself stays pending: it fails with CancelledError once
    // the children have unwound (or, for one that swallowed the
    // cancellation, finished).
    if (any) {
      this.#cancelRequested = true;
      this._cancelMessage = msg;
    }
    return any;
  }

  get cancelRequested(): boolean {
    return this.#cancelRequested;
  }
}

/**
 * Runs `aws` concurrently (coroutines become tasks) and returns their
 * results in order. The first failure is thrown at once (the others keep
 * running), unless `returnExceptions`, which puts errors in the results.
 * Cancelling the waiting task cancels every child.
 *
 *   const [a, b] = yield* gather(fetchA(), fetchB());
 *   const results = yield* gather([t1, t2], { returnExceptions: true });
 */
export function gather<T extends readonly Awaitable<unknown>[]>(
  ...aws: T
): Coro<{ -readonly [K in keyof T]: T[K] extends Awaitable<infer R> ? R : never }>;
export function gather(aws: readonly Awaitable<unknown>[], options?: GatherOptions): Coro<unknown[]>;
export function gather(...args: unknown[]): Coro<unknown[]> {
  if (Array.isArray(args[0])) {
    if (args.length > 2) throw new TypeError('gather(aws, options) takes an array and an options object');
    const options = args[1] as GatherOptions | undefined;
    if (options !== undefined && (typeof options !== 'object' || options === null)) {
      throw new TypeError(`options must be an object, got ${describe(options)}`);
    }
    return gatherAll(args[0] as unknown[], options?.returnExceptions === true);
  }
  return gatherAll(args, false);
}

function* gatherAll(aws: readonly unknown[], returnExceptions: boolean): Coro<unknown[]> {
  for (const aw of aws) {
    if (!(aw instanceof Task) && !isCoro(aw)) {
      throw new TypeError(`gather() takes coroutines and tasks, got ${describe(aw)}`);
    }
  }
  if (aws.length === 0) return [];
  const loop = requireRunningLoop();
  // The same awaitable twice is waited on once (asyncio does the same).
  const taskByAwaitable = new Map<unknown, Task<unknown>>();
  for (const aw of aws) {
    if (taskByAwaitable.has(aw)) continue;
    if (aw instanceof Task && aw._loop !== loop) throw new Error('gather(): a task belongs to another event loop');
    taskByAwaitable.set(aw, aw instanceof Task ? aw : loop.createTask(aw as Coro<unknown>));
  }
  const children = [...taskByAwaitable.values()];
  const outer = new GatheringFuture(loop, children);
  let finished = 0;

  const childDone = (child: Task<unknown>): void => {
    finished++;
    if (outer.done()) {
      if (!child.cancelled()) child.exception(); // retrieved: gather saw it
      return;
    }
    if (!returnExceptions) {
      if (child.cancelled()) {
        outer._setException(child._makeCancelledError());
        return;
      }
      if (child._hasException()) {
        outer._setException(child.exception());
        return;
      }
    }
    if (finished < children.length) return;
    if (outer.cancelRequested) {
      outer._setException(new CancelledError(outer._cancelMessage));
      return;
    }
    outer._setResult(aws.map((aw) => {
      const child = taskByAwaitable.get(aw)!;
      if (child.cancelled()) return child._makeCancelledError();
      return child._hasException() ? child.exception() : child.result();
    }));
  };
  for (const child of children) child.addDoneCallback(childDone);
  return yield* outer;
}

/**
 * Waits for a Promise (or any thenable). In runAsync mode any Promise
 * works. A loop that blocks the thread (runUntilComplete, run) runs promise
 * callbacks itself, so Promises settled by code on the loop work; one that
 * waits on Node's own timers, fs or net cannot settle until the loop returns.
 */
export function* fromPromise<T>(promise: PromiseLike<T>): Coro<T> {
  if (promise === null || typeof promise !== 'object' && typeof promise !== 'function' ||
      typeof (promise as PromiseLike<T>).then !== 'function') {
    throw new TypeError(`fromPromise() needs a Promise or thenable, got ${describe(promise)}`);
  }
  const task = currentTaskOf('fromPromise');
  const loop = task._loop;
  loop._promiseWaitStarted();
  const future = new Future<T>(loop);
  let waiting = true;
  const stopWaiting = (): void => {
    if (waiting) {
      waiting = false;
      loop._promiseWaitEnded();
    }
  };
  try {
    promise.then(
      (value) => {
        stopWaiting();
        if (!future.done()) future._setResult(value);
      },
      (error: unknown) => {
        stopWaiting();
        if (!future.done()) future._setException(error);
      },
    );
    return yield* future;
  } finally {
    // Cancelled, or the thenable threw: the loop no longer waits on it.
    stopWaiting();
  }
}
