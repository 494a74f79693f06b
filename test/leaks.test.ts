// Leak cycles: the full life of a watched socket, repeated 100,000 times per
// backend -- socketpair, register, modify, unregister, close -- must leave
// the fd table exactly as it was and the memory (RSS) within a small bound.
// A leaked fd, kernel registration, native key slot or JS key would add up
// over this many cycles: 100,000 leaked fds exceed any default rlimit, and
// even 100 bytes a cycle is 10 MB.
//
// LEAK_CYCLES overrides the count (e.g. LEAK_CYCLES=1000000 for a soak).
import { describe, expect, it } from 'vitest';

import { leakedSince, openFds } from './support/fds.js';
import {
  allTasks, availableBackends, EVENT_READ, EVENT_WRITE, EventLoop, gather, Selector, sleep, socketpair,
  type BackendName, type Coro,
} from '../src/index.js';

const CYCLES = Number(process.env.LEAK_CYCLES ?? 100_000);
const SELECTOR_CYCLES = Math.ceil(CYCLES / 5);

// RSS may grow this much over a run (after a warm-up, collecting every
// 10,000 socket cycles and every 2,000 selectors). Measured on the CI machine
// (Node 20, 2 cores), per backend: -0.1 to +1.6 MB for 100,000 socket
// cycles, -0.2 to +0.6 MB for 20,000 selectors; RSS jumps of up to 6 MB
// come and go with malloc's and V8's own bookkeeping. The bounds leave room
// for that: a leak of 120 bytes per socket cycle (an fd's worth of kernel
// bookkeeping mirrored in JS, a key, a native slot), or of 300 bytes per
// selector, fails.
// Under AddressSanitizer (scripts/sanitize.sh) freed memory waits in ASan's
// quarantine (256 MB by default) before reuse, so RSS says little there:
// the bound is the quarantine's size, and ASan's own leak check, which
// fails on any leak allocated by the addon, covers that run instead.
const underAsan = /libasan/.test(process.env.LD_PRELOAD ?? '');
const SOCKET_RSS_BOUND_MB = underAsan ? 320 : 12;
const SELECTOR_RSS_BOUND_MB = underAsan ? 320 : 6;
// Tasks are plain JS objects: measured -1.2 MB after 100,000; 120 bytes a
// task that stayed would fail.
const TASK_RSS_BOUND_MB = underAsan ? 320 : 12;
// Wall time is bounded too: 2-3 s per backend for the socket cycles on this
// machine when idle (up to 7 s when it is busy); several
// times that under ASan.
const TIMEOUT_MS = underAsan ? 300_000 : 120_000;

const gc = (globalThis as { gc?: () => void }).gc;

/** RSS once garbage is collected and finalized. */
async function settle(): Promise<number> {
  // Native finalizers (a NativeSelector's) and FinalizationRegistry
  // callbacks run from the event loop after a collection, not inside it:
  // let a few turns pass, collecting again each time.
  for (let i = 0; i < 3; i++) {
    gc?.();
    await new Promise((resolve) => setImmediate(resolve));
  }
  return process.memoryUsage().rss;
}

async function socketCycles(sel: Selector<number>, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    const [a, b] = socketpair();
    sel.register(a, EVENT_READ, i);
    sel.modify(a, EVENT_WRITE, i + 1);
    sel.unregister(a);
    a.close();
    b.close();
    // Collect now and then, so that RSS measures what stays rather than
    // the peak of one long burst of garbage.
    if (i % 10_000 === 9_999) await settle();
  }
}

