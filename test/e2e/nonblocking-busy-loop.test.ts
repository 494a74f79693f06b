// examples/nonblocking-busy-loop.ts, run as a process and talked to by Python's socket.
import { readFileSync } from 'node:fs';

import { afterEach, describe, expect, it } from 'vitest';

import { Driver, stopAllPython } from './python-client.js';
import { startExample, stopAllExamples, type RunningExample } from './run-example.js';

afterEach(async () => {
  await stopAllPython();
  await stopAllExamples();
});

/**
 * Linux's scheduler counters for a process's main thread (/proc/PID/schedstat:
 * ns on a CPU, ns runnable but waiting for one), sampled every 100 ms until
 * it exits. Over that window: the share of time it was on a CPU, and the
 * share it was runnable at all (on a CPU or waiting), i.e. not asleep.
 * Null where there is no /proc.
 */
async function sampleUntilExit(example: RunningExample): Promise<{ onCpu: number; runnable: number } | null> {
  if (process.platform !== 'linux') return null;
  const samples: Array<{ runNs: number; waitNs: number; atNs: number }> = [];
  while (!example.exited) {
    try {
      const [run, wait] = readFileSync(`/proc/${example.child.pid}/schedstat`, 'utf8').trim().split(/\s+/).map(Number);
      if (example.exited) break; // it may have been a zombie's zeros
      samples.push({ runNs: run!, waitNs: wait!, atNs: Number(process.hrtime.bigint()) });
    } catch {
      break; // gone
    }
    await Promise.race([example.closed, new Promise((resolve) => setTimeout(resolve, 100))]);
  }
  const first = samples[0];
  const last = samples.at(-1);
  if (!first || !last || last.atNs - first.atNs < 1e9) throw new Error(`too few samples: ${JSON.stringify(samples)}`);
  const wall = last.atNs - first.atNs;
  return {
    onCpu: (last.runNs - first.runNs) / wall,
    runnable: (last.runNs - first.runNs + last.waitNs - first.waitNs) / wall,
  };
}

const CPU_LINE = /^Busy loop: ([\d.]+) s of CPU in ([\d.]+) s = (\d+)% of one core \((\d+) turns, (\d+) BlockingIOErrors caught\)$/;

describe('examples/nonblocking-busy-loop.ts', () => {
  it('serves two clients at once, keeping half a line between turns', async () => {
    const example = await startExample('nonblocking-busy-loop', { env: { DURATION: '10' } });
    const clients = new Driver();
    const [, port1] = await clients.connect('one', example);
    const [, port2] = await clients.connect('two', example);
    await example.waitForLine(new RegExp(`^I got a connection from \\['127.0.0.1', ${port1}\\]$`));
    await example.waitForLine(new RegExp(`^I got a connection from \\['127.0.0.1', ${port2}\\]$`));

    // Client 2 is answered while client 1 has said nothing: nothing blocks.
    await clients.send('two', 'hi\r\n');
    expect((await clients.recv('two', { until: '\r\n' })).data.toString()).toBe('hi\r\n');

    // Half a line, a wait (the loop goes round many times), the other half.
    await clients.send('one', 'pi');
    await example.waitForLine(/^I got data: "pi"$/);
    await clients.send('one', 'ng\r\n');
    expect((await clients.recv('one', { until: '\r\n' })).data.toString()).toBe('ping\r\n');
    await example.waitForLine(/^All the data is: "ping\\r\\n"$/);
    await clients.quit();
  });

  it('burns most of a core, prints how much, closes its clients and exits 0 after DURATION', async () => {
    const clients = new Driver();
    await clients.ready(); // before the clock starts
    const example = await startExample('nonblocking-busy-loop', { env: { DURATION: '3' } });
    await clients.connect('idle', example); // connected and silent: the loop keeps asking it anyway

    // The kernel's account of its main thread while it runs, sampled until it exits.
    const window = await sampleUntilExit(example);
    expect(await example.waitForExit(10_000)).toEqual({ code: 0, signal: null });
    const [, cpu, wall, percent, turns, caught] = example.lines.map((line) => CPU_LINE.exec(line)).find(Boolean)!;
    expect(Number(wall)).toBeGreaterThanOrEqual(3);
    expect(Number(wall)).toBeLessThan(5);
    expect(Math.abs(Number(percent) - (100 * Number(cpu)) / Number(wall))).toBeLessThan(2);
    // Every turn but one asked accept() in vain (and the idle client too).
    expect(Number(turns)).toBeGreaterThan(10_000);
    expect(Number(caught)).toBeGreaterThan(Number(turns));

    if (window === null) {
      expect(Number(percent)).toBeGreaterThan(50); // no /proc: trust a quiet machine
    } else {
      // It does not sleep: it is on a CPU or waiting for one, however busy
      // the machine is. (A server asleep in select() is near 0 here.) The
      // bound is loose: seen from 0.86 to 1.0 on a machine loaded with other
      // work, as the main thread still blocks now and then (on V8's helper
      // threads, on a write to stdout), and the sampling is coarse.
      expect(window.runnable).toBeGreaterThan(0.5);
      // What it prints is what it got: most of a core when the machine has
      // one to spare (the usual case; the two cores are shared with the other
      // tests, and, on a developer's machine, whatever else runs), less when
      // the kernel made it wait for a CPU.
      expect(Number(percent)).toBeGreaterThan(Math.min(50, 100 * window.onCpu - 15));
    }

    const last = await clients.recv('idle', { timeoutMs: 5000 });
    expect(last).toEqual({ data: Buffer.alloc(0), eof: true, timedOut: false });
    await clients.quit();
  });
});
