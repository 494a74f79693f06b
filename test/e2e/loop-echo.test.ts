// examples/loop-echo.ts, run as a process and talked to by Python's socket.
import { afterEach, describe, expect, it } from 'vitest';

import { ioUringAvailable } from '../../src/index.js';
import { Driver, runPython, stopAllPython } from './python-client.js';
import { startExample, stopAllExamples } from './run-example.js';

afterEach(async () => {
  await stopAllPython();
  await stopAllExamples();
});

const MiB = 1024 * 1024;

/** `['127.0.0.1', 54321]` as a RegExp source, the way the example names a client. */
function named([host, port]: [string, number]): string {
  return `\\['${host.replace(/\./g, '\\.')}', ${port}\\]`;
}

describe('examples/loop-echo.ts', () => {
  it('echoes a line and logs the connection and its close', async () => {
    const example = await startExample('loop-echo');
    const clients = new Driver();
    const address = await clients.connect('c', example);
    await example.waitForLine(new RegExp(`^Got a connection from ${named(address)}$`));
    await clients.send('c', 'hello\r\n');
    expect((await clients.recv('c', { until: '\r\n' })).data.toString()).toBe('hello\r\n');
    await clients.close('c');
    await example.waitForLine(new RegExp(`^Connection from ${named(address)} closed$`));
    await clients.quit();
  });

  it.runIf(ioUringAvailable())('echoes with --io io_uring, and sends everything back on a half-close', async () => {
    const example = await startExample('loop-echo', { args: ['--io', 'io_uring'] });
    const clients = new Driver();
    await clients.connect('c', example);
    await clients.send('c', 'hello\r\n');
    expect((await clients.recv('c', { until: '\r\n' })).data.toString()).toBe('hello\r\n');
    await clients.send('c', 'last words');
    await clients.shutdownWrite('c');
    expect(await clients.recv('c')).toEqual({ data: Buffer.from('last words'), eof: true, timedOut: false });
    await clients.quit();
  });

  it('serves a second client while the first one is connected and silent', async () => {
    const example = await startExample('loop-echo');
    const clients = new Driver();
    await clients.connect('silent', example);
    await clients.send('silent', 'half a line'); // and then nothing: its task waits in sockRecv
    expect((await clients.recv('silent', { until: 'half a line' })).data.toString()).toBe('half a line');
    // (blocking-multi-client.ts would now be stuck reading from it.)
    await clients.connect('other', example);
    await clients.send('other', 'not stuck\r\n');
    expect((await clients.recv('other', { until: '\r\n' })).data.toString()).toBe('not stuck\r\n');
    await clients.send('silent', ', the other half\r\n');
    expect((await clients.recv('silent', { until: '\r\n' })).data.toString()).toBe(', the other half\r\n');
    await clients.quit();
  });

  it('sends everything back before closing when the client half-closes', async () => {
    const example = await startExample('loop-echo');
    const clients = new Driver();
    await clients.connect('c', example);
    await clients.send('c', 'last words');
    await clients.shutdownWrite('c');
    expect(await clients.recv('c')).toEqual({ data: Buffer.from('last words'), eof: true, timedOut: false });
    await clients.quit();
  });

  it('echoes many concurrent clients with large payloads byte-exact, while others reset mid-stream', async () => {
    const example = await startExample('loop-echo');
    // More than the kernel's buffers hold, read slowly through a small
    // window: the echo tasks wait in sockSendall over and over, all at once.
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
    // A reset ends that connection's task only, logged as failed.
    for (const aborter of report.aborters) {
      expect(aborter.error).toBe(null);
      await example.waitForLine(new RegExp(`^Connection from ${named(aborter.local)} failed: E[A-Z]+$`));
    }
    for (const client of report.clients) {
      await example.waitForLine(new RegExp(`^Connection from ${named(client.local)} closed$`));
    }
    // Nothing reached the loop's exception handler, and the server still serves.
    expect(example.stderr).toBe('');
    const after = new Driver();
    await after.connect('next', example);
    await after.send('next', 'still serving\r\n');
    expect((await after.recv('next', { until: '\r\n' })).data.toString()).toBe('still serving\r\n');
    await after.quit();
  }, 60_000);

  it.each(['SIGINT', 'SIGTERM'] as const)('on %s cancels its tasks, closes every connection and exits 0', async (signal) => {
    const example = await startExample('loop-echo');
    const clients = new Driver();
    for (const id of ['one', 'two']) {
      const address = await clients.connect(id, example);
      await example.waitForLine(new RegExp(`^Got a connection from ${named(address)}$`));
    }
    example.child.kill(signal);
    expect(await example.waitForExit(5000)).toEqual({ code: 0, signal: null });
    expect(example.lines.at(-1)).toBe('Server stopped');
    for (const id of ['one', 'two']) {
      expect(await clients.recv(id, { timeoutMs: 2000 })).toEqual({ data: Buffer.alloc(0), eof: true, timedOut: false });
    }
    expect(example.stderr).toBe('');
    await clients.quit();
  });
});
