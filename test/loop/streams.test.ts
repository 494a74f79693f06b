// Streams: the behaviours CPython's test_streams.py checks, flow control
// both ways, load, and interop with Python's asyncio, in both run modes.
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';

import {
  ConnectionRefusedError, ConnectionResetError, type Coro, Event, getRunningLoop, IncompleteReadError, LimitOverrunError,
  openConnection, type Server, Socket, startServer, StreamReader, type StreamWriter, type Task,
  TimeoutError, timeout,
} from '../../src/index.js';
import { clientEnv } from '../support/client-env.js';
import { MODES, runIn, ticks } from './toolbox-support.js';

const HIGH_WATER = 64 * 1024;
const FIXTURES = fileURLToPath(new URL('./fixtures/', import.meta.url));

function spawnTask<T>(coro: Coro<T>): Task<T> {
  return getRunningLoop().createTask(coro);
}

function* outcome(body: Coro<unknown> | Task<unknown>): Coro<unknown> {
  try {
    return yield* body;
  } catch (error) {
    return error;
  }
}

function portOf(server: Server): number {
  return (server.sockets[0]!.getsockname() as [string, number])[1];
}

function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** A reader fed by hand (no connection). */
function fed(limit?: number): StreamReader {
  return new StreamReader(limit === undefined ? undefined : { limit });
}

function* echoHandler(reader: StreamReader, writer: StreamWriter): Coro<void> {
  for (;;) {
    const data = yield* reader.read(65536);
    if (data.length === 0) return;
    writer.write(data);
    yield* writer.drain();
  }
}

describe.each(MODES)('StreamReader fed by hand (%s)', (mode) => {
  it('read(n) returns at most n bytes, waiting for some when empty', async () => {
    await runIn(mode, function* () {
      const r = fed();
      const pending = spawnTask(r.read(3));
      yield* ticks();
      expect(pending.done()).toBe(false);
      r.feedData('hello');
      expect((yield* pending).toString()).toBe('hel');
      expect((yield* r.read(10)).toString()).toBe('lo');
      expect((yield* r.read(0)).length).toBe(0);
    });
  });

  it('read() with no argument reads to EOF', async () => {
    await runIn(mode, function* () {
      const r = fed();
      const all = spawnTask(r.read());
      r.feedData('line1\n');
      yield* ticks();
      r.feedData('line2\n');
      r.feedEof();
      expect((yield* all).toString()).toBe('line1\nline2\n');
      expect(r.atEof()).toBe(true);
      expect((yield* r.read(5)).length).toBe(0);
    });
  });

  it('readline returns through the newline, and what is left at EOF', async () => {
    await runIn(mode, function* () {
      const r = fed();
      r.feedData('chunk1 ');
      const line = spawnTask(r.readline());
      yield* ticks();
      r.feedData('chunk2 ');
      yield* ticks();
      r.feedData('chunk3\nrest');
      expect((yield* line).toString()).toBe('chunk1 chunk2 chunk3\n');
      r.feedEof();
      expect((yield* r.readline()).toString()).toBe('rest');
      expect((yield* r.readline()).length).toBe(0);
      expect(r.atEof()).toBe(true);
    });
  });

  it('readline drops a line longer than the limit and throws RangeError', async () => {
    await runIn(mode, function* () {
      const r = fed(3);
      r.feedData('li');
      r.feedData('ne1\nline2\n');
      expect(yield* outcome(r.readline())).toBeInstanceOf(RangeError);
      // The overlong line went, through its newline; the next is intact but also too long.
      expect(yield* outcome(r.readline())).toBeInstanceOf(RangeError);
      r.feedData('ok\n');
      expect((yield* r.readline()).toString()).toBe('ok\n');
    });
  });

  it('readuntil finds a multi-byte separator and throws IncompleteReadError at EOF without it', async () => {
    await runIn(mode, function* () {
      const r = fed();
      r.feedData('key: value\r\n\r\nbody');
      expect((yield* r.readuntil('\r\n\r\n')).toString()).toBe('key: value\r\n\r\n');
      r.feedEof();
      const error = yield* outcome(r.readuntil(Buffer.from('\r\n')));
      expect(error).toBeInstanceOf(IncompleteReadError);
      expect((error as IncompleteReadError).partial.toString()).toBe('body');
      expect((error as IncompleteReadError).expected).toBeNull();
      expect(yield* outcome(r.readuntil(''))).toBeInstanceOf(RangeError);
    });
  });

  it('readuntil throws LimitOverrunError and leaves the data in the buffer', async () => {
    await runIn(mode, function* () {
      const r = fed(5);
      r.feedData('0123456789!');
      const error = yield* outcome(r.readuntil('!'));
      expect(error).toBeInstanceOf(LimitOverrunError);
      expect((error as LimitOverrunError).consumed).toBe(10);
      expect((yield* r.read(11)).toString()).toBe('0123456789!');
    });
  });

  it('readexactly waits for all n bytes and throws IncompleteReadError with the partial data at EOF', async () => {
    await runIn(mode, function* () {
      const r = fed();
      const exact = spawnTask(r.readexactly(6));
      r.feedData('abc');
      yield* ticks();
      expect(exact.done()).toBe(false);
      r.feedData('defgh');
      expect((yield* exact).toString()).toBe('abcdef');
      expect((yield* r.readexactly(0)).length).toBe(0);
      r.feedEof();
      const error = yield* outcome(r.readexactly(5));
      expect(error).toBeInstanceOf(IncompleteReadError);
      expect((error as IncompleteReadError).partial.toString()).toBe('gh');
      expect((error as IncompleteReadError).expected).toBe(5);
    });
  });

  it('throws a set exception from every read, also one already waiting', async () => {
    await runIn(mode, function* () {
      const r = fed();
      const waiting = spawnTask(r.read(5));
      yield* ticks();
      r.setException(new Error('connection broke'));
      expect(((yield* outcome(waiting)) as Error).message).toBe('connection broke');
      expect(((yield* outcome(r.readline())) as Error).message).toBe('connection broke');
    });
  });

  it('refuses a second task reading while one waits', async () => {
    await runIn(mode, function* () {
      const r = fed();
      const first = spawnTask(r.read(5));
      yield* ticks();
      expect(String(yield* outcome(r.readline()))).toMatch(/already waiting/);
      r.feedEof();
      yield* first;
    });
  });
});

