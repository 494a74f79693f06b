// examples/signals.ts, run as a process and sent real signals.
import { afterEach, describe, expect, it } from 'vitest';

import { startExample, stopAllExamples } from './run-example.js';

afterEach(async () => {
  await stopAllExamples();
});

// Printed by `delay` as the main task starts sleeping, after the handler is installed.
const SLEEPING = /^sleeping for ([\d.]+) second\(s\)$/;

describe('examples/signals.ts', () => {
  it('on SIGINT prints "Got a SIGNAL!", cancels the one task, and main prints "Main task cancelled."', async () => {
    const example = await startExample('signals', { ready: SLEEPING });
    expect(example.lines[0]).toBe('sleeping for 10 second(s)');
    const sentAt = performance.now();
    example.child.kill('SIGINT');
    expect(await example.waitForExit(5000)).toEqual({ code: 0, signal: null });
    // Long before the 10 s sleep would end: the handler woke the loop out of select().
    expect(performance.now() - sentAt).toBeLessThan(3000);
    expect(example.lines).toEqual([
      'sleeping for 10 second(s)',
      'Got a SIGNAL!',
      'Cancelling 1 task(s).',
      'Main task cancelled.',
    ]);
    expect(example.stderr).toBe('');
  });

  it('without a signal sleeps the whole time and exits 0', async () => {
    const example = await startExample('signals', { ready: SLEEPING, args: ['--duration', '0.3'] });
    expect(await example.waitForExit(5000)).toEqual({ code: 0, signal: null });
    expect(example.lines).toEqual(['sleeping for 0.3 second(s)', 'finished sleeping for 0.3 second(s)']);
  });

  it('leaves SIGTERM alone: it ends the process as usual', async () => {
    const example = await startExample('signals', { ready: SLEEPING });
    example.child.kill('SIGTERM');
    expect(await example.waitForExit(5000)).toEqual({ code: null, signal: 'SIGTERM' });
    expect(example.lines).toEqual(['sleeping for 10 second(s)']);
  });
});
