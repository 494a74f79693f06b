// waitFor, gather and fromPromise.
import { describe, expect, it } from 'vitest';

import {
  CancelledError, type Coro, EventLoop, fromPromise, gather, getRunningLoop, OSError, run, sleep,
  TimeoutError, waitFor,
} from '../../src/index.js';
import { inMacrotask, withLoop } from './support.js';

describe('waitFor', () => {
  it('returns the result when the work finishes in time', () => {
    expect(run(function* () {
      return yield* waitFor(sleep(5, 'in time'), 1_000);
    })).toBe('in time');
  });

  it('cancels the work on timeout, lets it unwind, and throws the exported TimeoutError', () => {
    const events: string[] = [];
    const error = run(function* () {
      const slow = function* (): Coro<string> {
        try {
          yield* sleep(10_000);
          return 'late';
        } finally {
          events.push('inner finally');
        }
      };
      try {
        yield* waitFor(slow(), 10);
      } catch (caught) {
        events.push('outer caught');
        return caught;
      }
      return null;
    });
    expect(error).toBeInstanceOf(TimeoutError);
    expect(error).toBeInstanceOf(OSError);
    expect((error as TimeoutError).code).toBe('ETIMEDOUT');
    expect(events).toEqual(['inner finally', 'outer caught']);
  });

  it('cancels a task it waits on when the time runs out', () => {
    const [kind, cancelled] = run(function* () {
      const task = getRunningLoop().createTask(sleep(10_000));
      try {
        yield* waitFor(task, 5);
      } catch (error) {
        return [error instanceof TimeoutError ? 'timeout' : 'other', task.cancelled()];
      }
      return ['no timeout', false];
    });
    expect(kind).toBe('timeout');
    expect(cancelled).toBe(true);
  });

  it('gives the inner timeout to the inner waitFor when nested', () => {
    const result = run(function* () {
      const inner = function* (): Coro<string> {
        try {
          yield* waitFor(sleep(10_000), 10);
        } catch (error) {
          if (error instanceof TimeoutError) return 'inner timed out';
          throw error;
        }
        return 'inner done';
      };
      return yield* waitFor(inner(), 1_000);
    });
    expect(result).toBe('inner timed out');
  });

  it('gives the outer timeout to the outer waitFor when nested, the inner one seeing a cancellation', () => {
    const events: string[] = [];
    const result = run(function* () {
      const inner = function* (): Coro<string> {
        try {
          return yield* waitFor(sleep(10_000, 'inner done'), 1_000);
        } catch (error) {
          events.push(error instanceof CancelledError ? 'inner saw CancelledError' : `inner saw ${String(error)}`);
          throw error;
        }
      };
      try {
        return yield* waitFor(inner(), 10);
      } catch (error) {
        return error instanceof TimeoutError ? 'outer timed out' : `other: ${String(error)}`;
      }
    });
    expect(result).toBe('outer timed out');
    expect(events).toEqual(['inner saw CancelledError']);
  });

  it('returns what the work returns when it swallows the cancellation', () => {
    expect(run(function* () {
      const stubborn = function* (): Coro<string> {
        try {
          yield* sleep(10_000);
        } catch {
          return 'swallowed';
        }
        return 'slept';
      };
      return yield* waitFor(stubborn(), 5);
    })).toBe('swallowed');
  });

  it('lets a cancellation from elsewhere through as CancelledError, not TimeoutError', () => {
    withLoop((loop) => {
      const task = loop.createTask(waitFor(sleep(10_000), 5_000));
      loop.callLater(5, () => task.cancel());
      expect(() => loop.runUntilComplete(task)).toThrow(CancelledError);
    });
  });

  it('times out at once with a zero timeout without starting the work', () => {
    let started = false;
    const error = run(function* () {
      try {
        yield* waitFor((function* () {
          started = true;
          yield* sleep(1);
        })(), 0);
      } catch (caught) {
        return caught;
      }
      return null;
    });
    expect(error).toBeInstanceOf(TimeoutError);
    expect(started).toBe(false);
  });
});

