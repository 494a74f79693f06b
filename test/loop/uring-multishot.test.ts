// The io_uring mode's multishot receive over provided buffers: bytes that
// arrive while no task reads are kept in order, bounded per socket, and
// neither cancellation nor close loses bytes or leaks buffers.
import { createHash, randomBytes } from 'node:crypto';

import { describe, expect, it } from 'vitest';

import {
  AF_INET, type Coro, Event, EventLoop, ioUringAvailable, MSG_PEEK, OSError, SOCK_DGRAM, sleep, Socket, socketpair,
} from '../../src/index.js';

import { bounded, nonBlockingPair, withLoop } from './support.js';

const withStreamLoop = <T>(body: (loop: EventLoop) => T): T => withLoop(body, { io: 'io_uring' });

// The kernels without multishot receive use one request per read (uring.test.ts).
const multishot = ioUringAvailable() && (() => {
  const loop = new EventLoop({ io: 'io_uring' });
  const on = loop._uring!.pool !== null;
  loop.close();
  return on;
})();

describe.runIf(multishot)('io_uring mode: multishot receive', () => {
  it('keeps bytes that arrive while no task reads, in order, at most n per read', () => {
    withStreamLoop((loop) => {
      const [a, b] = nonBlockingPair();
      bounded(loop, a, b);
      try {
        const text = loop.runUntilComplete((function* (): Coro<string> {
          b.send(Buffer.from('0'));
          let got = (yield* loop.sockRecv(a, 1)).toString(); // armed from here on
          for (const part of ['ab', 'cde', 'fghi']) {
            b.send(Buffer.from(part));
            yield* sleep(1); // delivered and queued: nobody reads
          }
          expect(loop._uring!.buffersHeld).toBeGreaterThan(0);
          for (;;) {
            const chunk = yield* loop.sockRecv(a, 2);
            expect(chunk.length).toBeLessThanOrEqual(2);
            got += chunk.toString();
            if (got.length === 10) return got;
          }
        })());
        expect(text).toBe('0abcdefghi');
        expect(loop._uring!.buffersHeld).toBe(0);
      } finally {
        a.close();
        b.close();
      }
    });
  });

  it('fills the caller\'s buffer with sockRecvInto from bytes queued across several completions', () => {
    withStreamLoop((loop) => {
      const [a, b] = nonBlockingPair();
      bounded(loop, a, b);
      try {
        const got = loop.runUntilComplete((function* (): Coro<string> {
          b.send(Buffer.from('x'));
          yield* loop.sockRecv(a, 1);
          for (const part of ['one', 'two', 'three']) {
            b.send(Buffer.from(part));
            yield* sleep(1);
          }
          const buf = Buffer.alloc(100);
          const n = yield* loop.sockRecvInto(a, buf);
          return buf.subarray(0, n).toString();
        })());
        expect(got).toBe('onetwothree');
      } finally {
        a.close();
        b.close();
      }
    });
  });

  it('stops taking bytes from a flooding peer nobody reads, then delivers them all in order', () => {
    withStreamLoop((loop) => {
      const [a, b] = nonBlockingPair();
      const data = randomBytes(4 * 1024 * 1024);
      bounded(loop, a, b);
      try {
        const digest = loop.runUntilComplete((function* (): Coro<string> {
          const sender = loop.createTask(loop.sockSendall(b, data));
          const hash = createHash('sha256');
          const first = yield* loop.sockRecv(a, 1000);
          hash.update(first);
          let received = first.length;
          // Nobody reads for a while: the ring holds a bounded amount, the
          // rest waits in the kernel (and the sender waits for room).
          for (let i = 0; i < 20; i++) yield* sleep(1);
          const ring = loop._uring!;
          expect(ring.buffersHeld * ring.bufferSize).toBeLessThanOrEqual(512 * 1024);
          expect(sender.done()).toBe(false);
          while (received < data.length) {
            const chunk = yield* loop.sockRecv(a, 65536);
            hash.update(chunk);
            received += chunk.length;
          }
          yield* sender;
          return hash.digest('hex');
        })());
        expect(digest).toBe(createHash('sha256').update(data).digest('hex'));
        expect(loop._uring!.buffersHeld).toBe(0);
      } finally {
        a.close();
        b.close();
      }
    });
  });

  it('leaves the bytes a cancelled reader was woken for to the next reader', () => {
    withStreamLoop((loop) => {
      const [a, b] = nonBlockingPair();
      bounded(loop, a, b);
      try {
        const got = loop.runUntilComplete((function* (): Coro<string> {
          const first = loop.createTask(loop.sockRecv(a, 100));
          yield* sleep(1); // waiting, the request armed
          b.send(Buffer.from('kept'));
          // Runs before the iteration that delivers the bytes and wakes it.
          loop.callSoon(() => first.cancel());
          yield* sleep(1);
          expect(first.cancelled()).toBe(true);
          b.send(Buffer.from('+more'));
          let text = '';
          while (text.length < 'kept+more'.length) text += (yield* loop.sockRecv(a, 100)).toString();
          return text;
        })());
        expect(got).toBe('kept+more');
      } finally {
        a.close();
        b.close();
      }
    });
  });

  it('gives every held buffer back when a socket with unread bytes is closed, and wakes its reader with EBADF', () => {
    withStreamLoop((loop) => {
      const [a, b] = nonBlockingPair();
      const [c, d] = nonBlockingPair();
      try {
        loop.runUntilComplete((function* (): Coro<void> {
          b.send(Buffer.from('x'));
          yield* loop.sockRecv(a, 1);
          b.send(Buffer.alloc(30_000, 7));
          yield* sleep(2);
          expect(loop._uring!.buffersHeld).toBeGreaterThan(0);
          // A second socket's reader waits while the first closes.
          const waiting = loop.createTask(loop.sockRecv(c, 10));
          yield* sleep(1);
          a.close();
          expect(loop._uring!.buffersHeld).toBe(0);
          c.close();
          let error: unknown;
          try {
            yield* waiting;
          } catch (caught) {
            error = caught;
          }
          expect(error).toBeInstanceOf(OSError);
          expect((error as OSError).code).toBe('EBADF');
          // Their requests ended: nothing is waiting, and the buffers serve others.
          yield* sleep(1);
          expect(loop._uring!.waiting).toBe(0);
        })());
        const [e, f] = nonBlockingPair();
        try {
          f.send(Buffer.from('after'));
          expect(loop.runUntilComplete(loop.sockRecv(e, 10)).toString()).toBe('after');
        } finally {
          e.close();
          f.close();
        }
      } finally {
        a.close();
        b.close();
        c.close();
        d.close();
      }
    });
  });

  it('lets the peer see the close of a socket whose request was armed (no file kept open by the ring)', () => {
    withStreamLoop((loop) => {
      const [a, b] = nonBlockingPair();
      bounded(loop, a, b);
      try {
        loop.runUntilComplete((function* (): Coro<void> {
          b.send(Buffer.from('x'));
          yield* loop.sockRecv(a, 1); // armed, no reader now
          a.close();
          expect((yield* loop.sockRecv(b, 10)).length).toBe(0); // EOF
        })());
      } finally {
        a.close();
        b.close();
      }
    });
  });

  it('gives bytes read ahead to the socket\'s own recv, recvInto (also MSG_PEEK) and recvfrom first, in order', () => {
    withStreamLoop((loop) => {
      const [a, b] = nonBlockingPair();
      bounded(loop, a, b);
      try {
        loop.runUntilComplete((function* (): Coro<void> {
          b.send(Buffer.from('0'));
          yield* loop.sockRecv(a, 1); // armed from here on
          b.send(Buffer.from('abcdefgh'));
          yield* sleep(1); // read ahead into the ring: the kernel holds nothing now
          expect(loop._uring!.buffersHeld).toBeGreaterThan(0);
        })());
        const peek = Buffer.alloc(3);
        expect(a.recvInto(peek, 0, MSG_PEEK)).toBe(3);
        expect(peek.toString()).toBe('abc');
        expect(a.recv(2).toString()).toBe('ab');
        const into = Buffer.alloc(3);
        expect(a.recvInto(into)).toBe(3);
        expect(into.toString()).toBe('cde');
        expect(a.recvfrom(100)[0].toString()).toBe('fgh');
        expect(loop._uring!.buffersHeld).toBe(0);
        b.send(Buffer.from('ij')); // then the kernel's bytes, as before
        expect(a.recv(100).toString()).toBe('ij');
      } finally {
        a.close();
        b.close();
      }
    });
  });

  it('leaves bytes read ahead readable by the socket after its loop is closed', () => {
    const [a, b] = nonBlockingPair();
    try {
      withStreamLoop((loop) => {
        loop.runUntilComplete((function* (): Coro<void> {
          b.send(Buffer.from('0'));
          yield* loop.sockRecv(a, 1);
          b.send(Buffer.from('kept'));
          yield* sleep(1);
          expect(loop._uring!.buffersHeld).toBeGreaterThan(0);
        })());
      });
      expect(a.recv(100).toString()).toBe('kept');
    } finally {
      a.close();
      b.close();
    }
  });

  it('runs an addReader callback for bytes read ahead before it was added, then for the kernel\'s, losing none', () => {
    withStreamLoop((loop) => {
      const [a, b] = nonBlockingPair();
      bounded(loop, a, b);
      try {
        const got = loop.runUntilComplete((function* (): Coro<string> {
          b.send(Buffer.from('0'));
          yield* loop.sockRecv(a, 1);
          b.send(Buffer.from('abcdef'));
          yield* sleep(1);
          expect(loop._uring!.buffersHeld).toBeGreaterThan(0);
          let text = '';
          const done = new Event();
          loop.addReader(a, () => {
            const chunk = a.recv(2); // small reads: the callback must come back while bytes wait
            text += chunk.toString();
            if (text === 'abcdef') b.send(Buffer.from('ghi'));
            if (text.length === 9) {
              loop.removeReader(a);
              done.set();
            }
          });
          yield* done.wait();
          return text;
        })());
        expect(got).toBe('abcdefghi');
        expect(loop._uring!.buffersHeld).toBe(0);
      } finally {
        a.close();
        b.close();
      }
    });
  });

  it('hands bytes read ahead to an addReader callback under runAsync too, inside Node\'s own loop', async () => {
    const loop = new EventLoop({ io: 'io_uring' });
    const [a, b] = nonBlockingPair();
    bounded(loop, a, b);
    try {
      const got = await loop.runAsync((function* (): Coro<string> {
        b.send(Buffer.from('0'));
        yield* loop.sockRecv(a, 1);
        b.send(Buffer.from('abcdef'));
        yield* sleep(1);
        expect(loop._uring!.buffersHeld).toBeGreaterThan(0);
        let text = '';
        const done = new Event();
        loop.addReader(a, () => {
          text += a.recv(2).toString();
          if (text === 'abcdef') b.send(Buffer.from('ghi'));
          if (text.length === 9) {
            loop.removeReader(a);
            done.set();
          }
        });
        yield* done.wait();
        return text;
      })());
      expect(got).toBe('abcdefghi');
      expect(loop._uring!.buffersHeld).toBe(0);
    } finally {
      a.close();
      b.close();
      loop.close();
    }
  });

  it('keeps the order when sockRecvInto into a big buffer switches a socket from read-ahead to reading straight into it', () => {
    withStreamLoop((loop) => {
      const [a, b] = nonBlockingPair();
      bounded(loop, a, b);
      try {
        const payload = randomBytes(300 * 1024);
        const got = loop.runUntilComplete((function* (): Coro<Buffer> {
          b.send(Buffer.from('0'));
          yield* loop.sockRecv(a, 1); // armed: what follows is read ahead
          b.send(Buffer.from('abc'));
          yield* sleep(1);
          expect(loop._uring!.buffersHeld).toBeGreaterThan(0);
          const sender = loop.createTask(loop.sockSendall(b, payload));
          const parts: Buffer[] = [];
          const buf = Buffer.alloc(64 * 1024);
          let total = 0;
          while (total < 3 + payload.length) {
            const n = yield* loop.sockRecvInto(a, buf);
            parts.push(Buffer.from(buf.subarray(0, n)));
            total += n;
          }
          yield* sender;
          return Buffer.concat(parts);
        })());
        expect(got.subarray(0, 3).toString()).toBe('abc');
        expect(createHash('sha256').update(got.subarray(3)).digest('hex'))
          .toBe(createHash('sha256').update(payload).digest('hex'));
        expect(loop._uring!.buffersHeld).toBe(0);
      } finally {
        a.close();
        b.close();
      }
    });
  });

  it('receives datagrams one whole datagram per read, even larger than a provided buffer', () => {
    withStreamLoop((loop) => {
      const a = new Socket(AF_INET, SOCK_DGRAM);
      const b = new Socket(AF_INET, SOCK_DGRAM);
      try {
        a.bind(['127.0.0.1', 0]);
        a.setBlocking(false);
        b.connect(a.getsockname());
        bounded(loop, a, b);
        const big = randomBytes(loop._uring!.bufferSize * 2 + 10);
        const got = loop.runUntilComplete((function* (): Coro<Buffer[]> {
          b.send(Buffer.from('one'));
          const first = yield* loop.sockRecv(a, 65536);
          b.send(big);
          b.send(Buffer.from('two'));
          yield* sleep(1);
          return [first, yield* loop.sockRecv(a, 65536), yield* loop.sockRecv(a, 65536)];
        })());
        expect(got.map((d) => d.length)).toEqual([3, big.length, 3]);
        expect(got[1]!.equals(big)).toBe(true);
      } finally {
        a.close();
        b.close();
      }
    });
  });

  for (const how of ['exit', 'terminate'] as const) {
    it(`ends a worker (${how}) whose ring holds buffers with unread bytes cleanly`, async () => {
      const { tsWorker } = await import('../support/workers.js');
      const worker = tsWorker(new URL('./fixtures/uring-stream-worker.ts', import.meta.url), { how });
      const held = await new Promise<number>((resolve, reject) => {
        worker.once('message', resolve);
        worker.once('error', reject);
      });
      expect(held).toBeGreaterThan(0);
      if (how === 'terminate') await worker.terminate();
      const code = await new Promise<number>((resolve) => {
        if (worker.threadId === -1) resolve(how === 'terminate' ? 1 : 0);
        else worker.once('exit', resolve);
      });
      expect(code).toBe(how === 'terminate' ? 1 : 0);
    });
  }
});