describe.each(MODES)('streams over sockets (%s)', (mode) => {
  it('echoes lines between startServer and openConnection, and reports the addresses', async () => {
    await runIn(mode, function* () {
      const server = yield* startServer(echoHandler, ['127.0.0.1', 0]);
      const port = portOf(server);
      const [r, w] = yield* openConnection(['127.0.0.1', port]);
      w.writelines([Buffer.from('one\n'), Buffer.from('two\n')]);
      yield* w.drain();
      expect((yield* r.readline()).toString()).toBe('one\n');
      expect((yield* r.readline()).toString()).toBe('two\n');
      expect(w.getExtraInfo('peername')).toEqual(['127.0.0.1', port]);
      expect(w.getExtraInfo('sockname')).toEqual(['127.0.0.1', expect.any(Number)]);
      expect(w.getExtraInfo('socket')).toBeInstanceOf(Socket);
      w.close();
      expect(w.isClosing()).toBe(true);
      yield* w.waitClosed();
      server.close();
      yield* server.waitClosed();
      expect(server.isServing()).toBe(false);
    });
  });

  it('works over a Unix socket path', async () => {
    const path = join(tmpdir(), `ns-streams-${process.pid}-${mode}.sock`);
    rmSync(path, { force: true });
    try {
      await runIn(mode, function* () {
        const server = yield* startServer(echoHandler, path);
        const [r, w] = yield* openConnection(path);
        w.write('over unix\n');
        expect((yield* r.readline()).toString()).toBe('over unix\n');
        w.close();
        yield* w.waitClosed();
        server.close();
        yield* server.waitClosed();
      });
    } finally {
      rmSync(path, { force: true });
    }
  });

  it('half-closes with writeEof: the peer sees EOF and can still answer', async () => {
    await runIn(mode, function* () {
      const server = yield* startServer(function* (reader, writer) {
        const all = yield* reader.read();
        writer.write(`got ${all.length} bytes`);
      }, ['127.0.0.1', 0]);
      const [r, w] = yield* openConnection(['127.0.0.1', portOf(server)]);
      expect(w.canWriteEof()).toBe(true);
      w.write(Buffer.alloc(100_000, 1));
      w.writeEof();
      expect(() => w.write('late')).toThrow(/writeEof/);
      expect((yield* r.read()).toString()).toBe('got 100000 bytes');
      expect(r.atEof()).toBe(true);
      w.close();
      server.close();
      yield* server.waitClosed();
    });
  });

  it('ends a read that waits when its own writer closes the connection, with EOF', async () => {
    await runIn(mode, function* () {
      const server = yield* startServer(function* (reader) {
        yield* reader.read();
      }, ['127.0.0.1', 0]);
      const [r, w] = yield* openConnection(['127.0.0.1', portOf(server)]);
      const reading = spawnTask(r.read(10));
      yield* ticks();
      w.close();
      expect((yield* reading).length).toBe(0);
      expect(r.atEof()).toBe(true);
      server.close();
      yield* server.waitClosed();
    });
  });

  it('completes a readexactly far larger than twice the limit', async () => {
    await runIn(mode, function* () {
      const payload = randomBytes(4 * 1024 * 1024);
      const server = yield* startServer(function* (_reader, writer) {
        writer.write(payload);
        yield* writer.drain();
      }, ['127.0.0.1', 0], { limit: 1024 });
      const [r, w] = yield* openConnection(['127.0.0.1', portOf(server)], { limit: 1024 });
      const got = yield* r.readexactly(payload.length);
      expect(sha256(got)).toBe(sha256(payload));
      w.close();
      server.close();
      yield* server.waitClosed();
    });
  });

  it('keeps a writer to a client that does not read within the high-water mark plus one write (50 MiB)', async () => {
    const TOTAL = 50 * 1024 * 1024;
    const WRITE = 64 * 1024;
    await runIn(mode, function* () {
      const block = randomBytes(WRITE);
      const blocked = new Event();
      let most = 0;
      let drainWaits = 0;
      const sent = createHash('sha256');
      const server = yield* startServer(function* (_reader, writer) {
        for (let off = 0; off < TOTAL; off += WRITE) {
          block.writeUInt32BE(off >>> 0, 0); // every block differs, so order matters to the hash
          sent.update(block);
          writer.write(block);
          most = Math.max(most, writer.bufferedSize);
          if (writer.bufferedSize > HIGH_WATER) {
            drainWaits++;
            blocked.set();
          }
          yield* writer.drain();
        }
      }, ['127.0.0.1', 0]);
      const [r, w] = yield* openConnection(['127.0.0.1', portOf(server)]);
      // Read nothing until the server's writer has had to wait in drain.
      yield* blocked.wait();
      const received = createHash('sha256');
      let count = 0;
      for (;;) {
        const data = yield* r.read(1 << 20);
        if (data.length === 0) break;
        received.update(data);
        count += data.length;
      }
      expect(count).toBe(TOTAL);
      expect(received.digest('hex')).toBe(sent.digest('hex'));
      expect(drainWaits).toBeGreaterThan(0);
      expect(most).toBeLessThanOrEqual(HIGH_WATER + WRITE);
      w.close();
      server.close();
      yield* server.waitClosed();
    });
  });

  it('buffers no more than twice the limit from a peer that floods while nobody reads', async () => {
    await runIn(mode, function* () {
      const limit = 4096;
      const peerBlocked = new Event();
      const server = yield* startServer(function* (_reader, writer) {
        const block = Buffer.alloc(64 * 1024, 7);
        try {
          for (let i = 0; i < 256; i++) {
            writer.write(block);
            if (writer.bufferedSize > HIGH_WATER) peerBlocked.set();
            yield* writer.drain();
          }
        } catch (error) {
          // The client hangs up with data unread: a reset, expected here.
          if (!(error instanceof ConnectionResetError)) throw error;
        }
      }, ['127.0.0.1', 0]);
      const [r, w] = yield* openConnection(['127.0.0.1', portOf(server)], { limit });
      expect((yield* r.readexactly(10)).length).toBe(10);
      yield* peerBlocked.wait();
      expect(r._buffered).toBeLessThanOrEqual(2 * limit + 64 * 1024);
      w.close();
      server.close();
      yield* server.waitClosed();
    });
  });

  it('keeps the bytes for the next read when a waiting read is cancelled', async () => {
    await runIn(mode, function* () {
      const go = new Event();
      const server = yield* startServer(function* (_reader, writer) {
        writer.write('part-');
        yield* go.wait();
        writer.write('rest\n');
      }, ['127.0.0.1', 0]);
      const [r, w] = yield* openConnection(['127.0.0.1', portOf(server)]);
      const waiting = spawnTask(r.readline());
      yield* timeout(5_000, function* () {
        while (r._buffered === 0) yield* ticks(1);
      });
      waiting.cancel();
      yield* outcome(waiting);
      expect(waiting.cancelled()).toBe(true);
      go.set();
      expect((yield* r.readline()).toString()).toBe('part-rest\n');
      w.close();
      server.close();
      yield* server.waitClosed();
    });
  });

  it('serves 200 concurrent clients with random payloads intact', async () => {
    await runIn(mode, function* () {
      const server = yield* startServer(echoHandler, ['127.0.0.1', 0], { backlog: 256 });
      const port = portOf(server);
      function* client(i: number): Coro<boolean> {
        const payload = randomBytes(1 + ((i * 7919) % (128 * 1024)));
        const [r, w] = yield* openConnection(['127.0.0.1', port]);
        const reading = spawnTask(r.read());
        w.write(payload);
        yield* w.drain();
        w.writeEof();
        const back = yield* reading;
        w.close();
        yield* w.waitClosed();
        return sha256(back) === sha256(payload);
      }
      const tasks = Array.from({ length: 200 }, (_, i) => spawnTask(client(i)));
      const results: boolean[] = [];
      for (const t of tasks) results.push(yield* t);
      expect(results.filter((ok) => ok).length).toBe(200);
      server.close();
      yield* server.waitClosed();
    });
  });

  it('throws ConnectionRefusedError when nobody listens', async () => {
    await runIn(mode, function* () {
      const probe = new Socket();
      probe.bind(['127.0.0.1', 0]);
      const port = (probe.getsockname() as [string, number])[1];
      probe.close();
      expect(yield* outcome(openConnection(['127.0.0.1', port]))).toBeInstanceOf(ConnectionRefusedError);
    });
  });

  it('throws TimeoutError when the connect does not finish within options.timeout', async () => {
    // A listener whose accept queue is full: the kernel drops further SYNs,
    // so a connect stays pending.
    const listener = new Socket();
    const fillers: Socket[] = [];
    try {
      listener.bind(['127.0.0.1', 0]);
      listener.listen(0);
      const port = (listener.getsockname() as [string, number])[1];
      for (let i = 0; i < 3; i++) {
        const s = new Socket();
        s.setBlocking(false);
        fillers.push(s);
        s.connectEx(['127.0.0.1', port]);
      }
      await runIn(mode, function* () {
        const result = yield* outcome(openConnection(['127.0.0.1', port], { timeout: 50 }));
        if (Array.isArray(result)) (result[1] as StreamWriter).close();
        expect(result).toBeInstanceOf(TimeoutError);
      });
    } finally {
      for (const s of fillers) s.close();
      listener.close();
    }
  });
});