describe('gather', () => {
  it('runs its arguments concurrently and returns their results in order', () => {
    const [results, log] = run(function* () {
      const log: string[] = [];
      const job = function* (name: string, ms: number): Coro<string> {
        log.push(`start ${name}`);
        yield* sleep(ms);
        log.push(`end ${name}`);
        return name;
      };
      const results = yield* gather(job('a', 60), job('b', 20), job('c', 40));
      return [results, log] as const;
    });
    expect(results).toEqual(['a', 'b', 'c']);
    expect(log).toEqual(['start a', 'start b', 'start c', 'end b', 'end c', 'end a']);
  });

  it('throws the first failure at once while the other children keep running', () => {
    const events: string[] = [];
    run(function* () {
      const loop = getRunningLoop();
      const failing = function* (): Coro<never> {
        yield* sleep(1);
        throw new Error('child failed');
      };
      const slow = loop.createTask(sleep(10_000, 'slow'));
      try {
        yield* gather(failing(), slow);
      } catch (error) {
        events.push(`gather threw ${(error as Error).message}`);
      }
      yield* sleep(1);
      events.push(`slow still running: ${!slow.done()}`);
      slow.cancel();
    });
    expect(events).toEqual(['gather threw child failed', 'slow still running: true']);
  });

  it('puts exceptions among the results with returnExceptions', () => {
    const results = run(function* () {
      const failing = function* (): Coro<never> {
        yield* sleep(5);
        throw new Error('child failed');
      };
      const cancelled = getRunningLoop().createTask(sleep(10_000));
      getRunningLoop().callLater(1, () => cancelled.cancel());
      return yield* gather([sleep(10, 'ok'), failing(), cancelled], { returnExceptions: true });
    });
    expect(results[0]).toBe('ok');
    expect(results[1]).toBeInstanceOf(Error);
    expect((results[1] as Error).message).toBe('child failed');
    expect(results[2]).toBeInstanceOf(CancelledError);
  });

  it('cancels every child when the task waiting on gather is cancelled', () => {
    withLoop((loop) => {
      const finallies: string[] = [];
      let started = 0;
      const child = function* (name: string): Coro<void> {
        try {
          // Once both children are paused in their sleep, cancel the waiter.
          if (++started === 2) loop.callSoon(() => task.cancel());
          yield* sleep(10_000);
        } finally {
          finallies.push(name);
        }
      };
      const task = loop.createTask(gather(child('a'), child('b')));
      expect(() => loop.runUntilComplete(task)).toThrow(CancelledError);
      expect(finallies.sort()).toEqual(['a', 'b']);
    });
  });

  it('returns an empty array for nothing to gather', () => {
    expect(run(function* () {
      return yield* gather();
    })).toEqual([]);
  });

  it('can be passed straight to runUntilComplete', () => {
    withLoop((loop) => {
      expect(loop.runUntilComplete(gather(sleep(1, 1), sleep(2, 2)))).toEqual([1, 2]);
    });
  });
});

describe('fromPromise', () => {
  it('wakes a blocking loop\'s task when JavaScript settles the Promise', async () => {
    const result = await inMacrotask(() => run(function* () {
      let resolve!: (value: string) => void;
      const promise = new Promise<string>((r) => {
        resolve = r;
      });
      getRunningLoop().callLater(5, () => resolve('resolved'));
      const already = yield* fromPromise(Promise.resolve('already'));
      return [already, yield* fromPromise(promise)];
    }));
    expect(result).toEqual(['already', 'resolved']);
  });

  it('throws the rejection reason into the task', async () => {
    const message = await inMacrotask(() => run(function* () {
      try {
        yield* fromPromise(Promise.reject(new Error('rejected')));
      } catch (error) {
        return (error as Error).message;
      }
      return 'not thrown';
    }));
    expect(message).toBe('rejected');
  });

  it('fails clearly instead of hanging when a blocking loop only waits on a Node timer', async () => {
    const loop = new EventLoop();
    try {
      const main = loop.createTask(fromPromise(new Promise((resolve) => setTimeout(resolve, 10))));
      await inMacrotask(() => {
        expect(() => loop.runUntilComplete(main)).toThrow(/runAsync/);
      });
      main.cancel();
      await inMacrotask(() => expect(() => loop.runUntilComplete(main)).toThrow(CancelledError));
    } finally {
      loop.close();
    }
  });

  it('fails clearly when a blocking loop started inside a promise job waits on a Promise', () => {
    // A test body is such a job: V8 cannot run the Promise's callback until
    // the loop returns, so fromPromise says so instead of hanging.
    expect(() => run(function* () {
      return yield* fromPromise(Promise.resolve(1));
    })).toThrow(/promise job/);
  });
});
