// Delays far beyond what Node's setTimeout and the kernels take in one wait
// (up to Number.MAX_SAFE_INTEGER ms, and Infinity), in both run modes and on
// every backend: no busy loop, no Node warning, no EINVAL.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import {
  availableBackends, CancelledError, type Coro, EVENT_READ, EventLoop, fromPromise, getRunningLoop, Selector, sleep, socketpair,
} from '../../src/index.js';

const LONG_DELAYS = [3e9, Number.MAX_SAFE_INTEGER, Infinity];

// A loop whose selector counts its selects: one per loop iteration.
function countingLoop(backend = availableBackends[0]!): { loop: EventLoop; selects: () => number } {
  const selector = new Selector({ backend });
  let count = 0;
  const select = selector.select.bind(selector);
  selector.select = (timeout) => {
    count++;
    return select(timeout);
  };
  return { loop: new EventLoop({ selector }), selects: () => count };
}

let warnings: string[] = [];
const onWarning = (warning: Error): void => {
  warnings.push(`${warning.name}: ${warning.message}`);
};
beforeEach(() => {
  warnings = [];
  process.on('warning', onWarning);
});
afterEach(() => {
  process.off('warning', onWarning);
});

// A task sleeping `delay` while the loop runs ~100 ms for other reasons,
// then cancelled: the sleep must not have made the loop iterate meanwhile.
function* sleepBeside(delay: number, otherWork: () => Coro<void>): Coro<boolean> {
  const sleeper = getRunningLoop().createTask(sleep(delay, 'woke'));
  yield* otherWork();
  const wokeEarly = sleeper.done();
  sleeper.cancel();
  return wokeEarly;
}

describe('long timers in runAsync', () => {
  it.each(LONG_DELAYS)('sleeps %d ms without spinning and without a TimeoutOverflowWarning', async (delay) => {
    const { loop, selects } = countingLoop();
    try {
      const wokeEarly = await loop.runAsync(sleepBeside(delay, function* () {
        yield* fromPromise(new Promise((resolve) => setTimeout(resolve, 100)));
      }));
      // Let Node deliver any warning (emitted on the next tick).
      await new Promise((resolve) => setImmediate(resolve));
      expect(wokeEarly).toBe(false);
      expect(warnings).toEqual([]);
      expect(selects()).toBeLessThan(10);
    } finally {
      loop.close();
    }
  });

  it('never runs a callLater(Infinity) callback', async () => {
    const { loop, selects } = countingLoop();
    let ran = false;
    try {
      loop.callLater(Infinity, () => {
        ran = true;
      });
      await loop.runAsync(fromPromise(new Promise((resolve) => setTimeout(resolve, 50))));
      expect(ran).toBe(false);
      expect(selects()).toBeLessThan(10);
    } finally {
      loop.close();
    }
  });
});

describe.each(availableBackends)('long timers in blocking mode (%s)', (backend) => {
  it.each(LONG_DELAYS)('sleeps %d ms without spinning', (delay) => {
    const { loop, selects } = countingLoop(backend);
    try {
      const wokeEarly = loop.runUntilComplete(sleepBeside(delay, () => sleep(100)));
      expect(wokeEarly).toBe(false);
      expect(selects()).toBeLessThan(10);
      expect(warnings).toEqual([]);
    } finally {
      loop.close();
    }
  });

  it('still wakes for a signal while the next timer is Number.MAX_SAFE_INTEGER ms away', () => {
    const { loop } = countingLoop(backend);
    try {
      const main = loop.createTask(sleep(Number.MAX_SAFE_INTEGER));
      loop.addSignalHandler('SIGUSR2', () => main.cancel());
      loop.callSoon(() => process.kill(process.pid, 'SIGUSR2'));
      expect(() => loop.runUntilComplete(main)).toThrow(CancelledError);
    } finally {
      loop.close();
    }
  });

  it('returns at once from select(Number.MAX_SAFE_INTEGER) when an fd is ready', () => {
    const selector = new Selector({ backend });
    const [a, b] = socketpair();
    try {
      selector.register(a, EVENT_READ);
      b.send(Buffer.from('x'));
      expect(selector.select(Number.MAX_SAFE_INTEGER).map(([key, mask]) => [key.fd, mask]))
        .toEqual([[a.fileno(), EVENT_READ]]);
    } finally {
      selector.close();
      a.close();
      b.close();
    }
  });
});

describe('Infinity in blocking mode', () => {
  it('fails clearly instead of blocking forever when the only thing left is a sleep(Infinity)', () => {
    // In a child process, bounded: the old behaviour was to block for ever.
    const index = fileURLToPath(new URL('../../src/index.ts', import.meta.url));
    const code = `import { run, sleep } from ${JSON.stringify(index)};
      try { run(function* () { yield* sleep(Infinity); }); console.log('returned'); }
      catch (error) { console.log(error.message); }`;
    const child = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
      encoding: 'utf8', timeout: 15_000,
    });
    expect(child.signal).toBe(null);
    expect(child.stdout).toMatch(/would wait forever/);
  });
});
