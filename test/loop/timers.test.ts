// Timers: sleep, callSoon, callLater, the heap's ordering and the clock.
import { describe, expect, it } from 'vitest';

import { type Coro, getRunningLoop, run, sleep } from '../../src/index.js';
import { withLoop } from './support.js';

describe('timers', () => {
  it('finishes sleeps in the order of their deadlines, not of their start', () => {
    const order = run(function* () {
      const loop = getRunningLoop();
      const finished: number[] = [];
      const sleeper = function* (ms: number): Coro<void> {
        yield* sleep(ms);
        finished.push(ms);
      };
      const tasks = [80, 20, 40, 0, 60].map((ms) => loop.createTask(sleeper(ms)));
      for (const task of tasks) yield* task;
      return finished;
    });
    expect(order).toEqual([0, 20, 40, 60, 80]);
  });

  it('returns the given value from sleep and never wakes before the delay', () => {
    const [value, elapsed] = run(function* () {
      const loop = getRunningLoop();
      const start = loop.time();
      const value = yield* sleep(20, 'done');
      return [value, loop.time() - start] as const;
    });
    expect(value).toBe('done');
    expect(elapsed).toBeGreaterThanOrEqual(20);
  });

  it('runs callbacks with equal deadlines in the order they were scheduled', () => {
    withLoop((loop) => {
      const order: number[] = [];
      const when = loop.time() + 10;
      for (let i = 0; i < 50; i++) loop.callAt(when, () => order.push(i));
      loop.runUntilComplete(sleep(20));
      expect(order).toEqual([...Array(50).keys()]);
    });
  });

  it('wakes sleeps of equal length in the order they started', () => {
    const order = run(function* () {
      const loop = getRunningLoop();
      const woke: string[] = [];
      const sleeper = function* (name: string): Coro<void> {
        yield* sleep(10);
        woke.push(name);
      };
      const tasks = ['a', 'b', 'c', 'd'].map((name) => loop.createTask(sleeper(name)));
      for (const task of tasks) yield* task;
      return woke;
    });
    expect(order).toEqual(['a', 'b', 'c', 'd']);
  });

  it('does not run a callLater callback that was cancelled', () => {
    withLoop((loop) => {
      const ran: string[] = [];
      // Absolute deadlines from one base, so a slow machine cannot reorder them.
      const base = loop.time();
      const cancelled = loop.callAt(base + 20, () => ran.push('cancelled'));
      loop.callAt(base + 30, () => ran.push('kept'));
      loop.callAt(base + 1, () => cancelled.cancel());
      loop.runUntilComplete(sleep(40));
      expect(ran).toEqual(['kept']);
      expect(cancelled.cancelled()).toBe(true);
    });
  });

  it('stays correct when most timers are cancelled and the heap sweeps them', () => {
    withLoop((loop) => {
      const ran: number[] = [];
      const handles = Array.from({ length: 1000 }, (_, i) => loop.callLater(5 + (i % 7), () => ran.push(i)));
      for (let i = 0; i < 1000; i++) if (i % 10 !== 0) handles[i]!.cancel();
      loop.runUntilComplete(sleep(30));
      expect(ran.sort((a, b) => a - b)).toEqual(Array.from({ length: 100 }, (_, i) => i * 10));
    });
  });

  it('lets sleep(0) yield to every other ready task exactly once', () => {
    const order = run(function* () {
      const loop = getRunningLoop();
      const log: string[] = [];
      const worker = function* (name: string): Coro<void> {
        for (let i = 0; i < 3; i++) {
          log.push(`${name}${i}`);
          yield* sleep(0);
        }
      };
      const a = loop.createTask(worker('a'));
      const b = loop.createTask(worker('b'));
      const c = loop.createTask(worker('c'));
      yield* a;
      yield* b;
      yield* c;
      return log;
    });
    expect(order).toEqual(['a0', 'b0', 'c0', 'a1', 'b1', 'c1', 'a2', 'b2', 'c2']);
  });

  it('runs callSoon callbacks in order, on the next iteration', () => {
    withLoop((loop) => {
      const order: string[] = [];
      loop.callSoon(() => order.push('first'));
      const handle = loop.callSoon(() => order.push('cancelled'));
      loop.callSoon(() => order.push('second'));
      handle.cancel();
      expect(order).toEqual([]);
      loop.runUntilComplete(sleep(0));
      expect(order).toEqual(['first', 'second']);
    });
  });

  it('keeps time() monotonic and in milliseconds', () => {
    withLoop((loop) => {
      const t0 = loop.time();
      const wall0 = Date.now();
      loop.runUntilComplete(sleep(25));
      const t1 = loop.time();
      expect(t1).toBeGreaterThan(t0);
      expect(t1 - t0).toBeGreaterThanOrEqual(25);
      expect(t1 - t0).toBeLessThan(Date.now() - wall0 + 5);
    });
  });

  it('reports an exception thrown by a callback and keeps running', () => {
    withLoop((loop) => {
      const seen: string[] = [];
      loop.setExceptionHandler((_loop, context) => seen.push(`${context.message}: ${(context.exception as Error).message}`));
      loop.callSoon(() => {
        throw new Error('callback failed');
      });
      loop.callLater(1, () => seen.push('later ran'));
      loop.runUntilComplete(sleep(5));
      expect(seen).toEqual(['Exception in callback: callback failed', 'later ran']);
    });
  });

  it('refuses a delay that is not a number', () => {
    withLoop((loop) => {
      expect(() => loop.callLater(Number.NaN, () => {})).toThrow(TypeError);
      expect(() => loop.callLater('5' as never, () => {})).toThrow(TypeError);
      expect(() => loop.callSoon(5 as never)).toThrow(TypeError);
    });
  });
});
