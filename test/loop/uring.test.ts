// The loop's io_uring mode beyond what the whole loop suite checks under
// LOOP_IO=io_uring: choosing the mode, cancellation that loses no bytes,
// closing a socket with a request in flight, many requests at once, a big
// echo, and runAsync.
import { createHash, randomBytes } from 'node:crypto';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import {
  CancelledError, type Coro, EventLoop, getRunningLoop, ioUringAvailable, OSError, PollSelector, run, sleep,
  Socket, socketpair,
} from '../../src/index.js';
import { setUringMultishot } from '../../src/loop/uring-stream.js';
import { leakedSince, openFds } from '../support/fds.js';
import { bounded, listener, nonBlockingPair, tcpPair, withLoop } from './support.js';

const IO = 'io_uring' as const;

const withRingLoop = <T>(body: (loop: EventLoop) => T): T => withLoop(body, { io: IO });

describe('io_uring mode: choosing it', () => {
  it('reports whether it is available as a boolean, the same each time', () => {
    expect(typeof ioUringAvailable()).toBe('boolean');
    expect(ioUringAvailable()).toBe(ioUringAvailable());
    if (process.platform !== 'linux') expect(ioUringAvailable()).toBe(false);
  });

  it('refuses an unknown mode with a TypeError naming the option', () => {
    expect(() => new EventLoop({ io: 'aio' as never })).toThrow(/options\.io must be 'selector' or 'io_uring'/);
  });

  it.skipIf(ioUringAvailable())('throws an Error that says why where io_uring is unavailable', () => {
    expect(() => new EventLoop({ io: IO })).toThrow(/io: 'io_uring' is not available here: \S/);
    expect(() => run(function* () {}, { io: IO })).toThrow(/not available here/);
  });
});

