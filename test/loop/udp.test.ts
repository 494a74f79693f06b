// UDP (and Unix datagram) sockets on the loop: sockRecvfrom,
// sockRecvfromInto and sockSendto, as CPython's test_sock_lowlevel.py checks
// sock_recvfrom, sock_recvfrom_into and sock_sendto (including a sendto that
// must wait for room), on every backend and in both run modes.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import {
  type AddressFamily,
  AF_INET, AF_INET6, AF_UNIX, CancelledError, type Coro, SOCK_DGRAM, sleep, Socket,
} from '../../src/index.js';
import { RUN_TABLE, runOn } from './surface-support.js';

const dir = mkdtempSync(join(tmpdir(), 'ns-udp-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const open: Socket[] = [];
function udp(family: AddressFamily<'AF_INET' | 'AF_INET6'> = AF_INET, host = '127.0.0.1'): [Socket, [string, number]] {
  const sock = new Socket(family, SOCK_DGRAM);
  open.push(sock);
  sock.setBlocking(false);
  sock.bind([host, 0]);
  return [sock, sock.getsockname() as [string, number]];
}
function closeAll(): void {
  for (const s of open.splice(0)) s.close();
}

describe.each(RUN_TABLE)('datagrams on the loop (%s)', (_name, run) => {
  it('sends with sockSendto and receives the datagram and its sender with sockRecvfrom', async () => {
    try {
      const [a, aAddr] = udp();
      const [b, bAddr] = udp();
      const got = await runOn(run, function* (loop) {
        const n = yield* loop.sockSendto(a, Buffer.from('ping'), bAddr);
        const [data, from] = yield* loop.sockRecvfrom(b, 100);
        yield* loop.sockSendto(b, Buffer.from('pong'), from as [string, number]);
        const [reply, replyFrom] = yield* loop.sockRecvfrom(a, 100);
        return [n, data.toString(), from, reply.toString(), replyFrom];
      });
      expect(got).toEqual([4, 'ping', aAddr, 'pong', bAddr]);
    } finally {
      closeAll();
    }
  });

  it('waits in sockRecvfrom until a datagram arrives', async () => {
    try {
      const [a] = udp();
      const [b, bAddr] = udp();
      const got = await runOn(run, function* (loop) {
        loop.callLater(10, () => a.sendto(Buffer.from('late'), bAddr));
        const [data] = yield* loop.sockRecvfrom(b, 100);
        return data.toString();
      });
      expect(got).toBe('late');
    } finally {
      closeAll();
    }
  });

  it('receives into a buffer with sockRecvfromInto, up to nbytes, dropping the rest of the datagram', async () => {
    try {
      const [a, aAddr] = udp();
      const [b, bAddr] = udp();
      const got = await runOn(run, function* (loop) {
        const buf = Buffer.alloc(8);
        a.sendto(Buffer.from('0123456789'), bAddr);
        a.sendto(Buffer.from('abcdefghij'), bAddr);
        const [n1, from] = yield* loop.sockRecvfromInto(b, buf, 4);
        const first = buf.toString('latin1', 0, n1);
        const [n2] = yield* loop.sockRecvfromInto(b, buf);
        return [n1, first, from, n2, buf.toString('latin1', 0, n2)];
      });
      expect(got).toEqual([4, '0123', aAddr, 8, 'abcdefgh']);
    } finally {
      closeAll();
    }
  });

  it('truncates a datagram longer than n in sockRecvfrom, and keeps the next one whole', async () => {
    try {
      const [a] = udp();
      const [b, bAddr] = udp();
      const got = await runOn(run, function* (loop) {
        a.sendto(Buffer.alloc(2000, 'x'), bAddr);
        a.sendto(Buffer.from('next'), bAddr);
        const [first] = yield* loop.sockRecvfrom(b, 10);
        const [second] = yield* loop.sockRecvfrom(b, 10);
        return [first.length, second.toString()];
      });
      expect(got).toEqual([10, 'next']);
    } finally {
      closeAll();
    }
  });

  it('works over IPv6 loopback', async () => {
    let sockets: [[Socket, [string, number]], [Socket, [string, number]]];
    try {
      sockets = [udp(AF_INET6, '::1'), udp(AF_INET6, '::1')];
    } catch {
      closeAll();
      return; // no IPv6 here
    }
    try {
      const [[a, aAddr], [b, bAddr]] = sockets;
      const got = await runOn(run, function* (loop) {
        yield* loop.sockSendto(a, Buffer.from('six'), ['::1', bAddr[1]]);
        const [data, from] = yield* loop.sockRecvfrom(b, 10);
        return [data.toString(), (from as [string, number])[1]];
      });
      expect(got).toEqual(['six', aAddr[1]]);
    } finally {
      closeAll();
    }
  });

  it('loses no datagram when a waiting sockRecvfrom is cancelled', async () => {
    try {
      const [a] = udp();
      const [b, bAddr] = udp();
      const got = await runOn(run, function* (loop) {
        const waiting = loop.createTask(loop.sockRecvfrom(b, 100));
        yield* sleep(0);
        waiting.cancel();
        a.sendto(Buffer.from('kept'), bAddr);
        let cancelled = false;
        try {
          yield* waiting;
        } catch (error) {
          cancelled = error instanceof CancelledError;
        }
        const [data] = yield* loop.sockRecvfrom(b, 100);
        return [cancelled, data.toString()];
      });
      expect(got).toEqual([true, 'kept']);
    } finally {
      closeAll();
    }
  });

  it('echoes 500 datagrams in turn', async () => {
    try {
      const [client] = udp();
      const [server, serverAddr] = udp();
      const got = await runOn(run, function* (loop) {
        loop.createTask((function* echo(): Coro<void> {
          const buf = Buffer.alloc(2048);
          for (;;) {
            const [n, from] = yield* loop.sockRecvfromInto(server, buf);
            yield* loop.sockSendto(server, buf.subarray(0, n), from);
          }
        })());
        let ok = 0;
        for (let i = 0; i < 500; i++) {
          yield* loop.sockSendto(client, Buffer.from(`m${i}`), serverAddr);
          const [reply] = yield* loop.sockRecvfrom(client, 100);
          if (reply.toString() === `m${i}`) ok++;
        }
        return ok;
      });
      expect(got).toBe(500);
    } finally {
      closeAll();
    }
  });

  it('waits in sockSendto while the receiver\'s queue is full, then sends', async () => {
    // A Unix datagram socket's sender blocks (EAGAIN) while the receiver's
    // queue is full, which UDP over loopback never does.
    const path = join(dir, `r-${Math.random().toString(36).slice(2)}`);
    const receiver = new Socket(AF_UNIX, SOCK_DGRAM);
    const sender = new Socket(AF_UNIX, SOCK_DGRAM);
    try {
      receiver.bind(path);
      receiver.setBlocking(false);
      sender.setBlocking(false);
      const got = await runOn(run, function* (loop) {
        let queued = 0;
        const datagram = Buffer.alloc(1024, 'q');
        for (;;) {
          try {
            sender.sendto(datagram, path);
            queued++;
          } catch {
            break; // full: BlockingIOError
          }
        }
        const sending = loop.createTask(loop.sockSendto(sender, Buffer.from('last'), path));
        yield* sleep(0); // the task tries once and parks
        const waited = !sending.done();
        for (let i = 0; i < queued; i++) yield* loop.sockRecvfrom(receiver, 2048);
        const n = yield* sending;
        const [last] = yield* loop.sockRecvfrom(receiver, 2048);
        return [queued > 0, waited, n, last.toString()];
      });
      expect(got).toEqual([true, true, 4, 'last']);
    } finally {
      sender.close();
      receiver.close();
    }
  });
});

describe('datagram operations: bad arguments', () => {
  it('reject bad arguments with typed errors naming them', async () => {
    try {
      const [a] = udp();
      const errors = await runOn(RUN_TABLE[0]![1], function* (loop) {
        const out: unknown[] = [];
        const attempts: Array<() => Coro<unknown>> = [
          () => loop.sockRecvfrom(a, -1),
          () => loop.sockRecvfrom(a, '10' as never),
          () => loop.sockRecvfromInto(a, 'buf' as never),
          () => loop.sockRecvfromInto(a, Buffer.alloc(4), 5),
          () => loop.sockSendto(a, 'data' as never, ['127.0.0.1', 9]),
          () => loop.sockSendto(a, Buffer.from('x'), 'nowhere' as never),
          () => loop.sockRecvfrom({} as never, 10),
        ];
        for (const attempt of attempts) {
          try {
            yield* attempt();
            out.push('no error');
          } catch (error) {
            out.push(error);
          }
        }
        return out;
      });
      expect(errors[0]).toBeInstanceOf(RangeError);
      expect(String(errors[0])).toMatch(/\bn\b/);
      expect(errors[1]).toBeInstanceOf(TypeError);
      expect(errors[2]).toBeInstanceOf(TypeError);
      expect(String(errors[2])).toMatch(/buf/);
      expect(errors[3]).toBeInstanceOf(RangeError);
      expect(String(errors[3])).toMatch(/nbytes/);
      expect(errors[4]).toBeInstanceOf(TypeError);
      expect(String(errors[4])).toMatch(/data/);
      expect(errors[5]).toBeInstanceOf(TypeError);
      expect(String(errors[5])).toMatch(/address/);
      expect(errors[6]).toBeInstanceOf(TypeError);
      expect(String(errors[6])).toMatch(/sock/);
    } finally {
      closeAll();
    }
  });
});
