// run(), runUntilComplete(), runForever(), stop() and close().
import { describe, expect, it } from 'vitest';

import {
  CancelledError, type Coro, EventLoop, getRunningLoop, PollSelector, run, Selector, sleep, Task,
} from '../../src/index.js';
import { withLoop } from './support.js';

describe('running the loop', () => {
  it('cancels and finishes the tasks still pending when run()\'s main returns, then closes the loop', () => {
    const events: string[] = [];
    let loop: EventLoop | undefined;
    let leftover: Task<void> | undefined;
    const result = run(function* () {
      loop = getRunningLoop();
      leftover = loop.createTask((function* (): Coro<void> {
        try {
          yield* sleep(10_000);
        } finally {
          events.push('leftover cleaned up');
        }
      })());
      yield* sleep(1);
      return 'main done';
    });
    expect(result).toBe('main done');
    expect(events).toEqual(['leftover cleaned up']);
    expect(leftover!.cancelled()).toBe(true);
    expect(loop!.isClosed()).toBe(true);
  });

  it('throws main\'s exception out of run() and still closes the loop', () => {
    let loop: EventLoop | undefined;
    expect(() => run(function* (): Coro<void> {
      loop = getRunningLoop();
      yield* sleep(1);
      throw new RangeError('main failed');
    })).toThrow(RangeError);
    expect(loop!.isClosed()).toBe(true);
  });

  it('accepts a coroutine object as well as a generator function', () => {
    expect(run(sleep(1, 'object'))).toBe('object');
  });

  it('refuses to run a loop inside a running loop', () => {
    expect(run(function* () {
      try {
        run(sleep(0));
      } catch (error) {
        return (error as Error).message;
      }
      return 'ran';
    })).toMatch(/running/);
  });

  it('stops runForever() after the iteration in which stop() is called', () => {
    withLoop((loop) => {
      const order: string[] = [];
      loop.callSoon(() => {
        order.push('first');
        loop.stop();
      });
      loop.callSoon(() => order.push('same iteration'));
      loop.callLater(10_000, () => order.push('never'));
      loop.runForever();
      expect(order).toEqual(['first', 'same iteration']);
      expect(loop.isRunning()).toBe(false);
    });
  });

  it('throws from runUntilComplete() when the loop is stopped before the task completes', () => {
    withLoop((loop) => {
      const task = loop.createTask(sleep(1_000));
      loop.callLater(2, () => loop.stop());
      expect(() => loop.runUntilComplete(task)).toThrow(/stopped before the task completed/);
      task.cancel();
      expect(() => loop.runUntilComplete(task)).toThrow(CancelledError);
    });
  });

  it('refuses to close a running loop, and is idempotent once closed', () => {
    const loop = new EventLoop();
    expect(loop.runUntilComplete((function* () {
      try {
        loop.close();
      } catch (error) {
        return (error as Error).message;
      }
      return 'closed';
    })())).toMatch(/running/);
    loop.close();
    loop.close();
    expect(loop.isClosed()).toBe(true);
    expect(() => loop.callSoon(() => {})).toThrow(/closed/);
    expect(() => loop.createTask(sleep(0))).toThrow(/closed/);
  });

  it('fails clearly instead of hanging when nothing could ever wake the loop', () => {
    withLoop((loop) => {
      const tasks: Task<void>[] = [];
      // Two tasks waiting on each other: a deadlock.
      tasks.push(loop.createTask((function* (): Coro<void> {
        yield* sleep(0);
        yield* tasks[1]!;
      })()));
      tasks.push(loop.createTask((function* (): Coro<void> {
        yield* tasks[0]!;
      })()));
      const never = tasks[0]!;
      expect(() => loop.runUntilComplete(never)).toThrow(/wait forever/);
      never.cancel();
      expect(() => loop.runUntilComplete(never)).toThrow(CancelledError);
    });
  });

  it('runs on the poll backend too', () => {
    const loop = new EventLoop({ selector: new PollSelector() });
    try {
      expect(loop.runUntilComplete(sleep(2, 'poll'))).toBe('poll');
    } finally {
      loop.close();
    }
  });

  it('closes the selector it was given', () => {
    const selector = new Selector();
    const loop = new EventLoop({ selector });
    loop.close();
    expect(selector.getMap()).toBeNull();
  });
});
