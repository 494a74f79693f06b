// Waiting on several tasks at once, and protecting one from cancellation:
// asyncio's shield, wait and as_completed (Python 3.13).
import { TimeoutError } from '../errors.js';
import { describe } from '../validate.js';
import { type EventLoop, getRunningLoop } from './event-loop.js';
import { type Coro, Future } from './futures.js';
import { type Awaitable, isCoro, Task } from './task.js';
import { Queue } from './queues.js';
import type { Handle } from './timers.js';

function toTask<T>(loop: EventLoop, aw: unknown, what: string): Task<T> {
  if (aw instanceof Task) {
    if (aw._loop !== loop) throw new Error(`${what}(): a task belongs to another event loop`);
    return aw as Task<T>;
  }
  if (isCoro(aw)) return loop.createTask(aw as Coro<T>);
  throw new TypeError(`${what}() takes coroutines and tasks, got ${describe(aw)}`);
}

function checkTimeoutOption(value: unknown): number | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'number' || Number.isNaN(value)) {
    throw new TypeError(`options.timeout must be a number of milliseconds or null, got ${describe(value)}`);
  }
  return value;
}

/**
 * Waits for `aw` (a coroutine becomes a task) while keeping it from being
 * cancelled: if the waiting task is cancelled, it ends cancelled at once
 * but the inner work keeps running. Cancelling the inner task itself still
 * cancels it (and the waiter gets CancelledError).
 */
export function* shield<T>(aw: Awaitable<T>): Coro<T> {
  const loop = getRunningLoop();
  const inner = toTask<T>(loop, aw, 'shield');
  if (inner.done()) return inner.result();
  const outer = new Future<T>(loop);
  const innerDone = (): void => {
    if (outer.cancelled()) {
      // Nobody waits any more: the failure counts as seen, as in asyncio.
      if (!inner.cancelled()) inner.exception();
      return;
    }
    if (inner.cancelled()) outer.cancel();
    else if (inner._hasException()) outer._setException(inner.exception());
    else outer._setResult(inner.result());
  };
  inner.addDoneCallback(innerDone);
  outer.addDoneCallback(() => {
    if (!inner.done()) inner.removeDoneCallback(innerDone);
  });
  return yield* outer;
}

/** When `wait()` returns. */
export type ReturnWhen = 'FIRST_COMPLETED' | 'FIRST_EXCEPTION' | 'ALL_COMPLETED';

/** Options for `wait()`. */
export interface WaitOptions {
  /** Return after this many ms even if the condition is not met (null: no limit). */
  timeout?: number | null;
  /** Default 'ALL_COMPLETED'. */
  returnWhen?: ReturnWhen;
}

/**
 * Waits for the tasks (coroutines become tasks) until `returnWhen` holds or
 * the timeout passes; returns `[done, pending]`. Never throws the tasks'
 * errors and cancels nothing: look at `done`, deal with `pending`.
 */
export function* wait(
  aws: Iterable<Awaitable<unknown>>,
  options?: WaitOptions,
): Coro<[Set<Task<unknown>>, Set<Task<unknown>>]> {
  if (aws === null || typeof aws !== 'object' || isCoro(aws) || aws instanceof Task ||
      typeof (aws as Iterable<unknown>)[Symbol.iterator] !== 'function') {
    throw new TypeError(`wait() takes an iterable of coroutines and tasks, got ${describe(aws)}`);
  }
  if (options !== undefined && (options === null || typeof options !== 'object')) {
    throw new TypeError(`options must be an object, got ${describe(options)}`);
  }
  const timeout = checkTimeoutOption(options?.timeout);
  const returnWhen = options?.returnWhen ?? 'ALL_COMPLETED';
  if (returnWhen !== 'FIRST_COMPLETED' && returnWhen !== 'FIRST_EXCEPTION' && returnWhen !== 'ALL_COMPLETED') {
    throw new RangeError(`options.returnWhen must be 'FIRST_COMPLETED', 'FIRST_EXCEPTION' or 'ALL_COMPLETED', got ${describe(returnWhen)}`);
  }
  const loop = getRunningLoop();
  const items = [...aws];
  if (items.length === 0) throw new RangeError('wait() needs at least one task or coroutine');
  const tasks = new Set(items.map((aw) => toTask<unknown>(loop, aw, 'wait')));

  const waiter = new Future<void>(loop);
  let timer: Handle | null = null;
  if (timeout !== null) {
    timer = loop.callLater(timeout, () => {
      if (!waiter.done()) waiter._setResult(undefined);
    });
  }
  let counter = tasks.size;
  const onCompletion = (task: Task<unknown>): void => {
    counter--;
    if (counter <= 0 || returnWhen === 'FIRST_COMPLETED' ||
        (returnWhen === 'FIRST_EXCEPTION' && !task.cancelled() && task._hasException())) {
      timer?.cancel();
      if (!waiter.done()) waiter._setResult(undefined);
    }
  };
  for (const task of tasks) task.addDoneCallback(onCompletion);
  try {
    yield* waiter;
  } finally {
    timer?.cancel();
    for (const task of tasks) task.removeDoneCallback(onCompletion);
  }
  const done = new Set<Task<unknown>>();
  const pending = new Set<Task<unknown>>();
  for (const task of tasks) (task.done() ? done : pending).add(task);
  return [done, pending];
}

/**
 * Iterates over coroutines that give the results of `aws` in the order they
 * finish (asyncio.as_completed): `for (const next of asCompleted(tasks))
 * { const r = yield* next; }`. Each throws what its task threw; after
 * `options.timeout` ms the ones left throw TimeoutError.
 */
export function asCompleted<T>(aws: Iterable<Awaitable<T>>, options?: { timeout?: number | null }): Iterable<Coro<T>> {
  if (aws === null || typeof aws !== 'object' || isCoro(aws) || aws instanceof Task ||
      typeof (aws as Iterable<unknown>)[Symbol.iterator] !== 'function') {
    throw new TypeError(`asCompleted() takes an iterable of coroutines and tasks, got ${describe(aws)}`);
  }
  if (options !== undefined && (options === null || typeof options !== 'object')) {
    throw new TypeError(`options must be an object, got ${describe(options)}`);
  }
  const timeout = checkTimeoutOption(options?.timeout);
  const loop = getRunningLoop();
  const todo = new Set<Task<T>>([...new Set(aws)].map((aw) => toTask<T>(loop, aw, 'asCompleted')));
  // Finished tasks in order, and null for each one the timeout gave up on.
  const finished = new Queue<Task<T> | null>();
  let timer: Handle | null = null;
  const onCompletion = (task: Task<T>): void => {
    if (!todo.delete(task)) return; // the timeout came first
    finished.putNowait(task);
    if (todo.size === 0) timer?.cancel();
  };
  for (const task of todo) task.addDoneCallback(onCompletion);
  if (todo.size > 0 && timeout !== null) {
    timer = loop.callLater(timeout, () => {
      for (const task of todo) {
        task.removeDoneCallback(onCompletion);
        finished.putNowait(null);
      }
      todo.clear();
    });
  }
  let left = todo.size;
  function* next(): Coro<T> {
    const task = yield* finished.get();
    if (task === null) throw new TimeoutError('asCompleted() timed out');
    return task.result();
  }
  return {
    *[Symbol.iterator](): Iterator<Coro<T>> {
      while (left > 0) {
        left--;
        yield next();
      }
    },
  };
}
