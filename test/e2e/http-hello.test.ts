// examples/http-hello.ts, run as a process and talked to by curl, and, for
// what curl will not send (pipelined or malformed requests), by Python's socket.
import { afterEach, describe, expect, it } from 'vitest';

import { curl, stopAllCurl } from './curl.js';
import { Driver, stopAllPython } from './python-client.js';
import { startExample, stopAllExamples, type RunningExample } from './run-example.js';

afterEach(async () => {
  await stopAllCurl();
  await stopAllPython();
  await stopAllExamples();
});

const HELLO = 'Hello, world!\n';

function url(example: RunningExample, path = '/'): string {
  return `http://${example.host}:${example.port}${path}`;
}

/** The client ports of the server's access-log lines for `method path`, in order. */
function clientPorts(example: RunningExample, request: string): number[] {
  const pattern = new RegExp(`^\\['127\\.0\\.0\\.1', (\\d+)\\] "${request} HTTP/1\\.\\d" 200$`);
  return example.lines.map((line) => pattern.exec(line)).filter((m) => m !== null).map((m) => Number(m[1]));
}

function count(text: string, part: string): number {
  return text.split(part).length - 1;
}

describe('examples/http-hello.ts with curl', () => {
  it('answers 200 "Hello, world!" and keeps the connection for the next request', async () => {
    const example = await startExample('http-hello');
    const result = await curl(['-sv', url(example, '/'), url(example, '/again')]);
    expect(result.code).toBe(0);
    expect(result.stdout).toBe(HELLO + HELLO);
    expect(count(result.stderr, '< HTTP/1.1 200 OK')).toBe(2);
    expect(result.stderr).toContain('< Content-Length: 14');
    expect(result.stderr).toMatch(/Re-using existing connection/);
    await example.waitForLine(/"GET \/again HTTP\/1\.1" 200$/);
    // One connection: both requests came from the same client port.
    expect(clientPorts(example, 'GET /')).toEqual(clientPorts(example, 'GET /again'));
  });

  it('closes the connection after answering a request with "Connection: close"', async () => {
    const example = await startExample('http-hello');
    const result = await curl(['-sv', '-H', 'Connection: close', url(example, '/a'), url(example, '/b')]);
    expect(result.code).toBe(0);
    expect(result.stdout).toBe(HELLO + HELLO);
    expect(count(result.stderr, '< Connection: close')).toBe(2);
    expect(result.stderr).not.toMatch(/Re-using existing connection/);
    await example.waitForLine(/"GET \/b HTTP\/1\.1" 200$/);
    expect(clientPorts(example, 'GET /a')[0]).not.toBe(clientPorts(example, 'GET /b')[0]);
  });

  it('closes after an HTTP/1.0 request, unless it asks for keep-alive', async () => {
    const example = await startExample('http-hello');
    const plain = await curl(['-sv', '--http1.0', url(example, '/1'), url(example, '/2')]);
    expect(plain.stdout).toBe(HELLO + HELLO);
    expect(plain.stderr).not.toMatch(/Re-using existing connection/);
    const keepAlive = await curl(['-sv', '--http1.0', '-H', 'Connection: keep-alive', url(example, '/3'), url(example, '/4')]);
    expect(keepAlive.stdout).toBe(HELLO + HELLO);
    expect(keepAlive.stderr).toContain('< Connection: keep-alive');
    expect(keepAlive.stderr).toMatch(/Re-using existing connection/);
  });

  it('reads past a request body, large or small, and serves the next request on the connection', async () => {
    const example = await startExample('http-hello');
    const large = Buffer.alloc(3 * 1024 * 1024, 'x'); // past curl's threshold for Expect: 100-continue
    const result = await curl([
      '-sv', '--data-binary', 'small body', url(example, '/small'),
      '--next', '-sv', '--data-binary', '@-', url(example, '/large'),
      '--next', '-sv', url(example, '/after'),
    ], { input: large, timeoutMs: 20_000 });
    expect(result.code).toBe(0);
    expect(result.stdout).toBe(HELLO + HELLO + HELLO);
    expect(result.stderr).toContain('< HTTP/1.1 100 Continue');
    expect(count(result.stderr, 'Re-using existing connection')).toBe(2);
    await example.waitForLine(/"GET \/after HTTP\/1\.1" 200$/);
  });

  it('answers HEAD with the header fields only', async () => {
    const example = await startExample('http-hello');
    const result = await curl(['-sI', url(example)]);
    expect(result.stdout).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(result.stdout).toContain('Content-Length: 14\r\n');
    expect(result.stdout).not.toContain('Hello');
  });
});

