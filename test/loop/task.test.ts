// Tasks: stepping coroutines, results and errors, the current task, and
// cancellation with asyncio's semantics.
import { describe, expect, it } from 'vitest';

import {
  allTasks, CancelledError, type Coro, currentTask, EventLoop, getRunningLoop, InvalidStateError,
  run, sleep, Task,
} from '../../src/index.js';
import { captureExceptions, withLoop } from './support.js';

describe('tasks', () => {
  it('runs a coroutine to completion and returns its result', () => {
    expect(run(function* () {
      yield* sleep(1);
      return 42;
    })).toBe(42);
  });

  it('lets yield* task wait for another task and return its result', () => {
    const result = run(function* () {
      const loop = getRunningLoop();
      const child = loop.createTask((function* () {
        yield* sleep(5);
        return 'child';
      })());
      const value = yield* child;
      return [value, child.done(), child.result()];
    });
    expect(result).toEqual(['child', true, 'child']);
  });

  it('rethrows a failed task\'s exception at the yield* that waits for it', () => {
    const result = run(function* () {
      const child = getRunningLoop().createTask((function* (): Coro<void> {
        yield* sleep(1);
        throw new Error('boom');
      })());
      try {
        yield* child;
      } catch (error) {
        return (error as Error).message;
      }
      return 'not thrown';
    });
    expect(result).toBe('boom');
  });

  it('throws InvalidStateError from result() and exception() before the task is done', () => {
    withLoop((loop) => {
      const task = loop.createTask((function* () {
        yield* sleep(1);
      })());
      expect(() => task.result()).toThrow(InvalidStateError);
      expect(() => task.exception()).toThrow(InvalidStateError);
      loop.runUntilComplete(task);
      expect(task.exception()).toBeUndefined();
    });
  });

  it('names tasks Task-<n> unless given a name', () => {
    withLoop((loop) => {
      const a = loop.createTask((function* () {})());
      const b = loop.createTask((function* () {})(), { name: 'worker' });
      expect(a.name).toMatch(/^Task-\d+$/);
      expect(b.name).toBe('worker');
      loop.runUntilComplete(b);
      loop.runUntilComplete(a);
    });
  });

  it('reports the running task through currentTask() and null outside any task', () => {
    expect(currentTask()).toBeNull();
    withLoop((loop) => {
      let seen: Task<unknown> | null = null;
      const task = loop.createTask((function* () {
        yield* sleep(0);
        seen = currentTask();
      })());
      loop.runUntilComplete(task);
      expect(seen).toBe(task);
    });
  });

  it('lists the pending tasks in allTasks(), not the finished ones', () => {
    const counts = run(function* () {
      const loop = getRunningLoop();
      const quick = loop.createTask((function* () {})());
      const slow = loop.createTask(sleep(50));
      const before = allTasks();
      yield* quick;
      const after = allTasks();
      slow.cancel();
      return [before.has(quick), before.has(slow), after.has(quick), after.has(slow), after.has(currentTask()!)];
    });
    expect(counts).toEqual([true, true, false, true, true]);
  });

  it('throws from getRunningLoop() when no loop runs, and returns the loop inside a task', () => {
    expect(() => getRunningLoop()).toThrow(/no running event loop/);
    withLoop((loop) => {
      const inside = loop.runUntilComplete((function* () {
        return getRunningLoop();
      })());
      expect(inside).toBe(loop);
    });
  });

  it('throws into a task that yields a value instead of using yield*', () => {
    const message = run(function* () {
      try {
        yield sleep(1); // the mistake: no *
      } catch (error) {
        return (error as Error).message;
      }
      return 'not thrown';
    });
    expect(message).toMatch(/yield\*/);
  });

  it('refuses a generator function where a coroutine object is needed', () => {
    withLoop((loop) => {
      expect(() => loop.createTask((function* () {}) as never)).toThrow(/call the generator function/);
    });
  });

  it('runs 10,000 concurrent tasks to completion', () => {
    const started = performance.now();
    const total = run(function* () {
      const loop = getRunningLoop();
      const tasks: Task<number>[] = [];
      for (let i = 0; i < 10_000; i++) {
        tasks.push(loop.createTask((function* () {
          yield* sleep(i % 20);
          yield* sleep(0);
          return i;
        })()));
      }
      expect(allTasks().size).toBe(10_001);
      let sum = 0;
      for (const task of tasks) sum += yield* task;
      return sum;
    });
    expect(total).toBe((10_000 * 9_999) / 2);
    expect(performance.now() - started).toBeLessThan(5_000);
  });
});

