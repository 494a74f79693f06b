// timeout / timeoutAt: the behaviours CPython's test_timeouts.py checks, in both run modes.
import { describe, expect, it } from 'vitest';

import {
  CancelledError, type Coro, currentTask, Event, getRunningLoop, sleep, type Task, TimeoutError, timeout, timeoutAt,
} from '../../src/index.js';
import { MODES, runIn } from './toolbox-support.js';

function* outcome(body: Coro<unknown> | Task<unknown>): Coro<unknown> {
  try {
    return yield* body;
  } catch (error) {
    return error;
  }
}

function* forever(): Coro<never> {
  yield* new Event().wait();
  throw new Error('unreachable');
}

describe.each(MODES)('timeout (%s)', (mode) => {
  it('returns the body result when it finishes in time', async () => {
    await runIn(mode, function* () {
      let expired: boolean | null = null;
      const result = yield* timeout(10_000, function* (cm) {
        const value = yield* sleep(1, 'done');
        expired = cm.expired();
        return value;
      });
      expect(result).toBe('done');
      expect(expired).toBe(false);
    });
  });

  it('cancels the work inside and throws TimeoutError, leaving the task usable', async () => {
    await runIn(mode, function* () {
      const log: string[] = [];
      const error = yield* outcome(timeout(5, function* () {
        try {
          yield* forever();
        } finally {
          log.push('inner finally');
        }
      }));
      expect(error).toBeInstanceOf(TimeoutError);
      expect((error as Error).cause).toBeInstanceOf(CancelledError);
      expect(log).toEqual(['inner finally']);
      expect(currentTask()!.cancelling()).toBe(0);
      expect(yield* sleep(1, 'after')).toBe('after');
    });
  });

  it('never expires with a null delay', async () => {
    await runIn(mode, function* () {
      expect(yield* timeout(null, function* (cm) {
        expect(cm.when()).toBeNull();
        return yield* sleep(5, 'ok');
      })).toBe('ok');
    });
  });

  it('expires at the first pause with a zero delay or a past deadline', async () => {
    await runIn(mode, function* () {
      expect(yield* outcome(timeout(0, () => sleep(1_000)))).toBeInstanceOf(TimeoutError);
      const past = getRunningLoop().time() - 1_000;
      expect(yield* outcome(timeoutAt(past, () => sleep(1_000)))).toBeInstanceOf(TimeoutError);
    });
  });

  it('moves the deadline with reschedule()', async () => {
    await runIn(mode, function* () {
      const loop = getRunningLoop();
      const error = yield* outcome(timeout(null, function* (cm) {
        cm.reschedule(loop.time() + 5);
        yield* forever();
      }));
      expect(error).toBeInstanceOf(TimeoutError);
      expect(yield* timeout(1, function* (cm) {
        cm.reschedule(null);
        return yield* sleep(10, 'no deadline now');
      })).toBe('no deadline now');
    });
  });

  it('gives the expiry to the inner of two nested timeouts', async () => {
    await runIn(mode, function* () {
      const result = yield* timeout(10_000, function* (outer) {
        const inner = yield* outcome(timeout(5, () => forever()));
        expect(inner).toBeInstanceOf(TimeoutError);
        expect(outer.expired()).toBe(false);
        return 'outer ok';
      });
      expect(result).toBe('outer ok');
    });
  });

  it('lets the outer timeout win when both expire and the outer is shorter', async () => {
    await runIn(mode, function* () {
      let innerSaw: unknown = null;
      const error = yield* outcome(timeout(5, function* () {
        innerSaw = yield* outcome(timeout(10_000, () => forever()));
        throw innerSaw;
      }));
      expect(innerSaw).toBeInstanceOf(CancelledError);
      expect(error).toBeInstanceOf(TimeoutError);
    });
  });

  it('ends a task cancelled from outside cancelled, not with TimeoutError', async () => {
    await runIn(mode, function* () {
      const task = getRunningLoop().createTask(timeout(10_000, () => forever()));
      yield* sleep(1);
      task.cancel();
      const error = yield* outcome(task);
      expect(error).toBeInstanceOf(CancelledError);
      expect(task.cancelled()).toBe(true);
    });
  });

  it('lets a cancellation of the task win over a deadline that fires at the same moment', async () => {
    await runIn(mode, function* () {
      const task = getRunningLoop().createTask(timeout(10_000, function* (cm) {
        // The deadline fires on the next iteration; the task is cancelled now.
        cm.reschedule(getRunningLoop().time() - 1);
        currentTask()!.cancel();
        yield* forever();
      }));
      const error = yield* outcome(task);
      expect(error).toBeInstanceOf(CancelledError);
      expect(task.cancelled()).toBe(true);
    });
  });

  it('passes other errors from the body through unchanged', async () => {
    await runIn(mode, function* () {
      const error = yield* outcome(timeout(10_000, function* () {
        yield* sleep(1);
        throw new RangeError('own');
      }));
      expect(error).toBeInstanceOf(RangeError);
    });
  });

  it('refuses a bad delay or body', async () => {
    await runIn(mode, function* () {
      expect(() => timeout(Number.NaN, () => sleep(1))).toThrow(TypeError);
      expect(() => timeoutAt('soon' as unknown as number, () => sleep(1))).toThrow(TypeError);
      expect(yield* outcome(timeout(1, 'x' as never))).toBeInstanceOf(TypeError);
    });
  });
});