describe('examples/http-hello.ts with a raw socket', () => {
  it('answers pipelined requests in order, skipping a body that looks like a request', async () => {
    const example = await startExample('http-hello');
    const client = new Driver();
    await client.connect('c', example);
    const fake = 'GET /not-a-request HTTP/1.1\r\nHost: x\r\n\r\n';
    await client.send('c', [
      'GET /1 HTTP/1.1\r\nHost: x\r\n\r\n',
      `POST /2 HTTP/1.1\r\nHost: x\r\nContent-Length: ${fake.length}\r\n\r\n${fake}`,
      'GET /3 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
    ].join(''));
    const reply = await client.recv('c'); // until the server closes
    expect(reply.eof).toBe(true);
    const text = reply.data.toString('latin1');
    expect(count(text, 'HTTP/1.1 200 OK\r\n')).toBe(3);
    expect(count(text, `\r\n\r\n${HELLO}`)).toBe(3);
    // Only the last answer closes.
    const answers = text.split('HTTP/1.1 200 OK\r\n').slice(1);
    expect(answers.map((answer) => answer.includes('Connection: close\r\n'))).toEqual([false, false, true]);
    // The server logs each request after answering it: the last line can
    // reach us after the client has seen the close.
    await example.waitForLine(/"GET \/3 HTTP\/1\.1" 200$/);
    expect(example.lines.filter((line) => line.includes('HTTP/1.1" 200')).map((line) => line.split('"')[1])).toEqual([
      'GET /1 HTTP/1.1', 'POST /2 HTTP/1.1', 'GET /3 HTTP/1.1',
    ]);
    await client.quit();
  });

  it('accepts lines that end in a bare LF, as RFC 9112 allows, alone or mixed with CRLF', async () => {
    const example = await startExample('http-hello');
    const client = new Driver();
    await client.connect('c', example);
    await client.send('c', 'GET /lf HTTP/1.1\nHost: x\n\n');
    expect((await client.recv('c', { until: HELLO, timeoutMs: 3000 })).data.toString()).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    await client.send('c', 'GET /mixed HTTP/1.1\r\nHost: x\nConnection: close\r\n\n');
    const reply = await client.recv('c', { timeoutMs: 3000 }); // until the server closes
    expect(reply.eof).toBe(true);
    expect(reply.data.toString('latin1')).toMatch(/^HTTP\/1\.1 200 OK\r\n[^]*Connection: close\r\n[^]*Hello, world!\n$/);
    await example.waitForLine(/"GET \/mixed HTTP\/1\.1" 200$/);
    await client.quit();
  });

  it('sends 100 Continue before reading a body the client holds back', async () => {
    const example = await startExample('http-hello');
    const client = new Driver();
    await client.connect('c', example);
    await client.send('c', 'PUT /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n');
    expect((await client.recv('c', { until: '\r\n\r\n' })).data.toString()).toBe('HTTP/1.1 100 Continue\r\n\r\n');
    await client.send('c', 'hello');
    const reply = (await client.recv('c', { until: HELLO })).data.toString();
    expect(reply).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    await client.quit();
  });

  it.each([
    ['a request line that is not HTTP', 'GARBAGE\r\n\r\n', 400],
    ['a space before the colon', 'GET / HTTP/1.1\r\nHost : x\r\n\r\n', 400],
    ['a folded header line', 'GET / HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n continued\r\n\r\n', 400],
    ['no Host in HTTP/1.1', 'GET / HTTP/1.1\r\n\r\n', 400],
    ['two different Content-Lengths', 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab', 400],
    ['a Content-Length that is not a number', 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n', 400],
    ['a chunked body', 'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', 501],
    ['HTTP/2.0', 'GET / HTTP/2.0\r\nHost: x\r\n\r\n', 505],
    ['a bare CR inside a line', 'GET / HTTP/1.1\r\nHost: x\rX-A: 1\r\n\r\n', 400],
  ])('answers %s with an error status and closes the connection', async (_what, request, status) => {
    const example = await startExample('http-hello');
    const client = new Driver();
    await client.connect('c', example);
    await client.send('c', request);
    const reply = await client.recv('c', { timeoutMs: 5000 });
    expect(reply.eof).toBe(true);
    const text = reply.data.toString('latin1');
    expect(text).toMatch(new RegExp(`^HTTP/1\\.1 ${status} [A-Za-z ]+\\r\\n`));
    expect(text).toContain('Connection: close\r\n');
    await example.waitForLine(new RegExp(`^\\['127\\.0\\.0\\.1', \\d+\\] ${status} `));
    await client.quit();
  });

  it('answers a head longer than 8 KiB with 431 and closes, without waiting for its end', async () => {
    const example = await startExample('http-hello');
    const client = new Driver();
    await client.connect('c', example);
    await client.send('c', `GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(10_000)}`); // no blank line, ever
    const reply = await client.recv('c', { timeoutMs: 5000 });
    expect(reply.data.toString('latin1')).toMatch(/^HTTP\/1\.1 431 Request Header Fields Too Large\r\n/);
    expect(reply.eof).toBe(true);
    await client.quit();
  });

  it('on SIGTERM closes its keep-alive connections and exits 0', async () => {
    const example = await startExample('http-hello');
    const client = new Driver();
    await client.connect('c', example);
    await client.send('c', 'GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    expect((await client.recv('c', { until: HELLO })).data.toString()).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    example.child.kill('SIGTERM');
    expect(await example.waitForExit(5000)).toEqual({ code: 0, signal: null });
    expect(await client.recv('c', { timeoutMs: 2000 })).toEqual({ data: Buffer.alloc(0), eof: true, timedOut: false });
    expect(example.lines.at(-1)).toBe('Server stopped');
    expect(example.stderr).toBe('');
    await client.quit();
  });
});
