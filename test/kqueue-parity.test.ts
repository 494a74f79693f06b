// Where the kqueue backend once differed from epoll and poll(2), checked on
// every backend this build has. On Linux without libkqueue these run on
// epoll and poll only; the kqueue rules behind them (which a Linux kernel
// cannot show) are covered by test/kqueue-logic.test.ts.
import { afterEach, describe, expect, it } from 'vitest';

import {
  availableBackends, EVENT_READ, EVENT_WRITE, KeyError, OSError, Selector, Socket, socketpair,
} from '../src/index.js';

const opened: Array<{ close(): void }> = [];
function track<T extends { close(): void }>(x: T): T {
  opened.push(x);
  return x;
}
function pair(): [Socket, Socket] {
  const [a, b] = socketpair();
  return [track(a), track(b)];
}
afterEach(() => {
  for (const x of opened.splice(0)) x.close();
});

const SHUT_WR = 1;

/** Sockets until one of them gets fd number `fd` (the lowest free number goes first). */
function socketWithFd(fd: number): Socket {
  for (let i = 0; i < 64; i++) {
    const [a, b] = pair();
    if (a.fileno() === fd) return a;
    if (b.fileno() === fd) return b;
  }
  throw new Error(`fd ${fd} was not reused`);
}

describe.each(availableBackends.map((b) => [b]))('%s', (backend) => {
  it('reports every fd ready both ways, in every select', () => {
    const sel = track(new Selector({ backend }));
    const ends: Socket[] = [];
    for (let i = 0; i < 60; i++) {
      const [a, b] = pair();
      b.send(Buffer.from('x'));
      sel.register(a, EVENT_READ | EVENT_WRITE);
      ends.push(a);
    }
    const want = ends.map((s) => [s.fileno(), EVENT_READ | EVENT_WRITE]).sort((x, y) => x[0]! - y[0]!);
    for (let round = 0; round < 10; round++) {
      const got = sel.select(0).map(([key, mask]) => [key.fd, mask]).sort((x, y) => x[0]! - y[0]!);
      expect(got, `select ${round}`).toEqual(want);
    }
  });

  it('after its own shutdown(SHUT_WR) a socket is writable, not readable', () => {
    const sel = track(new Selector({ backend }));
    const [a, b] = pair();
    const key = sel.register(a, EVENT_READ | EVENT_WRITE);
    a.shutdown(SHUT_WR);
    expect(sel.select(0)).toEqual([[key, EVENT_WRITE]]);
    b.send(Buffer.from('x'));
    expect(sel.select(0)).toEqual([[key, EVENT_READ | EVENT_WRITE]]);
  });

  it('a timeout beyond 2^31 seconds is accepted', () => {
    const sel = track(new Selector({ backend }));
    const [a] = pair();
    const key = sel.register(a, EVENT_WRITE);
    for (const ms of [3e12, 2 ** 31 * 1000 + 1, Number.MAX_SAFE_INTEGER]) {
      expect(sel.select(ms), String(ms)).toEqual([[key, EVENT_WRITE]]);
    }
  });

  it('modify after the fd number was closed and reused watches the new file or unregisters, and leaves nothing to wake select', () => {
    const sel = track(new Selector({ backend }));
    const [a] = pair();
    const fd = a.fileno();
    sel.register(a, EVENT_READ);
    a.close();
    expect(socketWithFd(fd).fileno()).toBe(fd); // writable, nothing to read
    let key;
    try {
      key = sel.modify(a, EVENT_WRITE);
    } catch (error) {
      // epoll forgot the fd when it closed (ENOENT); the key is dropped.
      expect(error).toBeInstanceOf(OSError);
      expect(() => sel.getKey(a)).toThrow(KeyError);
    }
    // kqueue and poll watch whatever file holds the number now.
    expect(sel.select(0)).toEqual(key ? [[key, EVENT_WRITE]] : []);
    if (key) sel.unregister(a);
    expect(sel.getMap()!.size).toBe(0);
    // No filter may be left behind: one that fires with no interest left
    // would make every wait return at once with nothing to report, and a
    // wait spin. A blocked wait uses next to no CPU.
    const cpu = process.cpuUsage();
    const start = performance.now();
    expect(sel.select(300)).toEqual([]);
    const used = process.cpuUsage(cpu);
    const wall = performance.now() - start;
    expect((used.user + used.system) / 1000, `CPU ms over a ${wall.toFixed(0)} ms wait`).toBeLessThan(wall / 3);
  });
});
