// examples/reuseport-workers.ts, run as a process with two worker threads,
// loaded with short connections from several curl processes at once.
import { afterEach, describe, expect, it } from 'vitest';

import { curl, stopAllCurl } from './curl.js';
import { Driver, stopAllPython } from './python-client.js';
import { startExample, stopAllExamples, type RunningExample } from './run-example.js';

afterEach(async () => {
  await stopAllCurl();
  await stopAllPython();
  await stopAllExamples();
});

const WORKER_LINE = /^worker (\d+): (\d+) connection\(s\)$/;

/** The per-worker counts printed from line `from` on: [worker 1's, worker 2's, ...], and the total. */
async function counts(example: RunningExample, workers: number, from: number): Promise<{ each: number[]; total: number }> {
  const each: number[] = [];
  let at = from;
  for (let id = 1; id <= workers; id++) {
    const { index, match } = await example.waitForLine(new RegExp(`^worker ${id}: (\\d+) connection\\(s\\)$`), { from: at });
    each.push(Number(match[1]));
    at = index + 1;
  }
  const { match } = await example.waitForLine(/^total: (\d+) connection\(s\)$/, { from: at });
  return { each, total: Number(match[1]) };
}

describe('examples/reuseport-workers.ts', () => {
  it('spreads connections over its workers, all on one port, and prints the counts on SIGUSR2 and at exit', async () => {
    const example = await startExample('reuseport-workers', { env: { WORKERS: '2' }, readyTimeoutMs: 30_000 });
    // The line after the ready line can arrive a moment after it.
    const { index } = await example.waitForLine(/^2 worker\(s\), one event loop each\./);
    expect(index).toBe(1);

    // 4 clients at once, 10 requests each, each on a new connection
    // (`Connection: close`): the kernel picks a worker per connection.
    const clients = 4;
    const requests = 10;
    const target = `http://${example.host}:${example.port}/`;
    const results = await Promise.all(Array.from({ length: clients }, () =>
      curl(['-s', '-H', 'Connection: close', ...Array<string>(requests).fill(target)], { timeoutMs: 20_000 })));
    for (const result of results) {
      expect(result).toEqual({ code: 0, stdout: 'Hello, world!\n'.repeat(requests), stderr: '' });
    }

    const from = example.lines.length;
    example.child.kill('SIGUSR2');
    const asked = await counts(example, 2, from);
    expect(asked.total).toBe(clients * requests);
    // Both served: with 40 connections hashed over 2 sockets, one getting all
    // of them has a chance of 2 in 2^40.
    expect(asked.each.every((n) => n > 0)).toBe(true);
    expect(asked.each.reduce((a, b) => a + b)).toBe(asked.total);
    expect(example.exited).toBe(false); // SIGUSR2 only asks

    example.child.kill('SIGTERM');
    expect(await example.waitForExit(10_000)).toEqual({ code: 0, signal: null });
    const stopped = example.lines.indexOf('Got SIGTERM: stopping 2 worker(s)');
    expect(stopped).toBeGreaterThan(0);
    expect(await counts(example, 2, stopped)).toEqual(asked);
    expect(example.lines.filter((line) => WORKER_LINE.test(line))).toHaveLength(4);
    expect(example.stderr).toBe('');
  }, 60_000);

  it('on SIGINT stops its workers, which close their open keep-alive connections, and exits 0', async () => {
    const example = await startExample('reuseport-workers', { args: ['--workers', '2'], readyTimeoutMs: 30_000 });
    const client = new Driver();
    await client.connect('c', example);
    await client.send('c', 'GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    expect((await client.recv('c', { until: 'Hello, world!\n' })).data.toString()).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    // The connection stays open (keep-alive) until the worker is stopped.
    example.child.kill('SIGINT');
    expect(await example.waitForExit(10_000)).toEqual({ code: 0, signal: null });
    expect(await client.recv('c', { timeoutMs: 2000 })).toEqual({ data: Buffer.alloc(0), eof: true, timedOut: false });
    const { total } = await counts(example, 2, example.lines.indexOf('Got SIGINT: stopping 2 worker(s)'));
    expect(total).toBe(1);
    // Nobody listens on the port any more.
    expect((await curl(['-s', `http://${example.host}:${example.port}/`])).code).toBe(7); // curl: "Failed to connect"
    await client.quit();
  }, 60_000);
});
