// shield, wait, asCompleted (and waitFor's cancellation rules, after
// CPython's test_waitfor.py), in both run modes.
import { describe, expect, it } from 'vitest';

import {
  asCompleted, CancelledError, type Coro, Event, getRunningLoop, shield, sleep, type Task, TimeoutError,
  wait, waitFor,
} from '../../src/index.js';
import { MODES, runIn, ticks } from './toolbox-support.js';

function spawn<T>(coro: Coro<T>): Task<T> {
  return getRunningLoop().createTask(coro);
}

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

function* fail(message: string, delay = 1): Coro<never> {
  yield* sleep(delay);
  throw new Error(message);
}

describe.each(MODES)('shield (%s)', (mode) => {
  it('gives the inner result', async () => {
    await runIn(mode, function* () {
      expect(yield* shield(sleep(1, 'inner'))).toBe('inner');
      const done = spawn(sleep(0, 'already'));
      yield* done;
      expect(yield* shield(done)).toBe('already');
    });
  });

  it('keeps the inner work running when the waiting task is cancelled, which ends cancelled', async () => {
    await runIn(mode, function* () {
      const release = new Event();
      const inner = spawn((function* () {
        yield* release.wait();
        return 'finished anyway';
      })());
      const outer = spawn(shield(inner));
      yield* ticks();
      outer.cancel();
      expect(yield* outcome(outer)).toBeInstanceOf(CancelledError);
      expect(outer.cancelled()).toBe(true);
      expect(inner.done()).toBe(false);
      release.set();
      expect(yield* inner).toBe('finished anyway');
    });
  });

  it('passes on the inner failure and the inner cancellation', async () => {
    await runIn(mode, function* () {
      expect(((yield* outcome(shield(fail('inner failed')))) as Error).message).toBe('inner failed');
      const inner = spawn(forever());
      const waiter = spawn(shield(inner));
      yield* ticks();
      inner.cancel();
      expect(yield* outcome(waiter)).toBeInstanceOf(CancelledError);
    });
  });
});

describe.each(MODES)('wait (%s)', (mode) => {
  it('waits for all by default and returns them as done', async () => {
    await runIn(mode, function* () {
      const a = spawn(sleep(1, 'a'));
      const [done, pending] = yield* wait([a, sleep(3, 'b'), fail('c', 2)]);
      expect(done.size).toBe(3);
      expect(pending.size).toBe(0);
      expect(done.has(a)).toBe(true);
      for (const t of done) if (t !== a && !t.cancelled()) t.exception();
    });
  });

  it('returns at the first completion with FIRST_COMPLETED, cancelling nothing', async () => {
    await runIn(mode, function* () {
      const fast = spawn(sleep(1, 'fast'));
      const slow = spawn(forever());
      const [done, pending] = yield* wait([fast, slow], { returnWhen: 'FIRST_COMPLETED' });
      // (Sets of tasks are compared by hand: toEqual would iterate a pending task.)
      expect(done.size === 1 && done.has(fast)).toBe(true);
      expect(pending.size === 1 && pending.has(slow)).toBe(true);
      expect(slow.done()).toBe(false);
    });
  });

  it('returns at the first failure with FIRST_EXCEPTION, or when all are done', async () => {
    await runIn(mode, function* () {
      const ok = spawn(sleep(1, 'ok'));
      const bad = spawn(fail('bad', 3));
      const slow = spawn(forever());
      const [done, pending] = yield* wait([ok, bad, slow], { returnWhen: 'FIRST_EXCEPTION' });
      expect(done.size === 2 && done.has(ok) && done.has(bad)).toBe(true);
      expect(pending.size === 1 && pending.has(slow)).toBe(true);
      const [allDone] = yield* wait([spawn(sleep(1)), spawn(sleep(2))], { returnWhen: 'FIRST_EXCEPTION' });
      expect(allDone.size).toBe(2);
    });
  });

  it('returns what is pending when the timeout passes', async () => {
    await runIn(mode, function* () {
      const slow = spawn(forever());
      const [done, pending] = yield* wait([slow], { timeout: 5 });
      expect(done.size).toBe(0);
      expect(pending.size === 1 && pending.has(slow)).toBe(true);
      expect(slow.done()).toBe(false);
    });
  });

  it('refuses no tasks, a bare task and a bad returnWhen', async () => {
    await runIn(mode, function* () {
      expect(yield* outcome(wait([]))).toBeInstanceOf(RangeError);
      expect(yield* outcome(wait(spawn(sleep(0)) as never))).toBeInstanceOf(TypeError);
      expect(yield* outcome(wait([sleep(0)], { returnWhen: 'SOMETIMES' as never }))).toBeInstanceOf(RangeError);
    });
  });
});

describe.each(MODES)('asCompleted (%s)', (mode) => {
  it('gives results in the order the work finishes', async () => {
    await runIn(mode, function* () {
      const got: unknown[] = [];
      for (const next of asCompleted([sleep(15, 'c'), sleep(1, 'a'), sleep(8, 'b')])) got.push(yield* next);
      expect(got).toEqual(['a', 'b', 'c']);
    });
  });

  it('throws each failure from its own step', async () => {
    await runIn(mode, function* () {
      const got: unknown[] = [];
      for (const next of asCompleted<unknown>([fail('first', 1), sleep(10, 'second')])) {
        got.push(yield* outcome(next));
      }
      expect((got[0] as Error).message).toBe('first');
      expect(got[1]).toBe('second');
    });
  });

  it('throws TimeoutError for what is left when the timeout passes', async () => {
    await runIn(mode, function* () {
      const slow = spawn(forever());
      const quick = spawn(sleep(0, 'quick'));
      yield* quick; // finished before the clock starts: no race with the timeout
      const got: unknown[] = [];
      for (const next of asCompleted<unknown>([quick, slow], { timeout: 10 })) {
        got.push(yield* outcome(next));
      }
      expect(got[0]).toBe('quick');
      expect(got[1]).toBeInstanceOf(TimeoutError);
      expect(slow.done()).toBe(false);
    });
  });
});

describe.each(MODES)('waitFor and cancellation (%s)', (mode) => {
  it('ends a task cancelled while it waits in waitFor cancelled, for any timeout', async () => {
    await runIn(mode, function* () {
      for (const t of [null, 10_000]) {
        const task = spawn(waitFor(forever(), t));
        yield* ticks();
        task.cancel();
        expect(yield* outcome(task)).toBeInstanceOf(CancelledError);
        expect(task.cancelled()).toBe(true);
      }
    });
  });

  it('gives the result when the work finishes before the deadline', async () => {
    await runIn(mode, function* () {
      expect(yield* waitFor(sleep(1, 'in time'), 1_000)).toBe('in time');
      expect(yield* outcome(waitFor(forever(), 2))).toBeInstanceOf(TimeoutError);
    });
  });
});