describe.each(availableBackends.map((b) => [b]))('leak cycles (%s)', (backend) => {
  it(`socketpair -> register -> modify -> unregister -> close, ${CYCLES} times, leaks no fd and no memory`, async () => {
    expect(gc, 'tests must run with --expose-gc (see vitest.config.ts)').toBeTypeOf('function');
    const sel = new Selector<number>({ backend: backend as BackendName });
    try {
      await socketCycles(sel, Math.min(CYCLES, 20_000)); // warm up: JIT, V8's heap, malloc arenas
      const fdsBefore = openFds();
      const rssBefore = await settle();
      const start = performance.now();
      await socketCycles(sel, CYCLES);
      const elapsed = performance.now() - start;
      const grownMb = ((await settle()) - rssBefore) / 2 ** 20;
      // eslint-disable-next-line no-console
      console.log(`[leaks] ${backend}: ${CYCLES} socket cycles in ${(elapsed / 1000).toFixed(2)} s, ` +
        `RSS ${grownMb >= 0 ? '+' : ''}${grownMb.toFixed(1)} MB`);
      expect(leakedSince(fdsBefore), 'fds left open by the cycles').toEqual([]);
      expect(openFds().size).toBe(fdsBefore.size);
      expect(sel.getMap()!.size).toBe(0);
      expect(grownMb).toBeLessThan(SOCKET_RSS_BOUND_MB);
      // The selector still works after all that.
      const [a, b] = socketpair();
      try {
        const key = sel.register(a, EVENT_WRITE, -1);
        expect(sel.select(0)).toEqual([[key, EVENT_WRITE]]);
        sel.unregister(a);
      } finally {
        a.close();
        b.close();
      }
    } finally {
      sel.close();
    }
  }, TIMEOUT_MS);

  it(`new Selector -> register -> close, ${SELECTOR_CYCLES} times, leaks no fd and no memory`, async () => {
    const [a, b] = socketpair();
    try {
      const cycles = async (n: number) => {
        for (let i = 0; i < n; i++) {
          const sel = new Selector({ backend: backend as BackendName });
          sel.register(a, EVENT_READ);
          sel.close();
          // A closed selector's native half is freed by its finalizer, which
          // runs from the event loop: let it run every so often, or RSS
          // would measure the peak of a burst, not what stays.
          if (i % 2_000 === 1_999) await settle();
        }
      };
      await cycles(Math.min(SELECTOR_CYCLES, 10_000)); // warm up
      const fdsBefore = openFds();
      const rssBefore = await settle();
      await cycles(SELECTOR_CYCLES);
      const grownMb = ((await settle()) - rssBefore) / 2 ** 20;
      // eslint-disable-next-line no-console
      console.log(`[leaks] ${backend}: ${SELECTOR_CYCLES} selector cycles, RSS ${grownMb >= 0 ? '+' : ''}${grownMb.toFixed(1)} MB`);
      expect(leakedSince(fdsBefore), 'fds left open by the selectors').toEqual([]);
      expect(grownMb).toBeLessThan(SELECTOR_RSS_BOUND_MB);
    } finally {
      a.close();
      b.close();
    }
  }, TIMEOUT_MS);
});

describe('leak cycles (tasks)', () => {
  it(`task create -> cancel, ${CYCLES} times, leaks no fd, no task and no memory`, async () => {
    const loop = new EventLoop();
    try {
      const sleeper = function* (): Coro<void> {
        yield* sleep(60_000);
      };
      // Each batch: start tasks that park on a timer, cancel them all, and
      // run until every one has finished its cancellation.
      const batch = (n: number): number => loop.runUntilComplete((function* () {
        const tasks = Array.from({ length: n }, () => loop.createTask(sleeper()));
        yield* sleep(0); // let every task start and park
        for (const task of tasks) task.cancel();
        yield* gather(tasks, { returnExceptions: true });
        return allTasks().size; // just this one is left
      })());
      const cycles = async (n: number) => {
        for (let done = 0; done < n; done += 10_000) {
          expect(batch(Math.min(10_000, n - done))).toBe(1);
          await settle();
        }
      };
      await cycles(Math.min(CYCLES, 20_000)); // warm up
      const fdsBefore = openFds();
      const rssBefore = await settle();
      await cycles(CYCLES);
      const grownMb = ((await settle()) - rssBefore) / 2 ** 20;
      // eslint-disable-next-line no-console
      console.log(`[leaks] ${CYCLES} task create/cancel cycles, RSS ${grownMb >= 0 ? '+' : ''}${grownMb.toFixed(1)} MB`);
      expect(leakedSince(fdsBefore), 'fds left open by the task cycles').toEqual([]);
      expect(grownMb).toBeLessThan(TASK_RSS_BOUND_MB);
    } finally {
      loop.close();
    }
  }, TIMEOUT_MS);
});