describe.each(MODES)('Server (%s)', (mode) => {
  it('stops accepting on close, and waitClosed waits for the open connections', async () => {
    await runIn(mode, function* () {
      const release = new Event();
      const server = yield* startServer(function* (_reader, writer) {
        yield* release.wait();
        writer.write('released\n');
      }, ['127.0.0.1', 0]);
      const port = portOf(server);
      const [r, w] = yield* openConnection(['127.0.0.1', port]);
      yield* ticks();
      server.close();
      expect(yield* outcome(openConnection(['127.0.0.1', port]))).toBeInstanceOf(ConnectionRefusedError);
      const closing = spawnTask(server.waitClosed());
      yield* ticks();
      expect(closing.done()).toBe(false);
      release.set();
      expect((yield* r.readline()).toString()).toBe('released\n');
      expect((yield* r.read()).length).toBe(0); // the server closed it when the handler returned
      yield* closing;
      w.close();
    });
  });

  it('ends the connections with closeClients and abortClients', async () => {
    await runIn(mode, function* () {
      const server = yield* startServer(function* (reader) {
        yield* reader.read();
      }, ['127.0.0.1', 0]);
      const port = portOf(server);
      const [r1, w1] = yield* openConnection(['127.0.0.1', port]);
      const [r2, w2] = yield* openConnection(['127.0.0.1', port]);
      yield* ticks(10);
      server.closeClients();
      expect((yield* r1.read()).length).toBe(0);
      expect((yield* r2.read()).length).toBe(0);
      const [r3, w3] = yield* openConnection(['127.0.0.1', port]);
      yield* ticks(10);
      server.abortClients();
      expect((yield* r3.read()).length).toBe(0);
      server.close();
      yield* server.waitClosed();
      for (const w of [w1, w2, w3]) w.close();
    });
  });

  it('serves forever until cancelled, then is closed', async () => {
    await runIn(mode, function* () {
      const server = yield* startServer(echoHandler, ['127.0.0.1', 0]);
      const serving = spawnTask(server.serveForever());
      const [r, w] = yield* openConnection(['127.0.0.1', portOf(server)]);
      w.write('ping\n');
      expect((yield* r.readline()).toString()).toBe('ping\n');
      w.close();
      yield* w.waitClosed();
      serving.cancel();
      yield* outcome(serving);
      expect(serving.cancelled()).toBe(true);
      expect(server.isServing()).toBe(false);
      expect(server.sockets).toEqual([]);
    });
  });

  it('reports a handler\'s exception to the loop and closes its connection', async () => {
    await runIn(mode, function* () {
      const seen: string[] = [];
      getRunningLoop().setExceptionHandler((_loop, context) => seen.push(`${context.message}: ${String(context.exception)}`));
      const server = yield* startServer(function* (reader) {
        yield* reader.readline();
        throw new Error('handler broke');
      }, ['127.0.0.1', 0]);
      const [r, w] = yield* openConnection(['127.0.0.1', portOf(server)]);
      w.write('go\n');
      expect((yield* r.read()).length).toBe(0);
      expect(seen).toEqual(['Unhandled exception in client callback: Error: handler broke']);
      w.close();
      server.close();
      yield* server.waitClosed();
    });
  });
});

