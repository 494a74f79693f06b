// Event, Lock, Semaphore, BoundedSemaphore, Condition, Barrier: the
// behaviours CPython's test_locks.py checks, in both run modes.
import { describe, expect, it } from 'vitest';

import {
  Barrier, BoundedSemaphore, BrokenBarrierError, CancelledError, Condition, type Coro, Event,
  getRunningLoop, Lock, Semaphore, type Task,
} from '../../src/index.js';
import { MODES, runIn, ticks } from './toolbox-support.js';

function spawn<T>(coro: Coro<T>): Task<T> {
  return getRunningLoop().createTask(coro);
}

function* settle(task: Task<unknown>): Coro<void> {
  while (!task.done()) {
    try {
      yield* task;
    } catch {
      // Only waiting for it to finish.
    }
  }
}

describe.each(MODES)('Event (%s)', (mode) => {
  it('wakes every waiter when set, and wait returns true', async () => {
    const got = await runIn(mode, function* () {
      const ev = new Event();
      const results: unknown[] = [];
      const waiters = [1, 2, 3].map((i) => spawn((function* () {
        results.push([i, yield* ev.wait()]);
      })()));
      yield* ticks();
      expect(results).toEqual([]);
      expect(ev.isSet()).toBe(false);
      ev.set();
      for (const w of waiters) yield* w;
      return results;
    });
    expect(got).toEqual([[1, true], [2, true], [3, true]]);
  });

  it('returns at once from wait when already set, and blocks again after clear', async () => {
    await runIn(mode, function* () {
      const ev = new Event();
      ev.set();
      expect(yield* ev.wait()).toBe(true);
      ev.clear();
      expect(ev.isSet()).toBe(false);
      const w = spawn(ev.wait());
      yield* ticks();
      expect(w.done()).toBe(false);
      ev.set();
      expect(yield* w).toBe(true);
    });
  });

  it('lets a waiter be cancelled without disturbing the others', async () => {
    await runIn(mode, function* () {
      const ev = new Event();
      const a = spawn(ev.wait());
      const b = spawn(ev.wait());
      yield* ticks();
      a.cancel();
      yield* settle(a);
      expect(a.cancelled()).toBe(true);
      ev.set();
      expect(yield* b).toBe(true);
    });
  });
});

describe.each(MODES)('Lock (%s)', (mode) => {
  it('is granted to waiters in the order they asked', async () => {
    const order = await runIn(mode, function* () {
      const lock = new Lock();
      const order: number[] = [];
      yield* lock.acquire();
      const tasks = [1, 2, 3, 4].map((i) => spawn((function* () {
        yield* lock.acquire();
        order.push(i);
        yield* ticks(2);
        lock.release();
      })()));
      yield* ticks();
      lock.release();
      for (const t of tasks) yield* t;
      expect(lock.locked()).toBe(false);
      return order;
    });
    expect(order).toEqual([1, 2, 3, 4]);
  });

  it('throws when released while not held', async () => {
    await runIn(mode, function* () {
      expect(() => new Lock().release()).toThrow(/not acquired/);
    });
  });

  it('loses nothing when a waiter is cancelled while it waits', async () => {
    await runIn(mode, function* () {
      const lock = new Lock();
      yield* lock.acquire();
      const a = spawn(lock.acquire());
      const b = spawn(lock.acquire());
      yield* ticks();
      a.cancel();
      yield* settle(a);
      expect(a.cancelled()).toBe(true);
      lock.release();
      expect(yield* b).toBe(true);
      expect(lock.locked()).toBe(true);
      lock.release();
      expect(lock.locked()).toBe(false);
    });
  });

  it('passes the lock on when a woken waiter is cancelled before it runs', async () => {
    await runIn(mode, function* () {
      const lock = new Lock();
      yield* lock.acquire();
      const a = spawn(lock.acquire());
      const b = spawn(lock.acquire());
      yield* ticks();
      lock.release(); // a is handed the lock...
      a.cancel(); // ...and cancelled before it could take it
      yield* settle(a);
      expect(a.cancelled()).toBe(true);
      expect(yield* b).toBe(true);
      expect(lock.locked()).toBe(true);
      lock.release();
    });
  });

  it('does not let a newcomer jump ahead of queued waiters', async () => {
    const order = await runIn(mode, function* () {
      const lock = new Lock();
      const order: string[] = [];
      yield* lock.acquire();
      const queued = spawn((function* () {
        yield* lock.acquire();
        order.push('queued');
        lock.release();
      })());
      yield* ticks();
      lock.release();
      // Free now, but `queued` was promised it: a newcomer must wait.
      const late = spawn((function* () {
        yield* lock.acquire();
        order.push('late');
        lock.release();
      })());
      yield* queued;
      yield* late;
      return order;
    });
    expect(order).toEqual(['queued', 'late']);
  });

  it('releases a held lock on every way out of hold()', async () => {
    await runIn(mode, function* () {
      const lock = new Lock();
      expect(yield* lock.hold(function* () {
        expect(lock.locked()).toBe(true);
        return 7;
      })).toBe(7);
      expect(lock.locked()).toBe(false);

      let caught: unknown;
      try {
        yield* lock.hold(function* () {
          throw new Error('boom');
        });
      } catch (error) {
        caught = error;
      }
      expect((caught as Error).message).toBe('boom');
      expect(lock.locked()).toBe(false);

      const started = new Event();
      const holder = spawn(lock.hold(function* () {
        started.set();
        yield* new Event().wait();
      }));
      yield* started.wait();
      expect(lock.locked()).toBe(true);
      holder.cancel();
      yield* settle(holder);
      expect(holder.cancelled()).toBe(true);
      expect(lock.locked()).toBe(false);
    });
  });
});

