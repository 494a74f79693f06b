// loop.sockSendfile(): a file to a stream socket by sendfile(2), or by pread
// and send where sendfile is refused (forced here, to prove that path on
// Linux too), as CPython's test_sock_lowlevel.py and test_sendfile.py check
// sock_sendfile: whole files, offset and count, the file's own offset left
// alone, bad arguments, and a cancelled send that loses and repeats nothing.
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, readSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, afterEach, describe, expect, it } from 'vitest';

import {
  AF_INET, CancelledError, type Coro, errno, type EventLoop, OSError, SHUT_WR, SOCK_DGRAM, SOCK_STREAM, sleep,
  Socket, socketpair,
} from '../../src/index.js';
import { trySendfile } from '../../src/loop-interface.js';
import { setSendfileFallback } from '../../src/loop/sendfile.js';
import { tcpPair } from './support.js';
import { RUN_TABLE, runOn } from './surface-support.js';

const dir = mkdtempSync(join(tmpdir(), 'ns-sendfile-'));
const BIG = randomBytes(10 * 1024 * 1024);
const SMALL = randomBytes(300 * 1024 + 7);
const bigPath = join(dir, 'big');
const smallPath = join(dir, 'small');
writeFileSync(bigPath, BIG);
writeFileSync(smallPath, SMALL);

afterAll(() => rmSync(dir, { recursive: true, force: true }));
afterEach(() => setSendfileFallback(false));

const sha = (data: Uint8Array): string => createHash('sha256').update(data).digest('hex');

/** Reads `sock` to EOF: the bytes' sha256 and count. */
function* collect(loop: EventLoop, sock: Socket): Coro<[string, number]> {
  const hash = createHash('sha256');
  let total = 0;
  for (;;) {
    const data = yield* loop.sockRecv(sock, 256 * 1024);
    if (data.length === 0) return [hash.digest('hex'), total];
    hash.update(data);
    total += data.length;
  }
}

/** Sends file `path` (offset, count) over TCP loopback; what sockSendfile returned and what the peer got. */
function* sendOver(loop: EventLoop, path: string, offset?: number, count?: number | null): Coro<[number, string, number]> {
  const [client, server] = yield* tcpPair(loop);
  const fd = openSync(path, 'r');
  try {
    const receiving = loop.createTask(collect(loop, server));
    const sent = yield* loop.sockSendfile(client, fd, offset, count);
    client.shutdown(SHUT_WR);
    const [digest, total] = yield* receiving;
    return [sent, digest, total];
  } finally {
    closeSync(fd);
    client.close();
    server.close();
  }
}

const PATHS = [['sendfile(2)', false], ['read and send', true]] as const;

describe.each(RUN_TABLE)('sockSendfile (%s)', (_name, run) => {
  describe.each(PATHS)('by %s', (_path, fallback) => {
    it('sends a 10 MB file whole, byte for byte', async () => {
      setSendfileFallback(fallback);
      const [sent, digest, total] = await runOn(run, (loop) => sendOver(loop, bigPath));
      expect(sent).toBe(BIG.length);
      expect(total).toBe(BIG.length);
      expect(digest).toBe(sha(BIG));
    });

    it('sends count bytes from offset, and stops at the end of the file', async () => {
      setSendfileFallback(fallback);
      const cases: Array<[number, number | null, Buffer]> = [
        [0, 100, SMALL.subarray(0, 100)],
        [1000, null, SMALL.subarray(1000)],
        [SMALL.length - 10, 100, SMALL.subarray(SMALL.length - 10)],
        [12345, 200000, SMALL.subarray(12345, 212345)],
        [SMALL.length, null, Buffer.alloc(0)],
        [SMALL.length + 5, 10, Buffer.alloc(0)],
      ];
      const results = await runOn(run, function* (loop) {
        const out: Array<[number, string, number]> = [];
        for (const [offset, count] of cases) out.push(yield* sendOver(loop, smallPath, offset, count));
        return out;
      });
      expect(results).toEqual(cases.map(([, , want]) => [want.length, sha(want), want.length]));
    });

    it('keeps its bytes in order between ordinary sends on the same socket', async () => {
      setSendfileFallback(fallback);
      const fd = openSync(smallPath, 'r');
      try {
        const [digest, total] = await runOn(run, function* (loop) {
          const [client, server] = yield* tcpPair(loop);
          try {
            const receiving = loop.createTask(collect(loop, server));
            yield* loop.sockSendall(client, Buffer.from('head'));
            yield* loop.sockSendfile(client, fd);
            yield* loop.sockSendall(client, Buffer.from('tail'));
            client.shutdown(SHUT_WR);
            return yield* receiving;
          } finally {
            client.close();
            server.close();
          }
        });
        const want = Buffer.concat([Buffer.from('head'), SMALL, Buffer.from('tail')]);
        expect([digest, total]).toEqual([sha(want), want.length]);
      } finally {
        closeSync(fd);
      }
    });

    it('leaves the file\'s own offset where it was', async () => {
      setSendfileFallback(fallback);
      const fd = openSync(smallPath, 'r');
      try {
        const head = Buffer.alloc(3);
        readSync(fd, head, 0, 3, null); // the file offset is now 3
        const sent = await runOn(run, function* (loop) {
          const [client, server] = yield* tcpPair(loop);
          try {
            const receiving = loop.createTask(collect(loop, server));
            const n = yield* loop.sockSendfile(client, fd, 100, 5000);
            client.shutdown(SHUT_WR);
            yield* receiving;
            return n;
          } finally {
            client.close();
            server.close();
          }
        });
        expect(sent).toBe(5000);
        const next = Buffer.alloc(3);
        readSync(fd, next, 0, 3, null);
        expect(next).toEqual(SMALL.subarray(3, 6));
      } finally {
        closeSync(fd);
      }
    });

    it('loses and repeats no byte when cancelled while waiting for room', async () => {
      setSendfileFallback(fallback);
      // A Unix stream pair: what a send took is in the peer's queue at once,
      // so after the cancel the peer can read exactly what was sent.
      const [a, b] = socketpair();
      a.setBlocking(false);
      b.setBlocking(false);
      const fd = openSync(bigPath, 'r');
      try {
        const [prefixOk, cancelled, digest, total] = await runOn(run, function* (loop) {
          const sending = loop.createTask(loop.sockSendfile(a, fd));
          while (loop._io.lookup(a, a.fileno())?.writer == null) yield* sleep(0); // parked: the peer's queue is full
          sending.cancel();
          let wasCancelled = false;
          try {
            yield* sending;
          } catch (error) {
            wasCancelled = error instanceof CancelledError;
          }
          const parts: Buffer[] = [];
          for (;;) {
            try {
              parts.push(b.recv(256 * 1024));
            } catch {
              break; // empty: BlockingIOError
            }
          }
          const first = Buffer.concat(parts);
          const receiving = loop.createTask(collect(loop, b));
          yield* loop.sockSendfile(a, fd, first.length);
          a.shutdown(SHUT_WR);
          const [rest, restTotal] = yield* receiving;
          const whole = createHash('sha256').update(first);
          // collect() hashed the rest alone: check it against the file's tail.
          return [
            first.equals(BIG.subarray(0, first.length)) && first.length > 0 && first.length < BIG.length,
            wasCancelled,
            rest === sha(BIG.subarray(first.length)) ? whole.update(BIG.subarray(first.length)).digest('hex') : rest,
            first.length + restTotal,
          ];
        });
        expect(prefixOk).toBe(true);
        expect(cancelled).toBe(true);
        expect(digest).toBe(sha(BIG));
        expect(total).toBe(BIG.length);
      } finally {
        closeSync(fd);
        a.close();
        b.close();
      }
    });
  });
});