// ---- interop with Python's asyncio ------------------------------------------

const children = new Set<ReturnType<typeof spawn>>();
afterEach(() => {
  for (const child of children) child.kill('SIGKILL');
  children.clear();
});

function python(script: string, args: string[]): { stdout: Promise<string>; firstLine: Promise<string>; code: Promise<number | null> } {
  const child = spawn(process.env.PYTHON ?? 'python3', ['-u', join(FIXTURES, script), ...args], {
    env: clientEnv(), stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.add(child);
  let text = '';
  let resolveFirst!: (line: string) => void;
  const firstLine = new Promise<string>((resolve) => {
    resolveFirst = resolve;
  });
  child.stdout!.on('data', (chunk: Buffer) => {
    text += chunk.toString();
    const nl = text.indexOf('\n');
    if (nl >= 0) resolveFirst(text.slice(0, nl));
  });
  const code = new Promise<number | null>((resolve) => child.once('close', (c) => {
    children.delete(child);
    resolve(c);
  }));
  return { stdout: code.then(() => text), firstLine, code };
}

describe.each(MODES)('interop with Python asyncio (%s)', (mode) => {
  it('serves a Python asyncio client from startServer', async () => {
    let run!: ReturnType<typeof python>;
    await runIn(mode, function* () {
      const finished = new Event();
      const server = yield* startServer(function* (reader, writer) {
        try {
          for (;;) {
            const line = (yield* reader.readline()).toString();
            if (line === '') break;
            const blob = /^BLOB (\d+)\n$/.exec(line);
            if (blob !== null) writer.write(`${sha256(yield* reader.readexactly(Number(blob[1])))}\n`);
            else writer.write(line);
            yield* writer.drain();
          }
          writer.write('bye');
        } finally {
          finished.set();
        }
      }, ['127.0.0.1', 0]);
      run = python('asyncio_client.py', [String(portOf(server))]);
      yield* timeout(15_000, () => finished.wait());
      server.close();
      yield* server.waitClosed();
    });
    expect(await run.code).toBe(0);
    expect(JSON.parse(await run.stdout)).toEqual({ lines: ['alpha', 'beta', 'gamma'], hash_ok: true, rest: 'bye' });
  });

  it('talks to a Python asyncio server with openConnection', async () => {
    const run = python('asyncio_server.py', []);
    const port = Number(await run.firstLine);
    const got = await runIn(mode, function* () {
      const [r, w] = yield* openConnection(['127.0.0.1', port]);
      const lines: string[] = [];
      for (const word of ['hello', 'world']) {
        w.write(`${word}\n`);
        yield* w.drain();
        lines.push((yield* r.readline()).toString());
      }
      w.writeEof();
      lines.push((yield* r.readline()).toString());
      expect((yield* r.read()).length).toBe(0);
      w.close();
      yield* w.waitClosed();
      return lines;
    });
    expect(got).toEqual(['HELLO\n', 'WORLD\n', 'bye\n']);
    expect(await run.code).toBe(0);
  });
});
