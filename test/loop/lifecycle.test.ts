// The loop's lifecycle guarantees: cancellation that always ends cancelled,
// clear errors for mistaken yields, a closed loop that refuses work, one
// owner per selector, and loops that are collectable when dropped.
import { describe, expect, it } from 'vitest';

import {
  CancelledError, type Coro, EventLoop, fromPromise, gather, getRunningLoop, run, sleep, type Task,
  waitFor,
} from '../../src/index.js';
import { inMacrotask } from './support.js';

// A coroutine that takes a few iterations to unwind once cancelled.
function* slowToCancel(): Coro<string> {
  try {
    yield* sleep(10_000);
    return 'finished';
  } finally {
    yield* sleep(5);
  }
}

// Runs `wait` in a task, cancels that task once it is parked (`iterations`
// later, before the work it waits for can finish), and returns its fate.
function cancelWhileWaiting(wait: () => Coro<unknown>, iterations = 1): string {
  return run(function* () {
    const loop = getRunningLoop();
    const waiter: Task<unknown> = loop.createTask(wait());
    for (let i = 0; i < iterations; i++) yield* sleep(0);
    waiter.cancel();
    try {
      yield* waiter;
    } catch (error) {
      return error instanceof CancelledError && waiter.cancelled() ? 'cancelled' : `failed: ${String(error)}`;
    }
    return 'completed';
  });
}

describe('cancelling a task that waits', () => {
  it('ends cancelled when the task waits in waitFor(aw, 0) for work that takes time to unwind', () => {
    expect(cancelWhileWaiting(() => waitFor(slowToCancel(), 0))).toBe('cancelled');
  });

  it('ends cancelled when the task waits in waitFor(task, 0) for a task that takes time to unwind', () => {
    expect(cancelWhileWaiting(function* () {
      const inner = getRunningLoop().createTask(slowToCancel());
      yield* sleep(0);
      return yield* waitFor(inner, 0);
    }, 2)).toBe('cancelled');
  });

  it('ends cancelled when the task waits in waitFor(aw, t) with time left', () => {
    expect(cancelWhileWaiting(() => waitFor(slowToCancel(), 60_000))).toBe('cancelled');
  });

  it('ends cancelled when the task waits in gather, with or without returnExceptions', () => {
    expect(cancelWhileWaiting(() => gather(slowToCancel(), slowToCancel()))).toBe('cancelled');
    expect(cancelWhileWaiting(() => gather([slowToCancel(), sleep(10_000)], { returnExceptions: true })))
      .toBe('cancelled');
  });

  it('ends cancelled when the task waits in fromPromise', async () => {
    expect(await inMacrotask(() => cancelWhileWaiting(() => fromPromise(new Promise(() => {})))))
      .toBe('cancelled');
  });
});

describe('mistaken yields', () => {
  // The message the coroutine catches at the mistaken yield.
  function caughtAt(mistake: (loop: EventLoop) => unknown): string {
    return run(function* () {
      const loop = getRunningLoop();
      try {
        const resumed = yield mistake(loop);
        return `resumed with ${String(resumed)}`;
      } catch (error) {
        return `${(error as Error).name}: ${(error as Error).message}`;
      }
    });
  }

  it('throws a TypeError naming `yield* task` into a coroutine that yields a task without *', () => {
    const message = caughtAt((loop) => loop.createTask(sleep(1, 'result')));
    expect(message).toMatch(/^TypeError: .*yield\* task/);
  });

  it('throws the TypeError for a task that is already done, too', () => {
    const message = run(function* () {
      const task = getRunningLoop().createTask(sleep(0, 'result'));
      yield* task;
      try {
        yield task;
        return 'resumed';
      } catch (error) {
        return `${(error as Error).name}: ${(error as Error).message}`;
      }
    });
    expect(message).toMatch(/^TypeError: .*yield\* task/);
  });

  it('throws a TypeError naming fromPromise into a coroutine that yields a Promise', () => {
    expect(caughtAt(() => Promise.resolve(1))).toMatch(/^TypeError: .*yield\* fromPromise\(promise\)/);
  });

  it('throws a TypeError naming `yield* gen()` into a coroutine that yields a generator', () => {
    expect(caughtAt(() => sleep(1))).toMatch(/^TypeError: .*yield\* gen\(\)/);
  });
});

describe('a closed loop', () => {
  it('refuses to cancel a task that was left waiting on it', () => {
    const loop = new EventLoop();
    const sleeper = loop.createTask(sleep(10_000));
    loop.runUntilComplete(sleep(1));
    loop.close();
    expect(() => sleeper.cancel()).toThrow(/Event loop is closed/);
    expect(sleeper.done()).toBe(false);
  });
});