describe.each(MODES)('Semaphore (%s)', (mode) => {
  it('refuses a negative or non-integer start value', async () => {
    await runIn(mode, function* () {
      expect(() => new Semaphore(-1)).toThrow(RangeError);
      expect(() => new Semaphore(1.5)).toThrow(TypeError);
    });
  });

  it('lets `value` tasks in at once and queues the rest in order', async () => {
    const order = await runIn(mode, function* () {
      const sem = new Semaphore(2);
      const order: number[] = [];
      let inside = 0;
      let most = 0;
      const tasks = [0, 1, 2, 3, 4, 5].map((i) => spawn(sem.hold(function* () {
        order.push(i);
        inside++;
        most = Math.max(most, inside);
        yield* ticks(3);
        inside--;
      })));
      for (const t of tasks) yield* t;
      expect(most).toBe(2);
      expect(sem.locked()).toBe(false);
      return order;
    });
    expect(order).toEqual([0, 1, 2, 3, 4, 5]);
  });

  it('loses no permit when a waiter is cancelled, before or after it was woken', async () => {
    await runIn(mode, function* () {
      const sem = new Semaphore(0);
      const a = spawn(sem.acquire());
      const b = spawn(sem.acquire());
      const c = spawn(sem.acquire());
      yield* ticks();
      a.cancel(); // cancelled while waiting
      sem.release(); // handed to b...
      b.cancel(); // ...cancelled before it ran: the permit goes to c
      yield* settle(a);
      yield* settle(b);
      expect(a.cancelled()).toBe(true);
      expect(b.cancelled()).toBe(true);
      expect(yield* c).toBe(true);
      expect(sem.locked()).toBe(true);
      sem.release();
      expect(sem.locked()).toBe(false);
      yield* sem.acquire();
      expect(sem.locked()).toBe(true);
    });
  });

  it('reports locked while others queue even if a permit is free', async () => {
    await runIn(mode, function* () {
      const sem = new Semaphore(1);
      yield* sem.acquire();
      const waiter = spawn(sem.acquire());
      yield* ticks();
      sem.release();
      expect(sem.locked()).toBe(true); // the permit is promised to waiter
      yield* waiter;
      sem.release();
      expect(sem.locked()).toBe(false);
    });
  });

  it('BoundedSemaphore throws when released above its start value', async () => {
    await runIn(mode, function* () {
      const sem = new BoundedSemaphore(1);
      expect(() => sem.release()).toThrow(/too many/);
      yield* sem.acquire();
      sem.release();
      expect(() => sem.release()).toThrow(RangeError);
    });
  });
});