describe.runIf(process.platform === 'linux')('sendfile(2) itself', () => {
  it('sends from the given offset, and refuses a source it cannot read with an errno the op falls back on', () => {
    const [a, b] = socketpair();
    const fd = openSync(smallPath, 'r');
    try {
      b.setBlocking(false);
      expect(trySendfile(a.fileno(), fd, 10, 5)).toBe(5);
      expect(b.recv(100)).toEqual(SMALL.subarray(10, 15));
      // A socket as the "file": not something sendfile reads from.
      expect([-errno.EINVAL!, -errno.ESPIPE!]).toContain(trySendfile(a.fileno(), b.fileno(), 0, 5));
    } finally {
      closeSync(fd);
      a.close();
      b.close();
    }
  });
});

describe('sockSendfile: bad arguments', () => {
  it('rejects them with typed errors naming them', async () => {
    const fd = openSync(smallPath, 'r');
    const udp = new Socket(AF_INET, SOCK_DGRAM);
    const blocking = new Socket(AF_INET, SOCK_STREAM);
    try {
      udp.setBlocking(false);
      const errors = await runOn(RUN_TABLE[0]![1], function* (loop) {
        const [client, server] = yield* tcpPair(loop);
        const attempts: Array<() => Coro<unknown>> = [
          () => loop.sockSendfile(client, -1),
          () => loop.sockSendfile(client, 'fd' as never),
          () => loop.sockSendfile(client, fd, -1),
          () => loop.sockSendfile(client, fd, 1.5),
          () => loop.sockSendfile(client, fd, '0' as never),
          () => loop.sockSendfile(client, fd, 0, 0),
          () => loop.sockSendfile(client, fd, 0, '5' as never),
          () => loop.sockSendfile(udp, fd),
          () => loop.sockSendfile(blocking, fd),
          () => loop.sockSendfile({} as never, fd),
        ];
        const out: unknown[] = [];
        try {
          for (const attempt of attempts) {
            try {
              yield* attempt();
              out.push('no error');
            } catch (error) {
              out.push(error);
            }
          }
        } finally {
          client.close();
          server.close();
        }
        return out;
      });
      const expected: Array<[new (...args: never[]) => Error, RegExp]> = [
        [RangeError, /\bfd\b/], [TypeError, /\bfd\b/], [RangeError, /offset/], [RangeError, /offset/],
        [TypeError, /offset/], [RangeError, /count/], [TypeError, /count/], [TypeError, /SOCK_STREAM/],
        [Error, /non-blocking/], [TypeError, /sock/],
      ];
      expect(errors).toHaveLength(expected.length);
      expected.forEach(([cls, pattern], i) => {
        expect(errors[i], `attempt ${i}`).toBeInstanceOf(cls);
        expect(String(errors[i]), `attempt ${i}`).toMatch(pattern);
      });
    } finally {
      closeSync(fd);
      udp.close();
      blocking.close();
    }
  });

  it('reports a file fd that is not open as OSError EBADF', async () => {
    for (const fallback of [false, true]) {
      setSendfileFallback(fallback);
      const fd = 999_999; // far above any fd this process has open
      const error = await runOn(RUN_TABLE[0]![1], function* (loop) {
        const [client, server] = yield* tcpPair(loop);
        try {
          yield* loop.sockSendfile(client, fd);
          return null;
        } catch (e) {
          return e;
        } finally {
          client.close();
          server.close();
        }
      });
      expect(error).toBeInstanceOf(OSError);
      expect((error as OSError).code).toBe('EBADF');
    }
  });
});
