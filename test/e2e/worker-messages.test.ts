// examples/worker-messages.ts, run as a process: its worker's loop answers
// the main thread's jobs (Waker + addReader + receiveMessageOnPort) and
// echoes to Python's socket, in both run modes, and the program stops
// cleanly on SIGINT or SIGTERM.
import { afterEach, describe, expect, it } from 'vitest';

import { Driver, stopAllPython } from './python-client.js';
import { startExample, stopAllExamples } from './run-example.js';

afterEach(async () => {
  await stopAllPython();
  await stopAllExamples();
});

describe.each([['blocking', []], ['runAsync', ['--async']]] as const)('examples/worker-messages.ts (%s)', (mode, args) => {
  it('answers the main thread\'s jobs, echoes a client, and stops cleanly on a signal', async () => {
    const example = await startExample('worker-messages', { args: [...args, '--jobs', '4'] });
    await example.waitForLine(new RegExp(`^worker loop running \\(${mode}\\)`));
    await example.waitForLine(/^job 4: /);
    expect(example.lines.filter((line) => line.startsWith('job '))).toEqual([
      'job 1: 4 word(s), reversed "xof nworb kciuq eht"',
      'job 2: 2 word(s), reversed "revo spmuj"',
      'job 3: 3 word(s), reversed "god yzal eht"',
      'job 4: 4 word(s), reversed "xof nworb kciuq eht"',
    ]);

    const clients = new Driver();
    await clients.connect('c', example);
    await clients.send('c', 'hello worker\n');
    expect((await clients.recv('c', { until: '\n' })).data.toString()).toBe('hello worker\n');
    await clients.close('c');
    await clients.quit();

    example.interrupt(mode === 'blocking' ? 'SIGTERM' : 'SIGINT');
    const exit = await example.waitForExit(10_000);
    expect(exit).toEqual({ code: 0, signal: null });
    expect(example.lines).toContain('stopped: 1 connection(s), 4 job(s)');
    expect(example.stderr).toBe('');
  });
});