describe.each(MODES)('Condition (%s)', (mode) => {
  it('throws from wait and notify when the lock is not held', async () => {
    await runIn(mode, function* () {
      const cond = new Condition();
      let caught: unknown;
      try {
        yield* cond.wait();
      } catch (error) {
        caught = error;
      }
      expect(String(caught)).toMatch(/un-acquired/);
      expect(() => cond.notify()).toThrow(/un-acquired/);
    });
  });

  it('wakes n waiters in order with notify(n), the rest with notifyAll()', async () => {
    const woken = await runIn(mode, function* () {
      const cond = new Condition();
      const woken: number[] = [];
      const tasks = [1, 2, 3, 4].map((i) => spawn(cond.hold(function* () {
        yield* cond.wait();
        expect(cond.locked()).toBe(true);
        woken.push(i);
      })));
      yield* ticks();
      yield* cond.hold(function* () {
        cond.notify(2);
      });
      yield* ticks();
      expect(woken).toEqual([1, 2]);
      yield* cond.hold(function* () {
        cond.notifyAll();
      });
      for (const t of tasks) yield* t;
      return woken;
    });
    expect(woken).toEqual([1, 2, 3, 4]);
  });

  it('waitFor returns the predicate value once it is truthy', async () => {
    await runIn(mode, function* () {
      const cond = new Condition();
      let value = 0;
      const waiter = spawn(cond.hold(() => cond.waitFor(() => (value >= 2 ? `v${value}` : 0))));
      for (let i = 1; i <= 2; i++) {
        yield* ticks();
        yield* cond.hold(function* () {
          value = i;
          cond.notifyAll();
        });
      }
      expect(yield* waiter).toBe('v2');
    });
  });

  it('holds the lock again when a cancelled wait ends', async () => {
    await runIn(mode, function* () {
      const cond = new Condition();
      let lockedInFinally: boolean | null = null;
      const waiter = spawn(cond.hold(function* () {
        try {
          yield* cond.wait();
        } finally {
          lockedInFinally = cond.locked();
        }
      }));
      yield* ticks();
      yield* cond.acquire(); // hold it so the cancelled waiter must queue for it
      waiter.cancel();
      yield* ticks();
      expect(waiter.done()).toBe(false);
      cond.release();
      yield* settle(waiter);
      expect(waiter.cancelled()).toBe(true);
      expect(lockedInFinally).toBe(true);
      expect(cond.locked()).toBe(false);
    });
  });

  it('passes a notification on when the notified waiter is cancelled', async () => {
    await runIn(mode, function* () {
      const cond = new Condition();
      const a = spawn(cond.hold(() => cond.wait()));
      const b = spawn(cond.hold(() => cond.wait()));
      yield* ticks();
      yield* cond.hold(function* () {
        cond.notify(1);
      });
      a.cancel();
      yield* settle(a);
      expect(a.cancelled()).toBe(true);
      expect(yield* b).toBe(true);
    });
  });

  it('shares a Lock given to it', async () => {
    await runIn(mode, function* () {
      const lock = new Lock();
      const cond = new Condition(lock);
      yield* lock.acquire();
      expect(cond.locked()).toBe(true);
      cond.release();
      expect(lock.locked()).toBe(false);
      expect(() => new Condition({} as Lock)).toThrow(TypeError);
    });
  });
});

describe.each(MODES)('Barrier (%s)', (mode) => {
  it('releases all parties together with distinct indices, and can be reused', async () => {
    await runIn(mode, function* () {
      const barrier = new Barrier(3);
      for (let round = 0; round < 2; round++) {
        const tasks = [0, 1].map(() => spawn(barrier.wait()));
        yield* ticks();
        expect(barrier.nWaiting).toBe(2);
        expect(tasks.some((t) => t.done())).toBe(false);
        const last = yield* barrier.wait();
        const indices = [last];
        for (const t of tasks) indices.push(yield* t);
        expect(indices.sort()).toEqual([0, 1, 2]);
        yield* ticks();
        expect(barrier.nWaiting).toBe(0);
      }
    });
  });

  it('throws BrokenBarrierError to waiters and later callers after abort', async () => {
    await runIn(mode, function* () {
      const barrier = new Barrier(3);
      const waiter = spawn(barrier.wait());
      yield* ticks();
      yield* barrier.abort();
      yield* settle(waiter);
      expect(waiter.exception()).toBeInstanceOf(BrokenBarrierError);
      expect(barrier.broken).toBe(true);
      let caught: unknown;
      try {
        yield* barrier.wait();
      } catch (error) {
        caught = error;
      }
      expect(caught).toBeInstanceOf(BrokenBarrierError);
    });
  });

  it('breaks current waiters on reset and then works again', async () => {
    await runIn(mode, function* () {
      const barrier = new Barrier(2);
      const waiter = spawn(barrier.wait());
      yield* ticks();
      yield* barrier.reset();
      yield* settle(waiter);
      expect(waiter.exception()).toBeInstanceOf(BrokenBarrierError);
      expect(barrier.broken).toBe(false);
      const other = spawn(barrier.wait());
      const mine = yield* barrier.wait();
      expect([mine, yield* other].sort()).toEqual([0, 1]);
    });
  });

  it('forgets a waiter that is cancelled', async () => {
    await runIn(mode, function* () {
      const barrier = new Barrier(2);
      const waiter = spawn(barrier.wait());
      yield* ticks();
      expect(barrier.nWaiting).toBe(1);
      waiter.cancel();
      yield* settle(waiter);
      expect(waiter.cancelled()).toBe(true);
      expect(barrier.nWaiting).toBe(0);
    });
  });

  it('refuses fewer than one party', () => {
    expect(() => new Barrier(0)).toThrow(RangeError);
    expect(new CancelledError()).toBeInstanceOf(Error);
  });
});
