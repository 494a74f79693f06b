// Socket operations on the loop: accept, connect, recv, sendall, their
// registrations with the selector, and a 50 MB echo.
import { createHash, randomBytes } from 'node:crypto';

import { describe, expect, it } from 'vitest';

import {
  ConnectionRefusedError, type Coro, EVENT_READ, EVENT_WRITE, EventLoop, getRunningLoop, OSError, run,
  Selector, sleep, Socket, socketpair, SO_SNDBUF, SOL_SOCKET,
} from '../../src/index.js';
import { listener, nonBlockingPair, tcpPair } from './support.js';

/**
 * A loop over a selector the test can inspect; both closed after `body`.
 * Readiness mode: these tests watch the selector's registrations.
 */
function withInspectableLoop<T>(body: (loop: EventLoop, selector: Selector) => T): T {
  const selector = new Selector();
  const loop = new EventLoop({ selector, io: 'selector' });
  try {
    return body(loop, selector);
  } finally {
    loop.close();
  }
}

describe('socket operations', () => {
  it('accepts, connects and moves bytes both ways over TCP loopback', () => {
    const got = run(function* () {
      const loop = getRunningLoop();
      const [client, server] = yield* tcpPair(loop);
      try {
        expect(server.getBlocking()).toBe(false);
        yield* loop.sockSendall(client, Buffer.from('ping'));
        const ping = yield* loop.sockRecv(server, 100);
        yield* loop.sockSendall(server, Buffer.from('pong'));
        const pong = yield* loop.sockRecv(client, 100);
        return [ping.toString(), pong.toString()];
      } finally {
        client.close();
        server.close();
      }
    });
    expect(got).toEqual(['ping', 'pong']);
  });

  it('waits in sockRecv until data arrives, and reports EOF as an empty Buffer and 0', () => {
    const got = run(function* () {
      const loop = getRunningLoop();
      const [a, b] = nonBlockingPair();
      try {
        loop.callLater(5, () => {
          b.send(Buffer.from('late'));
          b.shutdown(1);
        });
        const data = yield* loop.sockRecv(a, 100);
        const eof = yield* loop.sockRecv(a, 100);
        const eofInto = yield* loop.sockRecvInto(a, Buffer.alloc(10));
        return [data.toString(), eof.length, eofInto];
      } finally {
        a.close();
        b.close();
      }
    });
    expect(got).toEqual(['late', 0, 0]);
  });

  it('receives into a caller\'s buffer with sockRecvInto', () => {
    const got = run(function* () {
      const loop = getRunningLoop();
      const [a, b] = nonBlockingPair();
      try {
        const buf = Buffer.alloc(16);
        loop.callLater(2, () => b.send(Buffer.from('hello')));
        const n = yield* loop.sockRecvInto(a, buf);
        return buf.subarray(0, n).toString();
      } finally {
        a.close();
        b.close();
      }
    });
    expect(got).toBe('hello');
  });

  it('does not register a socket whose data is already there', () => {
    withInspectableLoop((loop, selector) => {
      const [a, b] = nonBlockingPair();
      try {
        b.send(Buffer.from('ready'));
        const data = loop.runUntilComplete(loop.sockRecv(a, 10));
        expect(data.toString()).toBe('ready');
        expect(selector.getMap()!.size).toBe(0);
      } finally {
        a.close();
        b.close();
      }
    });
  });

  it('watches for writability only while the kernel buffer is full, then drops the interest', () => {
    withInspectableLoop((loop, selector) => {
      const [a, b] = nonBlockingPair();
      try {
        a.setsockopt(SOL_SOCKET, SO_SNDBUF, 16384);
        const data = randomBytes(2 * 1024 * 1024);
        const seen: number[] = [];
        const reader = loop.createTask((function* (): Coro<number> {
          // While the writer is blocked: one key, write interest only.
          yield* sleep(5);
          seen.push(selector.getMap()!.get(a.fileno())?.events ?? 0);
          const buf = Buffer.alloc(65536);
          let total = 0;
          while (total < data.length) total += yield* loop.sockRecvInto(b, buf);
          return total;
        })());
        loop.runUntilComplete(loop.sockSendall(a, data));
        expect(loop.runUntilComplete(reader)).toBe(data.length);
        loop.runUntilComplete(sleep(0)); // one more iteration: the review before select
        expect(seen).toEqual([EVENT_WRITE]);
        expect(selector.getMap()!.size).toBe(0);
      } finally {
        a.close();
        b.close();
      }
    });
  });

  it('shares one registration between a reader and a writer on the same socket', () => {
    withInspectableLoop((loop, selector) => {
      const [a, b] = nonBlockingPair();
      try {
        a.setsockopt(SOL_SOCKET, SO_SNDBUF, 16384);
        const data = randomBytes(1024 * 1024);
        const reading = loop.createTask(loop.sockRecv(a, 10));
        const writing = loop.createTask(loop.sockSendall(a, data));
        loop.runUntilComplete(sleep(5));
        const map = selector.getMap()!;
        expect(map.size).toBe(1);
        expect(map.get(a.fileno())!.events).toBe(EVENT_READ | EVENT_WRITE);
        const peer = loop.createTask((function* (): Coro<void> {
          const buf = Buffer.alloc(65536);
          let total = 0;
          while (total < data.length) total += yield* loop.sockRecvInto(b, buf);
          yield* loop.sockSendall(b, Buffer.from('reply'));
        })());
        loop.runUntilComplete(writing);
        expect(loop.runUntilComplete(reading).toString()).toBe('reply');
        loop.runUntilComplete(peer);
        loop.runUntilComplete(sleep(0));
        expect(map.size).toBe(0);
      } finally {
        a.close();
        b.close();
      }
    });
  });

  it('removes the registration once a waiting task is cancelled', () => {
    withInspectableLoop((loop, selector) => {
      const [a, b] = nonBlockingPair();
      try {
        const reading = loop.createTask(loop.sockRecv(a, 10));
        loop.runUntilComplete(sleep(1));
        expect(selector.getMap()!.size).toBe(1);
        reading.cancel();
        loop.runUntilComplete(sleep(1));
        expect(reading.cancelled()).toBe(true);
        expect(selector.getMap()!.size).toBe(0);
      } finally {
        a.close();
        b.close();
      }
    });
  });

  it('wakes a task waiting on a socket that another task closes, with an error', () => {
    withInspectableLoop((loop, selector) => {
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
        expect(selector.getMap()!.size).toBe(0);
      } finally {
        a.close();
        b.close();
      }
    });
  });

  it('throws ConnectionRefusedError from sockConnect to a port nobody listens on', () => {
    const [server, port] = listener();
    server.close(); // the port is free now, and nothing listens on it
    const error = run(function* () {
      const sock = new Socket();
      sock.setBlocking(false);
      try {
        yield* getRunningLoop().sockConnect(sock, ['127.0.0.1', port]);
      } catch (caught) {
        return caught;
      } finally {
        sock.close();
      }
      return null;
    });
    expect(error).toBeInstanceOf(ConnectionRefusedError);
  });

  it('refuses to accept or connect on a blocking socket, which would block the loop', () => {
    const [server] = listener();
    server.setBlocking(true);
    const sock = new Socket();
    try {
      expect(() => run(function* () {
        return yield* getRunningLoop().sockAccept(server);
      })).toThrow(/non-blocking/);
      expect(() => run(function* () {
        yield* getRunningLoop().sockConnect(sock, ['127.0.0.1', 1]);
      })).toThrow(/non-blocking/);
    } finally {
      server.close();
      sock.close();
    }
  });

  it('refuses a second task reading the same socket at once', () => {
    withInspectableLoop((loop) => {
      const [a, b] = nonBlockingPair();
      try {
        const first = loop.createTask(loop.sockRecv(a, 10));
        const second = loop.createTask(loop.sockRecv(a, 10));
        expect(() => loop.runUntilComplete(second)).toThrow(/already has a task waiting to read/);
        first.cancel();
        expect(() => loop.runUntilComplete(first)).toThrow();
      } finally {
        a.close();
        b.close();
      }
    });
  });

  it('echoes 50 MB between a server and a client on the same loop without losing a byte', () => {
    const size = 50 * 1024 * 1024;
    const data = randomBytes(size);
    const sent = createHash('sha256').update(data).digest('hex');
    const started = performance.now();
    const [received, total] = run(function* () {
      const loop = getRunningLoop();
      const [server, port] = listener();
      const echo = function* (): Coro<void> {
        const [conn] = yield* loop.sockAccept(server);
        const buf = Buffer.allocUnsafe(65536);
        try {
          for (;;) {
            const n = yield* loop.sockRecvInto(conn, buf);
            if (n === 0) break;
            yield* loop.sockSendall(conn, buf.subarray(0, n));
          }
        } finally {
          conn.close();
        }
      };
      const client = new Socket();
      client.setBlocking(false);
      try {
        const serving = loop.createTask(echo());
        yield* loop.sockConnect(client, ['127.0.0.1', port]);
        const writer = loop.createTask((function* (): Coro<void> {
          for (let offset = 0; offset < size; offset += 1024 * 1024) {
            yield* loop.sockSendall(client, data.subarray(offset, offset + 1024 * 1024));
          }
          client.shutdown(1);
        })());
        const hash = createHash('sha256');
        const buf = Buffer.allocUnsafe(65536);
        let total = 0;
        for (;;) {
          const n = yield* loop.sockRecvInto(client, buf);
          if (n === 0) break;
          hash.update(buf.subarray(0, n));
          total += n;
        }
        yield* writer;
        yield* serving;
        return [hash.digest('hex'), total];
      } finally {
        client.close();
        server.close();
      }
    });
    expect(total).toBe(size);
    expect(received).toBe(sent);
    expect(performance.now() - started).toBeLessThan(15_000);
  });

  // sockRecv, sockRecvInto and sockSendall are iterators, not generators:
  // what yield* relies on must behave as a generator's would.
  describe('as coroutines driven by yield*', () => {
    it('reports bad arguments inside the task, where it is yield*-ed, not when called', () => {
      const [a, b] = nonBlockingPair();
      try {
        const errors = run(function* () {
          const loop = getRunningLoop();
          const ops = [loop.sockRecv(a, -1), loop.sockRecvInto(a, 'no' as never), loop.sockSendall(a, 42 as never)];
          const caught: unknown[] = [];
          for (const op of ops) {
            try {
              yield* op;
            } catch (error) {
              caught.push(error);
            }
          }
          return caught;
        });
        expect(errors.map((e) => (e as Error).constructor.name)).toEqual(['RangeError', 'TypeError', 'TypeError']);
        expect((errors[0] as Error).message).toMatch(/^n must be/);
        expect((errors[1] as Error).message).toMatch(/^buf must be/);
        expect((errors[2] as Error).message).toMatch(/^data must be/);
      } finally {
        a.close();
        b.close();
      }
    });

    it('delivers a cancellation at the pause to the caller\'s catch and finally, and the socket stays usable', () => {
      withInspectableLoop((loop, selector) => {
        const [a, b] = nonBlockingPair();
        try {
          const seen: string[] = [];
          const reader = loop.createTask((function* (): Coro<string> {
            try {
              yield* loop.sockRecv(a, 10);
              return 'not cancelled';
            } catch (error) {
              seen.push((error as Error).constructor.name);
            } finally {
              seen.push('finally');
            }
            // Swallowed the cancel: read again, on the same registration.
            return (yield* loop.sockRecv(a, 10)).toString();
          })());
          loop.runUntilComplete(sleep(1));
          reader.cancel();
          loop.callLater(5, () => b.send(Buffer.from('after')));
          expect(loop.runUntilComplete(reader)).toBe('after');
          expect(seen).toEqual(['CancelledError', 'finally']);
          loop.runUntilComplete(sleep(1));
          expect(selector.getMap()!.size).toBe(0);
        } finally {
          a.close();
          b.close();
        }
      });
    });

    it('is done after it finishes, fails or is thrown into, as a generator would be', () => {
      const [a, b] = nonBlockingPair();
      try {
        withInspectableLoop((loop) => {
          b.send(Buffer.from('x'));
          const op = loop.sockRecv(a, 10);
          const first = op.next();
          expect(first.done).toBe(true);
          expect((first.value as Buffer).toString()).toBe('x');
          expect(op.next()).toEqual({ done: true, value: undefined });

          // Nothing to read: it would park, and outside a task that is an error.
          const waiting = loop.sockRecvInto(a, Buffer.alloc(4));
          expect(() => waiting.next()).toThrow(/must run inside a task of this loop/);
          expect(waiting.next()).toEqual({ done: true, value: undefined });

          const thrownInto = loop.sockSendall(a, Buffer.from('y'));
          expect(() => thrownInto.throw(new Error('boom'))).toThrow('boom');
          expect(thrownInto.next()).toEqual({ done: true, value: undefined });
          expect(thrownInto.return(undefined)).toEqual({ done: true, value: undefined });
          // The op thrown into before its first step sent nothing.
          expect(() => b.recv(10)).toThrow(expect.objectContaining({ code: 'EAGAIN' }));
        });
      } finally {
        a.close();
        b.close();
      }
    });
  });
});
