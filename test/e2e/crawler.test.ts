// examples/crawler.ts, run as a process against examples/http-hello.ts and
// against a server that never answers.
import { createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';

import { startExample, stopAllExamples } from './run-example.js';

let silent: Server | null = null;
const held = new Set<Socket>();

afterEach(async () => {
  await stopAllExamples();
  for (const sock of held) sock.destroy();
  held.clear();
  if (silent !== null) await new Promise((resolve) => silent!.close(resolve));
  silent = null;
});

describe('examples/crawler.ts', () => {
  it('fetches every page from http-hello with no more requests in flight than the semaphore allows', async () => {
    const server = await startExample('http-hello', { args: ['--quiet'] });
    const crawler = await startExample('crawler', {
      args: [server.host, String(server.port), '--requests', '60', '--concurrency', '5', '--timeout', '5000'],
      ready: /^fetched /,
      readyTimeoutMs: 30_000,
    });
    expect(crawler.lines[0]).toBe('fetched 60: 60 ok, 0 failed, 0 timed out; at most 5 at once');
    expect((await crawler.waitForExit()).code).toBe(0);
  });

  it('gives up on each request after its timeout when the server never answers', async () => {
    silent = createServer((sock) => {
      held.add(sock); // accept, read nothing, answer nothing
    });
    await new Promise<void>((resolve) => silent!.listen(0, '127.0.0.1', resolve));
    const port = (silent.address() as { port: number }).port;
    const crawler = await startExample('crawler', {
      args: ['127.0.0.1', String(port), '--requests', '6', '--concurrency', '3', '--timeout', '200'],
      ready: /./, // its first line, whatever it is: the rest is read at exit
      readyTimeoutMs: 30_000,
    });
    expect((await crawler.waitForExit(20_000)).code).toBe(0);
    expect(crawler.lines.filter((l) => / timed out after 200 ms$/.test(l)).length).toBe(6);
    expect(crawler.lines.at(-1)).toBe('fetched 6: 0 ok, 0 failed, 6 timed out; at most 3 at once');
  });
});
