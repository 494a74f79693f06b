// examples/graceful-shutdown.ts, run as a process, sent real signals, and
// talked to by Python's socket.
import { afterEach, describe, expect, it } from 'vitest';

import { Driver, stopAllPython } from './python-client.js';
import { startExample, stopAllExamples, type RunningExample } from './run-example.js';

afterEach(async () => {
  await stopAllPython();
  await stopAllExamples();
});

const MiB = 1024 * 1024;

/** Connects `id` and waits until the server has accepted it. */
async function connected(example: RunningExample, clients: Driver, id: string): Promise<[string, number]> {
  const [host, port] = await clients.connect(id, example);
  await example.waitForLine(new RegExp(`^Got a connection from \\['${host.replace(/\./g, '\\.')}', ${port}\\]$`));
  return [host, port];
}

async function echoes(clients: Driver, id: string, line: string): Promise<void> {
  await clients.send(id, line);
  expect((await clients.recv(id, { until: line })).data.toString()).toBe(line);
}

describe('examples/graceful-shutdown.ts', () => {
  it('with no connection open, exits 0 at once on SIGTERM', async () => {
    const example = await startExample('graceful-shutdown');
    const sentAt = performance.now();
    example.child.kill('SIGTERM');
    expect(await example.waitForExit(5000)).toEqual({ code: 0, signal: null });
    expect(performance.now() - sentAt).toBeLessThan(1500);
    expect(example.lines.slice(1)).toEqual([
      'Got SIGTERM: no longer accepting connections',
      'Giving 0 connection(s) 2 s to finish',
      expect.stringMatching(/^Shut down in 0\.\d s$/),
    ]);
    expect(example.stderr).toBe('');
  });

  it('gives busy connections 2 s in all, refusing new ones, then cancels and reports each', async () => {
    const example = await startExample('graceful-shutdown');
    const clients = new Driver();
    // One client idle (its task waits in sockRecv), one mid-echo: it sends
    // and does not read, until its task is stuck in sockSendall.
    const [, idlePort] = await connected(example, clients, 'idle');
    const [, busyPort] = await connected(example, clients, 'busy');
    expect(await clients.fill('busy', 64 * MiB, 500)).toBeGreaterThan(64 * 1024);

    const sentAt = performance.now();
    example.child.kill('SIGINT');
    await example.waitForLine(/^Got SIGINT: no longer accepting connections$/);
    // The listening socket is closed first: a new client is refused...
    await expect(clients.connect('late', example)).rejects.toThrow(/ConnectionRefusedError/);
    // ...while the ones already in are still served during the grace period.
    await echoes(clients, 'idle', 'still there?\r\n');

    expect(await example.waitForExit(6000)).toEqual({ code: 0, signal: null });
    const took = performance.now() - sentAt;
    // 2 s for both at once (waited for one after the other: 4 s).
    expect(took).toBeGreaterThanOrEqual(1950);
    expect(took).toBeLessThan(3500);
    const report = example.lines.slice(example.lines.indexOf('Got SIGINT: no longer accepting connections'));
    expect(report).toEqual([
      'Got SIGINT: no longer accepting connections',
      'Giving 2 connection(s) 2 s to finish',
      `echo 127.0.0.1:${idlePort}: still busy after 2 s, cancelled`,
      `echo 127.0.0.1:${busyPort}: still busy after 2 s, cancelled`,
      expect.stringMatching(/^Shut down in 2\.\d s$/),
    ]);
    // Cancelled, the echo task closed its connection.
    expect(await clients.recv('idle', { timeoutMs: 2000 })).toEqual({ data: Buffer.alloc(0), eof: true, timedOut: false });
    expect(example.stderr).toBe('');
    await clients.quit();
  });

  it('exits as soon as the last connection finishes within the grace period', async () => {
    const example = await startExample('graceful-shutdown');
    const clients = new Driver();
    const [, port] = await connected(example, clients, 'c');
    const sentAt = performance.now();
    example.child.kill('SIGTERM');
    await example.waitForLine(/^Giving 1 connection\(s\) 2 s to finish$/);
    await echoes(clients, 'c', 'last words\r\n');
    await clients.close('c');
    expect(await example.waitForExit(5000)).toEqual({ code: 0, signal: null });
    expect(performance.now() - sentAt).toBeLessThan(1900);
    expect(example.lines).toContain(`echo 127.0.0.1:${port}: finished`);
    await clients.quit();
  });

  it('cancels the remaining connections at once on a second signal', async () => {
    const example = await startExample('graceful-shutdown');
    const clients = new Driver();
    const [, port] = await connected(example, clients, 'c');
    const sentAt = performance.now();
    example.child.kill('SIGINT');
    await example.waitForLine(/^Giving 1 connection\(s\) 2 s to finish$/);
    example.child.kill('SIGINT');
    expect(await example.waitForExit(5000)).toEqual({ code: 0, signal: null });
    expect(performance.now() - sentAt).toBeLessThan(1900);
    expect(example.lines).toContain('Got SIGINT again: cancelling 1 connection(s) now');
    expect(example.lines).toContain(`echo 127.0.0.1:${port}: cancelled`);
    expect(await clients.recv('c', { timeoutMs: 2000 })).toEqual({ data: Buffer.alloc(0), eof: true, timedOut: false });
    await clients.quit();
  });
});