describe('cancellation', () => {
  it('throws CancelledError into the task at the yield* where it waits, and runs its finally blocks', () => {
    const events: string[] = [];
    withLoop((loop) => {
      const task = loop.createTask((function* () {
        try {
          events.push('start');
          yield* sleep(10_000);
          events.push('after sleep');
        } catch (error) {
          events.push(`caught ${(error as Error).name}: ${(error as Error).message}`);
          throw error;
        } finally {
          events.push('finally');
        }
      })());
      loop.callLater(5, () => task.cancel('stop now'));
      expect(() => loop.runUntilComplete(task)).toThrow(CancelledError);
      expect(task.cancelled()).toBe(true);
      expect(task.done()).toBe(true);
    });
    expect(events).toEqual(['start', 'caught CancelledError: stop now', 'finally']);
  });

  it('does not cancel a task that catches the CancelledError and goes on', () => {
    withLoop((loop) => {
      const task = loop.createTask((function* () {
        try {
          yield* sleep(10_000);
        } catch (error) {
          if (!(error instanceof CancelledError)) throw error;
        }
        yield* sleep(1);
        return 'carried on';
      })());
      loop.callLater(2, () => task.cancel());
      expect(loop.runUntilComplete(task)).toBe('carried on');
      expect(task.cancelled()).toBe(false);
      expect(task.cancelling()).toBe(1);
    });
  });

  it('cancels the task a cancelled task waits on, and both end cancelled', () => {
    const events: string[] = [];
    withLoop((loop) => {
      const inner = loop.createTask((function* () {
        try {
          yield* sleep(10_000);
        } finally {
          events.push('inner finally');
        }
      })());
      const outer = loop.createTask((function* () {
        try {
          yield* inner;
        } finally {
          events.push('outer finally');
        }
      })());
      loop.callLater(5, () => outer.cancel());
      expect(() => loop.runUntilComplete(outer)).toThrow(CancelledError);
      expect(inner.cancelled()).toBe(true);
      expect(outer.cancelled()).toBe(true);
    });
    expect(events).toEqual(['inner finally', 'outer finally']);
  });

  it('lets the waiting task go on when the task it waits on swallows the cancellation', () => {
    withLoop((loop) => {
      const inner = loop.createTask((function* () {
        try {
          yield* sleep(10_000);
        } catch {
          return 'inner recovered';
        }
        return 'inner finished';
      })());
      const outer = loop.createTask((function* () {
        const value = yield* inner;
        return `outer got ${value}`;
      })());
      loop.callLater(5, () => outer.cancel());
      expect(loop.runUntilComplete(outer)).toBe('outer got inner recovered');
      expect(outer.cancelled()).toBe(false);
    });
  });

  it('throws CancelledError at the yield* of a task that waits on a cancelled task', () => {
    const caught = run(function* () {
      const child = getRunningLoop().createTask(sleep(10_000));
      yield* sleep(1);
      child.cancel('gone');
      try {
        yield* child;
      } catch (error) {
        return error instanceof CancelledError ? `cancelled: ${error.message}` : 'other';
      }
      return 'not thrown';
    });
    expect(caught).toBe('cancelled: gone');
  });

  it('cancels a task that has not started without running any of it', () => {
    withLoop((loop) => {
      let ran = false;
      const task = loop.createTask((function* () {
        ran = true;
        yield* sleep(1);
      })());
      expect(task.cancel()).toBe(true);
      expect(() => loop.runUntilComplete(task)).toThrow(CancelledError);
      expect(ran).toBe(false);
    });
  });

  it('returns false when cancelling a task that is already done', () => {
    withLoop((loop) => {
      const task = loop.createTask((function* () {
        return 1;
      })());
      loop.runUntilComplete(task);
      expect(task.cancel()).toBe(false);
      expect(task.cancelled()).toBe(false);
    });
  });

  it('cancels a task that cancels itself at its next pause', () => {
    withLoop((loop) => {
      const events: string[] = [];
      const task = loop.createTask((function* () {
        currentTask()!.cancel();
        events.push('still running');
        try {
          yield* sleep(10_000);
        } finally {
          events.push('finally');
        }
      })());
      expect(() => loop.runUntilComplete(task)).toThrow(CancelledError);
      expect(events).toEqual(['still running', 'finally']);
    });
  });

  it('runs done callbacks on the loop, after the task finishes, with the task', () => {
    withLoop((loop) => {
      const seen: unknown[] = [];
      const task = loop.createTask((function* () {
        yield* sleep(1);
        return 'x';
      })());
      task.addDoneCallback((t) => seen.push(t.result()));
      loop.runUntilComplete(task);
      loop.runUntilComplete(sleep(0));
      expect(seen).toEqual(['x']);
    });
  });

  it('reports a task\'s failure once nobody can retrieve it, and stays quiet once retrieved', () => {
    const loop = new EventLoop();
    const seen = captureExceptions(loop);
    const failing = loop.createTask((function* (): Coro<void> {
      throw new Error('checked');
    })());
    loop.runUntilComplete(sleep(1));
    expect(failing.exception()).toBeInstanceOf(Error);
    loop.close();
    expect(seen).toEqual([]);
  });
});