// Where the kernel has multishot receive, once with it and once with one request per receive.
describe.runIf(ioUringAvailable()).each(['multishot', 'single-shot'])('io_uring mode (%s receives)', (receives) => {
  beforeAll(() => setUringMultishot(receives === 'multishot'));
  afterAll(() => setUringMultishot(true));

  it('says which mode a loop is in, read-only', () => {
    withRingLoop((loop) => {
      expect(loop.io).toBe('io_uring');
      expect(() => {
        (loop as unknown as { io: string }).io = 'selector';
      }).toThrow(TypeError);
    });
    const plain = new EventLoop({ io: 'selector' });
    expect(plain.io).toBe('selector');
    plain.close();
  });

  it('runs main with run(main, { io })', () => {
    expect(run(function* () {
      return getRunningLoop().io;
    }, { io: IO })).toBe('io_uring');
  });

  it('refuses a selector without a pollable fd, and closes nothing the caller owns', () => {
    const selector = new PollSelector();
    try {
      expect(() => new EventLoop({ io: IO, selector })).toThrow(/needs a selector with a pollable fd/);
      expect(selector.getMap()).not.toBeNull(); // still open: the caller's to close
    } finally {
      selector.close();
    }
  });

  it('keeps the bytes of a receive that completed before its task was cancelled', () => {
    withRingLoop((loop) => {
      const [a, b] = nonBlockingPair();
      bounded(loop, a);
      try {
        const reader = loop.createTask(loop.sockRecv(a, 100));
        loop.runUntilComplete(sleep(1)); // its request is in flight
        b.send(Buffer.from('first'));
        // Queued before the iteration whose enter reaps the completion, so
        // the cancel comes after the result and before the task sees it.
        loop.callSoon(() => reader.cancel());
        loop.runUntilComplete(sleep(1));
        expect(reader.cancelled()).toBe(true);
        b.send(Buffer.from('second'));
        const got = loop.runUntilComplete((function* (): Coro<string> {
          let text = '';
          while (text.length < 'firstsecond'.length) text += (yield* loop.sockRecv(a, 100)).toString();
          return text;
        })());
        expect(got).toBe('firstsecond');
      } finally {
        a.close();
        b.close();
      }
    });
  });

  it('loses no bytes when receives are cancelled at every point of their life', () => {
    withRingLoop((loop) => {
      const [a, b] = nonBlockingPair();
      bounded(loop, a);
      try {
        const data = randomBytes(64 * 1024);
        const got = loop.runUntilComplete((function* (): Coro<Buffer> {
          const chunks: Buffer[] = [];
          let received = 0;
          let sent = 0;
          for (let round = 0; received < data.length; round++) {
            // Feed a little, then read with a cancel at a varying point:
            // before the request is submitted, while it is in flight, after
            // it completed (the reader's result not yet taken).
            if (sent < data.length) {
              const n = Math.min(997, data.length - sent);
              b.send(data.subarray(sent, sent + n));
              sent += n;
            }
            const into = round % 2 === 0;
            const buf = Buffer.alloc(700);
            const reader = loop.createTask<number | Buffer>(into ? loop.sockRecvInto(a, buf) : loop.sockRecv(a, 700));
            const delay = round % 4;
            for (let i = 0; i < delay; i++) yield;
            reader.cancel();
            try {
              const result = yield* reader;
              const chunk = typeof result === 'number' ? Buffer.from(buf.subarray(0, result)) : result;
              chunks.push(chunk);
              received += chunk.length;
            } catch (error) {
              if (!(error instanceof CancelledError)) throw error;
            }
            if (round % 3 === 0 && received < data.length) {
              const chunk = yield* loop.sockRecv(a, 500);
              chunks.push(chunk);
              received += chunk.length;
            }
          }
          return Buffer.concat(chunks);
        })());
        expect(got.length).toBe(data.length);
        expect(got.equals(data)).toBe(true);
      } finally {
        a.close();
        b.close();
      }
    });
  });

  it('keeps a connection that an accept got before its task was cancelled', () => {
    withRingLoop((loop) => {
      const [server, port] = listener();
      bounded(loop, server);
      const clients: Socket[] = [];
      try {
        const accepting = loop.createTask(loop.sockAccept(server));
        loop.runUntilComplete(sleep(1));
        const client = new Socket();
        clients.push(client);
        client.connect(['127.0.0.1', port]);
        loop.callSoon(() => accepting.cancel());
        loop.runUntilComplete(sleep(1));
        expect(accepting.cancelled()).toBe(true);
        const [conn] = loop.runUntilComplete(loop.sockAccept(server));
        try {
          client.send(Buffer.from('hi'));
          expect(loop.runUntilComplete(loop.sockRecv(conn, 10)).toString()).toBe('hi');
        } finally {
          conn.close();
        }
      } finally {
        for (const client of clients) client.close();
        server.close();
      }
    });
  });

  it('wakes a task whose socket another task closes mid-request, with EBADF, and the request ends', () => {
    withRingLoop((loop) => {
      const [a, b] = nonBlockingPair();
      try {
        const reading = loop.createTask(loop.sockRecv(a, 10));
        loop.callLater(5, () => a.close());
        let error: unknown;
        try {
          loop.runUntilComplete(reading);
        } catch (caught) {
          error = caught;
        }
        expect(error).toBeInstanceOf(OSError);
        expect((error as OSError).code).toBe('EBADF');
        // The cancelled request completed: nothing keeps the loop waiting.
        expect(loop._uring!.waiting).toBe(0);
        loop.runUntilComplete(sleep(1));
      } finally {
        a.close();
        b.close();
      }
    });
  });

  it('wakes an accept whose listening socket is closed, with EBADF', () => {
    withRingLoop((loop) => {
      const [server] = listener();
      const accepting = loop.createTask(loop.sockAccept(server));
      loop.callLater(2, () => server.close());
      expect(() => loop.runUntilComplete(accepting)).toThrow(expect.objectContaining({ code: 'EBADF' }));
    });
  });

  it('counts a request once when its task is cancelled and its socket closed in the same turn', () => {
    withRingLoop((loop) => {
      const [server] = listener();
      const accepting = loop.createTask(loop.sockAccept(server));
      loop.runUntilComplete(sleep(1));
      accepting.cancel();
      server.close();
      expect(loop._uring!.waiting).toBe(0);
      loop.runUntilComplete(sleep(1));
      expect(accepting.cancelled()).toBe(true);
      expect(loop._uring!.waiting).toBe(0);
    });
  });

  it('closes a listener with an accept in flight at once: the next connect is refused', () => {
    withRingLoop((loop) => {
      const [server, port] = listener();
      const accepting = loop.createTask(loop.sockAccept(server));
      loop.runUntilComplete(sleep(1)); // the accept is in flight, holding the file
      server.close();
      const client = new Socket();
      try {
        expect(() => client.connect(['127.0.0.1', port])).toThrow(expect.objectContaining({ code: 'ECONNREFUSED' }));
      } finally {
        client.close();
      }
      expect(() => loop.runUntilComplete(accepting)).toThrow(expect.objectContaining({ code: 'EBADF' }));
    });
  });

  it('reads after a cancelled receive in the order the bytes came, waiting behind the cancel', () => {
    withRingLoop((loop) => {
      const [a, b] = nonBlockingPair();
      bounded(loop, a);
      try {
        const first = loop.createTask(loop.sockRecv(a, 100));
        loop.runUntilComplete(sleep(1));
        first.cancel();
        // In the same iteration: a new reader on the socket whose cancelled
        // request has not completed yet.
        const second = loop.createTask(loop.sockRecv(a, 100));
        b.send(Buffer.from('one'));
        expect(loop.runUntilComplete(second).toString()).toBe('one');
        expect(first.cancelled()).toBe(true);
      } finally {
        a.close();
        b.close();
      }
    });
  });

  it('lets the garbage collector close a socket dropped without close() after the ring used it', async () => {
    const gc = (globalThis as { gc?: () => void }).gc!;
    const loop = new EventLoop({ io: IO });
    const before = openFds();
    const warnings: Error[] = [];
    const onWarning = (warning: Error): void => {
      if (/unclosed Socket/.test(warning.message)) warnings.push(warning);
    };
    process.on('warning', onWarning);
    try {
      // Both ends go through the ring (a receive and a send each), then are dropped.
      (() => {
        const [a, b] = nonBlockingPair();
        loop.runUntilComplete((function* (): Coro<void> {
          const reading = loop.createTask(loop.sockRecv(a, 10));
          yield* loop.sockSendall(b, Buffer.from('x'));
          expect((yield* reading).toString()).toBe('x');
          const back = loop.createTask(loop.sockRecv(b, 10));
          yield* loop.sockSendall(a, Buffer.from('y'));
          expect((yield* back).toString()).toBe('y');
        })());
      })();
      expect(leakedSince(before).length).toBe(2);
      for (let i = 0; i < 50 && leakedSince(before).length > 0; i++) {
        gc();
        await new Promise((resolve) => setImmediate(resolve));
      }
      expect(leakedSince(before)).toEqual([]);
      expect(warnings.length).toBe(2);
      // The loop goes on working.
      const [c, d] = nonBlockingPair();
      try {
        d.send(Buffer.from('z'));
        expect(loop.runUntilComplete(loop.sockRecv(c, 10)).toString()).toBe('z');
      } finally {
        c.close();
        d.close();
      }
    } finally {
      process.off('warning', onWarning);
      loop.close();
    }
  });

  it('runs many requests at once, more than one submission batch holds', () => {
    withRingLoop((loop) => {
      const pairs: Array<[Socket, Socket]> = [];
      try {
        for (let i = 0; i < 700; i++) pairs.push(nonBlockingPair());
        const total = loop.runUntilComplete((function* (): Coro<number> {
          // 700 receives and 700 sends queued in one iteration: 1400 requests.
          const readers = pairs.map(([a]) => loop.createTask(loop.sockRecv(a, 64)));
          const writers = pairs.map(([, b], i) => loop.createTask(loop.sockSendall(b, Buffer.from(`msg ${i}`))));
          let sum = 0;
          for (const [i, reader] of readers.entries()) {
            const got = yield* reader;
            expect(got.toString()).toBe(`msg ${i}`);
            sum += got.length;
          }
          for (const writer of writers) yield* writer;
          return sum;
        })());
        expect(total).toBe(pairs.reduce((n, _p, i) => n + `msg ${i}`.length, 0));
      } finally {
        for (const [a, b] of pairs) {
          a.close();
          b.close();
        }
      }
    });
  });

  it('echoes 50 MB over TCP loopback without losing a byte (checked by hash)', () => {
    const data = randomBytes(50 * 1024 * 1024);
    const digest = run(function* () {
      const loop = getRunningLoop();
      const [client, server] = yield* tcpPair(loop);
      try {
        const echo = loop.createTask((function* (): Coro<void> {
          for (;;) {
            const chunk = yield* loop.sockRecv(server, 65536);
            if (chunk.length === 0) {
              server.shutdown(1); // EOF for the client's reads in turn
              return;
            }
            yield* loop.sockSendall(server, chunk);
          }
        })());
        const sender = loop.createTask((function* (): Coro<void> {
          yield* loop.sockSendall(client, data);
          client.shutdown(1);
        })());
        const hash = createHash('sha256');
        const buf = Buffer.alloc(256 * 1024);
        let total = 0;
        for (;;) {
          const n = yield* loop.sockRecvInto(client, buf);
          if (n === 0) break;
          hash.update(buf.subarray(0, n));
          total += n;
        }
        yield* sender;
        yield* echo;
        expect(total).toBe(data.length);
        return hash.digest('hex');
      } finally {
        client.close();
        server.close();
      }
    }, { io: IO });
    expect(digest).toBe(createHash('sha256').update(data).digest('hex'));
  });

  it('runs under runAsync beside Node\'s own timers, woken by the ring', async () => {
    const loop = new EventLoop({ io: IO });
    const [a, b] = nonBlockingPair();
    try {
      let nodeTimerFired = false;
      setTimeout(() => {
        nodeTimerFired = true;
        b.send(Buffer.from('from node'));
      }, 20);
      const got = await loop.runAsync((function* (): Coro<string> {
        const data = yield* loop.sockRecv(a, 100);
        yield* sleep(1);
        return data.toString();
      })());
      expect(got).toBe('from node');
      expect(nodeTimerFired).toBe(true);
    } finally {
      a.close();
      b.close();
      loop.close();
    }
  });
});

describe.runIf(ioUringAvailable())('io_uring mode in worker threads', () => {
  it('gives each worker\'s loop a ring of its own', async () => {
    const { tsWorker } = await import('../support/workers.js');
    const run = (id: number): Promise<unknown> => new Promise((resolve, reject) => {
      const worker = tsWorker(new URL('./fixtures/uring-worker.ts', import.meta.url), { id });
      worker.once('message', resolve);
      worker.once('error', reject);
      worker.once('exit', (code) => code !== 0 && reject(new Error(`worker exited with ${code}`)));
    });
    expect(await Promise.all([run(1), run(2)])).toEqual(['ping 1', 'ping 2']);
  });
});
