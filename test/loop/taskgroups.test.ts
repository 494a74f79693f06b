// taskGroup: the behaviours CPython's test_taskgroups.py checks, in both run modes.
import { describe, expect, it } from 'vitest';

import {
  CancelledError, type Coro, currentTask, Event, getRunningLoop, sleep, type Task, taskGroup,
} from '../../src/index.js';
import { MODES, runIn, ticks } from './toolbox-support.js';

function* forever(log?: string[], name?: string): Coro<never> {
  try {
    yield* new Event().wait();
    throw new Error('unreachable');
  } finally {
    if (log !== undefined) log.push(`${name} finally`);
  }
}

function* failSoon(message: string, steps = 1): Coro<never> {
  yield* ticks(steps);
  throw new Error(message);
}

function* outcome(body: Coro<unknown> | Task<unknown>): Coro<unknown> {
  try {
    return yield* body;
  } catch (error) {
    return error;
  }
}

describe.each(MODES)('taskGroup (%s)', (mode) => {
  it('returns the body result once every child has finished', async () => {
    await runIn(mode, function* () {
      let a!: Task<number>;
      let b!: Task<number>;
      const result = yield* taskGroup(function* (tg) {
        a = tg.createTask(sleep(5, 1));
        b = tg.createTask(sleep(1, 2));
        return 'body';
      });
      expect(result).toBe('body');
      expect(a.result() + b.result()).toBe(3);
    });
  });

  it('cancels the other children and the body when a child fails, and throws AggregateError', async () => {
    await runIn(mode, function* () {
      const log: string[] = [];
      let sibling!: Task<never>;
      const error = yield* outcome(taskGroup(function* (tg) {
        sibling = tg.createTask(forever(log, 'sibling'));
        tg.createTask(failSoon('boom'));
        yield* forever(log, 'body');
      }));
      expect(error).toBeInstanceOf(AggregateError);
      expect((error as AggregateError).errors.map((e: Error) => e.message)).toEqual(['boom']);
      expect(sibling.cancelled()).toBe(true);
      expect(log.sort()).toEqual(['body finally', 'sibling finally']);
    });
  });

  it('gathers every failure, including the body\'s own', async () => {
    await runIn(mode, function* () {
      const error = yield* outcome(taskGroup(function* (tg) {
        tg.createTask(failSoon('one'));
        tg.createTask(failSoon('two'));
        yield* ticks(3);
        throw new Error('body');
      }));
      // Both children failed in the same iteration, before the body was cancelled.
      const messages = (error as AggregateError).errors.map((e: Error) => e.message);
      expect(messages.sort()).toEqual(['one', 'two']);

      const bodyFirst = yield* outcome(taskGroup(function* (tg) {
        tg.createTask(forever());
        throw new Error('body');
      }));
      expect((bodyFirst as AggregateError).errors.map((e: Error) => e.message)).toEqual(['body']);
    });
  });

  it('waits for children that take time to unwind before throwing', async () => {
    await runIn(mode, function* () {
      let slowDone = false;
      let slow!: Task<void>;
      yield* outcome(taskGroup(function* (tg) {
        slow = tg.createTask((function* () {
          try {
            yield* forever();
          } finally {
            yield* sleep(5);
            slowDone = true;
          }
        })());
        tg.createTask(failSoon('boom'));
      }));
      expect(slowDone).toBe(true);
      expect(slow.done()).toBe(true);
    });
  });

  it('leaves the parent able to go on after catching the failure', async () => {
    await runIn(mode, function* () {
      yield* outcome(taskGroup(function* (tg) {
        tg.createTask(failSoon('boom'));
        yield* forever();
      }));
      expect(currentTask()!.cancelling()).toBe(0);
      expect(yield* sleep(1, 'still running')).toBe('still running');
    });
  });

  it('cancels the children when the parent is cancelled, and the parent stays cancelled', async () => {
    await runIn(mode, function* () {
      const log: string[] = [];
      const children: Task<never>[] = [];
      const started = new Event();
      const parent = getRunningLoop().createTask(taskGroup(function* (tg) {
        children.push(tg.createTask(forever(log, 'a')), tg.createTask(forever(log, 'b')));
        started.set();
        yield* forever(log, 'body');
      }));
      yield* started.wait();
      parent.cancel();
      while (!parent.done()) yield* outcome(parent);
      expect(parent.cancelled()).toBe(true);
      expect(children.every((c) => c.cancelled())).toBe(true);
      expect(log.sort()).toEqual(['a finally', 'b finally', 'body finally']);
    });
  });

  it('stays cancelled when the parent is cancelled while the group waits for its children', async () => {
    await runIn(mode, function* () {
      let child!: Task<never>;
      const parent = getRunningLoop().createTask(taskGroup(function* (tg) {
        child = tg.createTask(forever());
      }));
      yield* ticks();
      expect(parent.done()).toBe(false);
      parent.cancel();
      yield* outcome(parent);
      expect(parent.cancelled()).toBe(true);
      expect(child.cancelled()).toBe(true);
    });
  });

  it('prefers the children\'s failures over the parent\'s cancellation', async () => {
    await runIn(mode, function* () {
      const parent = getRunningLoop().createTask(taskGroup(function* (tg) {
        tg.createTask((function* () {
          try {
            yield* forever();
          } finally {
            // eslint-disable-next-line no-unsafe-finally
            throw new Error('failed while cancelled');
          }
        })());
        yield* forever();
      }));
      yield* ticks();
      parent.cancel();
      const error = yield* outcome(parent);
      expect(error).toBeInstanceOf(AggregateError);
    });
  });

  it('refuses new children once finished or shutting down', async () => {
    await runIn(mode, function* () {
      let saved!: Parameters<Parameters<typeof taskGroup>[0]>[0];
      yield* taskGroup(function* (tg) {
        saved = tg;
      });
      expect(() => saved.createTask(sleep(1))).toThrow(/finished/);
      const error = yield* outcome(taskGroup(function* (tg) {
        tg.createTask(failSoon('boom'));
        try {
          yield* forever();
        } catch (cancelled) {
          expect(cancelled).toBeInstanceOf(CancelledError);
          expect(() => tg.createTask(sleep(1))).toThrow(/shutting down/);
          throw cancelled;
        }
      }));
      expect(error).toBeInstanceOf(AggregateError);
    });
  });

  it('lets a body start children from children', async () => {
    await runIn(mode, function* () {
      const seen: number[] = [];
      yield* taskGroup(function* (tg) {
        tg.createTask((function* () {
          yield* sleep(1);
          tg.createTask((function* () {
            yield* sleep(1);
            seen.push(2);
          })());
          seen.push(1);
        })());
      });
      expect(seen).toEqual([1, 2]);
    });
  });
});
