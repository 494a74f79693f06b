// The loop's lifecycle guarantees: cancellation that always ends cancelled,
// clear errors for mistaken yields, a closed loop that refuses work, one
// owner per selector, and loops that are collectable when dropped.
import { describe, expect, it } from 'vitest';

import {
  CancelledError, type Coro, EVENT_READ, EventLoop, fromPromise, gather, getRunningLoop, run, Selector, sleep,
  socketpair, type Socket, type Task, waitFor,
} from '../../src/index.js';
import { leakedSince, openFds } from '../support/fds.js';
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

describe('one owner per selector', () => {
  it('refuses a selector that has registrations of its own', () => {
    const selector = new Selector();
    const [a, b] = socketpair();
    try {
      selector.register(a, EVENT_READ, 'mine');
      expect(() => new EventLoop({ selector })).toThrow(/nothing registered/);
      // Still the caller's, and still working.
      expect(selector.getKey(a).data).toBe('mine');
      expect(selector.select(0)).toEqual([]);
    } finally {
      selector.close();
      a.close();
      b.close();
    }
  });

  it('refuses registering, modifying or unregistering directly on a selector a loop owns, naming addReader', () => {
    const selector = new Selector();
    // Readiness mode: the test watches the loop's own registrations.
    const loop = new EventLoop({ selector, io: 'selector' });
    const [a, b] = socketpair();
    try {
      expect(() => selector.register(a, EVENT_READ)).toThrow(/owned by an EventLoop.*addReader/);
      expect(() => selector.modify(a, EVENT_READ)).toThrow(/owned by an EventLoop/);
      expect(() => selector.unregister(a)).toThrow(/owned by an EventLoop/);
      // The loop itself still registers what its tasks wait on.
      a.setBlocking(false);
      b.setBlocking(false);
      const got = loop.runUntilComplete((function* () {
        const reading = loop.createTask(loop.sockRecv(a, 10));
        yield* sleep(0);
        expect(selector.getMap()!.size).toBe(1);
        yield* loop.sockSendall(b, Buffer.from('hi'));
        return yield* reading;
      })());
      expect(got.toString()).toBe('hi');
    } finally {
      loop.close();
      a.close();
      b.close();
    }
  });

  it('refuses a selector that another loop already owns', () => {
    const selector = new Selector();
    const loop = new EventLoop({ selector });
    try {
      expect(() => new EventLoop({ selector })).toThrow(/already owned/);
    } finally {
      loop.close();
    }
  });
});

describe('a loop dropped without close()', () => {
  const gc = (globalThis as { gc?: () => void }).gc!;

  // Collects garbage until `done()` (finalizers run between turns of
  // Node's loop), at most `rounds` times.
  async function collectUntil(done: () => boolean, rounds = 50): Promise<boolean> {
    for (let i = 0; i < rounds && !done(); i++) {
      gc();
      await new Promise((resolve) => setImmediate(resolve));
    }
    return done();
  }

  // A loop that waited on `sock` and handles SIGUSR2, left unclosed.
  function useAndDropLoop(sock: Socket, peer: Socket): void {
    const loop = new EventLoop();
    loop.addSignalHandler('SIGUSR2', () => {});
    loop.runUntilComplete((function* () {
      const reading = loop.createTask(loop.sockRecv(sock, 10));
      yield* sleep(0);
      yield* loop.sockSendall(peer, Buffer.from('x'));
      yield* reading;
      // Left parked on the socket when the loop is dropped.
      loop.createTask(loop.sockRecv(sock, 10));
      yield* sleep(0);
    })());
  }

  it('is collected even while a socket it waited on lives on, closes its fds, and warns', async () => {
    const [sock, peer] = socketpair();
    sock.setBlocking(false);
    peer.setBlocking(false);
    const before = openFds();
    const listenersBefore = process.listenerCount('SIGUSR2');
    const warnings: Error[] = [];
    const onWarning = (warning: Error): void => {
      if (/unclosed event loop/.test(warning.message)) warnings.push(warning);
    };
    process.on('warning', onWarning);
    try {
      useAndDropLoop(sock, peer);
      expect(leakedSince(before).length).toBeGreaterThan(0);
      expect(await collectUntil(() => warnings.length > 0)).toBe(true);
      expect(warnings[0]!.name).toBe('ResourceWarning');
      expect(leakedSince(before)).toEqual([]);
      // Its signal watch went too: the signal is Node's again.
      expect(process.listenerCount('SIGUSR2')).toBe(listenersBefore);
      // The socket is still the caller's, and closes normally.
      expect(sock.fileno()).toBeGreaterThanOrEqual(0);
    } finally {
      process.off('warning', onWarning);
      sock.close();
      peer.close();
    }
  });

  it('is not reported when it was closed', async () => {
    const warnings: Error[] = [];
    const onWarning = (warning: Error): void => {
      if (/unclosed event loop/.test(warning.message)) warnings.push(warning);
    };
    process.on('warning', onWarning);
    try {
      (() => {
        const loop = new EventLoop();
        loop.runUntilComplete(sleep(0));
        loop.close();
      })();
      await collectUntil(() => false, 5);
      expect(warnings).toEqual([]);
    } finally {
      process.off('warning', onWarning);
    }
  });
});
