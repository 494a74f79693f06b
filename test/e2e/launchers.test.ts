// The examples that stop on Ctrl-C, started the three ways the README offers
// (`node --import tsx`, `npx tsx`, `npm start`) and sent Ctrl-C as a
// terminal sends it: SIGINT to the whole foreground process group, launcher
// included. tsx's command line and npm pass the signal on again; one Ctrl-C
// must still count once, and the example must get to say goodbye.
import { afterEach, describe, expect, it } from 'vitest';

import { Driver, stopAllPython } from './python-client.js';
import { type Exit, type Launcher, startExample, stopAllExamples } from './run-example.js';

afterEach(async () => {
  await stopAllPython();
  await stopAllExamples();
});

// tsx compiles the example first; npx and npm add their own start-up.
const READY_MS = 30_000;
const TEST_MS = 60_000;

/** The launcher's own exit: npx and npm end by re-raising the SIGINT they got, once their child is done. */
function launcherExit(launcher: Launcher): Exit {
  return launcher === 'node' ? { code: 0, signal: null } : { code: null, signal: 'SIGINT' };
}

describe.each<Launcher>(['node', 'npx'])('under %s', (launcher) => {
  it('graceful-shutdown.ts gives a connection its whole 2 s grace on one Ctrl-C', async () => {
    const example = await startExample('graceful-shutdown', { launcher, readyTimeoutMs: READY_MS });
    const clients = new Driver();
    const [, port] = await clients.connect('c', example);
    await example.waitForLine(/^Got a connection from /);
    const sentAt = performance.now();
    example.interrupt();
    expect(await example.waitForExit(8000)).toEqual(launcherExit(launcher));
    expect(performance.now() - sentAt).toBeGreaterThanOrEqual(1950);
    expect(example.lines.slice(2)).toEqual([
      'Got SIGINT: no longer accepting connections',
      'Giving 1 connection(s) 2 s to finish',
      `echo 127.0.0.1:${port}: still busy after 2 s, cancelled`,
      expect.stringMatching(/^Shut down in 2\.\d s$/),
    ]);
    expect(example.stderr).toBe('');
    await clients.quit();
  }, TEST_MS);

  it('graceful-shutdown.ts still cancels at once on a second Ctrl-C', async () => {
    const example = await startExample('graceful-shutdown', { launcher, readyTimeoutMs: READY_MS });
    const clients = new Driver();
    const [, port] = await clients.connect('c', example);
    await example.waitForLine(/^Got a connection from /);
    example.interrupt();
    await example.waitForLine(/^Giving 1 connection\(s\) 2 s to finish$/);
    // A person's second press, not a launcher's relay of the first.
    await new Promise((resolve) => setTimeout(resolve, 400));
    const secondAt = performance.now();
    example.interrupt();
    expect(await example.waitForExit(5000)).toEqual(launcherExit(launcher));
    expect(performance.now() - secondAt).toBeLessThan(1000);
    expect(example.lines.filter((line) => line.startsWith('Got SIGINT again'))).toEqual([
      'Got SIGINT again: cancelling 1 connection(s) now',
    ]);
    expect(example.lines).toContain(`echo 127.0.0.1:${port}: cancelled`);
    await clients.quit();
  }, TEST_MS);

  it('signals.ts runs its handler once per Ctrl-C', async () => {
    const example = await startExample('signals', { launcher, readyTimeoutMs: READY_MS, ready: /^sleeping for / });
    example.interrupt();
    expect(await example.waitForExit(5000)).toEqual(launcherExit(launcher));
    expect(example.lines).toEqual([
      'sleeping for 10 second(s)',
      'Got a SIGNAL!',
      'Cancelling 1 task(s).',
      'Main task cancelled.',
    ]);
    expect(example.stderr).toBe('');
  }, TEST_MS);

  it('loop-echo.ts cancels main once and closes its connections', async () => {
    const example = await startExample('loop-echo', { launcher, readyTimeoutMs: READY_MS });
    const clients = new Driver();
    await clients.connect('c', example);
    await example.waitForLine(/connection from/i);
    example.interrupt();
    expect(await example.waitForExit(5000)).toEqual(launcherExit(launcher));
    expect(await clients.recv('c', { timeoutMs: 2000 })).toEqual({ data: Buffer.alloc(0), eof: true, timedOut: false });
    expect(example.stderr).toBe('');
    await clients.quit();
  }, TEST_MS);
});

describe.each<Launcher>(['node', 'npx', 'npm'])('under %s', (launcher) => {
  it('selector-echo.ts closes its connections and says goodbye on Ctrl-C', async () => {
    const example = await startExample('selector-echo', { launcher, readyTimeoutMs: READY_MS });
    const clients = new Driver();
    await clients.connect('c', example);
    await example.waitForLine(/^I got a connection from /);
    example.interrupt();
    expect(await example.waitForExit(5000)).toEqual(launcherExit(launcher));
    expect(example.lines.filter((line) => line !== 'No events, waiting a bit more!').slice(2)).toEqual([
      'Got SIGINT: closing 1 connection(s) and the server socket',
      expect.stringMatching(/^Connection from .* closed by shutdown$/),
      expect.stringMatching(/^Served for [\d.]+ s using [\d.]+ s of CPU = \d+% of one core$/),
    ]);
    expect(await clients.recv('c', { timeoutMs: 2000 })).toEqual({ data: Buffer.alloc(0), eof: true, timedOut: false });
    expect(example.stderr).toBe('');
    await clients.quit();
  }, TEST_MS);
});
