// examples/selector-echo.ts (`npm start`), run as a process and talked to by
// Python's socket.
import { afterEach, describe, expect, it } from 'vitest';

import { Driver, runPython, stopAllPython } from './python-client.js';
import { startExample, stopAllExamples, type RunningExample } from './run-example.js';

afterEach(async () => {
  await stopAllPython();
  await stopAllExamples();
});

const MiB = 1024 * 1024;
const CPU_LINE = /^Served for ([\d.]+) s using ([\d.]+) s of CPU = (\d+)% of one core$/;

/** `['127.0.0.1', 54321]` as a RegExp source, the way the example names a client. */
function named([host, port]: [string, number]): string {
  return `\\['${host.replace(/\./g, '\\.')}', ${port}\\]`;
}

async function echoes(clients: Driver, id: string, server: RunningExample, line: string): Promise<void> {
  await clients.connect(id, server);
  await clients.send(id, line);
  expect((await clients.recv(id, { until: line })).data.toString()).toBe(line);
}

describe('examples/selector-echo.ts', () => {
  it('prints "No events, waiting a bit more!" each idle second, using almost no CPU', async () => {
    const example = await startExample('selector-echo');
    const first = await example.waitForLine(/^No events, waiting a bit more!$/, { timeoutMs: 3000 });
    await example.waitForLine(/^No events, waiting a bit more!$/, { from: first.index + 1, timeoutMs: 3000 });
    example.child.kill('SIGINT');
    expect(await example.waitForExit()).toEqual({ code: 0, signal: null });
    const [, wall, , percent] = example.lines.map((line) => CPU_LINE.exec(line)).find(Boolean)!;
    expect(Number(wall)).toBeGreaterThan(1.5);
    // It sleeps in select() (the busy loop of nonblocking-busy-loop.ts: ~100%).
    expect(Number(percent)).toBeLessThan(20);
  });

  it('echoes a line and logs the connection, the data and the close', async () => {
    const example = await startExample('selector-echo');
    const clients = new Driver();
    const address = await clients.connect('c', example);
    await example.waitForLine(new RegExp(`^I got a connection from ${named(address)}$`));
    await clients.send('c', 'hello\r\n');
    expect((await clients.recv('c', { until: '\r\n' })).data.toString()).toBe('hello\r\n');
    await example.waitForLine(new RegExp(`^I got some data from ${named(address)}: "hello\\\\r\\\\n"$`));
    await clients.close('c');
    await example.waitForLine(new RegExp(`^${named(address)} has finished sending$`));
    await example.waitForLine(new RegExp(`^Connection from ${named(address)} closed$`));
    await clients.quit();
  });

  it('sends what it still owes after the client half-closes, then closes', async () => {
    const example = await startExample('selector-echo');
    const clients = new Driver();
    await clients.connect('c', example);
    await clients.send('c', 'last words');
    await clients.shutdownWrite('c');
    const rest = await clients.recv('c'); // until EOF
    expect(rest).toEqual({ data: Buffer.from('last words'), eof: true, timedOut: false });
    await clients.quit();
  });

  it('echoes many concurrent clients with large payloads byte-exact, while others reset mid-stream', async () => {
    const example = await startExample('selector-echo');
    // More than the kernel's send buffer (up to 4 MiB) each, read 4 KiB at a
    // time through a small window: the server meets full buffers, partial
    // writes and EVENT_WRITE over and over, for all clients at once.
    const clients = 10;
    const size = 8 * MiB;
    const report = JSON.parse(await runPython('load.py', [JSON.stringify({
      host: example.host, port: example.port, clients, size, aborters: 3, timeout: 30,
      rcvbuf: 32 * 1024, read_size: 4096,
    })], 40_000)) as {
      clients: Array<{ local: [string, number]; sent: number; received: number; exact: boolean; error: string | null }>;
      aborters: Array<{ local: [string, number]; error: string | null }>;
    };

    expect(report.clients).toHaveLength(clients);
    for (const client of report.clients) {
      expect(client).toEqual({ local: client.local, sent: size, received: size, exact: true, error: null });
    }
    // Each reset connection was closed on its own, as failed (ECONNRESET or EPIPE).
    for (const aborter of report.aborters) {
      expect(aborter.error).toBe(null);
      await example.waitForLine(new RegExp(`^Connection from ${named(aborter.local)} failed: E[A-Z]+$`));
    }
    // Every echo client was closed in order, after its last byte was sent.
    for (const client of report.clients) {
      await example.waitForLine(new RegExp(`^Connection from ${named(client.local)} closed$`));
    }
    // And the server is still there for the next one.
    const after = new Driver();
    await echoes(after, 'next', example, 'still serving\r\n');
    expect(example.exited).toBe(false);
    await after.quit();
  }, 60_000);

  it('stops reading from a client that does not read its echo, and goes on serving others', async () => {
    const example = await startExample('selector-echo');
    const clients = new Driver();
    // A small receive window for the client, so that the kernels' buffers
    // between it and the server hold little: what the server keeps, shows.
    const slow = await clients.connect('slow', example, { rcvbuf: 64 * 1024 });

    // Send up to 64 MiB without reading a byte, until the kernel takes no more
    // for a second. An unbounded server would read (and keep) all of it.
    const offered = 64 * MiB;
    const sent = await clients.fill('slow', offered, 1000);
    expect(sent).toBeLessThan(offered / 2);
    expect(sent).toBeGreaterThan(1 * MiB);
    const paused = await example.waitForLine(new RegExp(`^Pausing reads from ${named(slow)}: (\\d+) bytes not yet sent back$`));
    const owed = Number(paused.match[1]);
    expect(owed).toBeGreaterThan(1 * MiB);
    expect(owed).toBeLessThanOrEqual(1 * MiB + 64 * 1024); // the limit, plus at most one read

    // Meanwhile another client is echoed as usual.
    await echoes(clients, 'other', example, 'not stuck behind the slow one\r\n');

    // The slow client finally reads: everything comes back, in order, and
    // the server starts reading from it again.
    expect(await clients.drain('slow', sent, 20_000)).toEqual({ received: sent, match: true });
    await example.waitForLine(new RegExp(`^Resuming reads from ${named(slow)}$`), { from: paused.index });
    await clients.quit();
  }, 40_000);

  it.each(['SIGINT', 'SIGTERM'] as const)('on %s closes every connection and exits 0 at once, without waiting for select() to time out', async (signal) => {
    const example = await startExample('selector-echo');
    const clients = new Driver();
    await echoes(clients, 'one', example, 'hi\r\n');
    const two = await clients.connect('two', example);
    await example.waitForLine(new RegExp(`^I got a connection from ${named(two)}$`));
    // Idle, so it sleeps in select() (for a second): the slow case for noticing a signal.
    await example.waitForLine(/^No events, waiting a bit more!$/, { from: example.lines.length, timeoutMs: 3000 });

    const sentAt = performance.now();
    const from = example.lines.length;
    example.child.kill(signal);
    const goodbye = await example.waitForLine(new RegExp(`^Got ${signal}: `), { from, timeoutMs: 5000 });
    // The signal itself ended the wait: a loop that noticed it only after
    // select() timed out would have said "No events" once more first.
    expect(example.lines.slice(from, goodbye.index)).toEqual([]);
    expect(await example.waitForExit(5000)).toEqual({ code: 0, signal: null });
    expect(performance.now() - sentAt).toBeLessThan(5000);
    expect(example.lines).toContain(`Got ${signal}: closing 2 connection(s) and the server socket`);
    expect(example.lines.some((line) => CPU_LINE.test(line))).toBe(true);
    for (const id of ['one', 'two']) {
      expect(await clients.recv(id, { timeoutMs: 2000 })).toEqual({ data: Buffer.alloc(0), eof: true, timedOut: false });
    }
    await clients.quit();
  });

  it('with --quiet prints only its ready line and what it says on the way out', async () => {
    const example = await startExample('selector-echo', { args: ['--quiet'] });
    const clients = new Driver();
    await echoes(clients, 'c', example, 'shh\r\n');
    example.child.kill('SIGTERM');
    expect(await example.waitForExit(5000)).toEqual({ code: 0, signal: null });
    expect(example.lines).toHaveLength(3);
    expect(example.lines[1]).toBe('Got SIGTERM: closing 1 connection(s) and the server socket');
    expect(example.lines[2]).toMatch(CPU_LINE);
    expect(example.stderr).toBe('');
    await clients.quit();
  });
});
