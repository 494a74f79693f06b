import { closeSync, openSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';

import { afterEach, describe, expect, it } from 'vitest';

import { tsWorker } from './support/workers.js';
import {
  availableBackends, BlockingIOError, DefaultSelector, EpollSelector, EVENT_READ, EVENT_WRITE,
  KeyError, KqueueSelector, OSError, PollSelector, Selector, Socket, socketpair,
  type BackendName,
} from '../src/index.js';

// Everything a test opens goes here and is closed after it, pass or fail.
const opened: Array<{ close(): void }> = [];
function track<T extends { close(): void }>(x: T): T {
  opened.push(x);
  return x;
}
function pair(): [Socket, Socket] {
  const [a, b] = socketpair();
  track(a);
  track(b);
  return [a, b];
}
afterEach(() => {
  for (const x of opened.splice(0)) x.close();
});

// Fills a non-blocking socket's send buffer so it stops being writable.
function fill(sock: Socket): void {
  sock.setBlocking(false);
  const chunk = Buffer.alloc(65536);
  for (;;) {
    try {
      sock.send(chunk);
    } catch (error) {
      if (error instanceof BlockingIOError) return;
      throw error;
    }
  }
}

function elapsedOf(fn: () => void): number {
  const start = performance.now();
  fn();
  return performance.now() - start;
}

describe('DefaultSelector', () => {
  it('is Selector with the platform default backend', () => {
    const sel = track(new DefaultSelector());
    expect(sel).toBeInstanceOf(Selector);
    expect(sel.backend).toBe(process.platform === 'linux' ? 'epoll' : sel.backend);
  });

  it('backend classes pick their backend, and a missing one throws a clear Error', () => {
    for (const [cls, name] of [[EpollSelector, 'epoll'], [KqueueSelector, 'kqueue'], [PollSelector, 'poll']] as const) {
      if (availableBackends.includes(name)) {
        expect(track(new cls()).backend).toBe(name);
      } else {
        expect(() => new cls()).toThrow(new RegExp(`${name} backend is not available`));
      }
    }
  });

  it('rejects an unknown backend name naming options.backend', () => {
    expect(() => new Selector({ backend: 'select' as BackendName })).toThrow(RangeError);
    expect(() => new Selector({ backend: 'select' as BackendName })).toThrow(/options\.backend/);
    expect(() => new Selector(5 as never)).toThrow(TypeError);
  });
});

describe.each(availableBackends.map((b) => [b]))('Selector (%s)', (backend) => {
  const make = <T = unknown>() => track(new Selector<T>({ backend: backend as BackendName }));

  describe('register', () => {
    it('returns a frozen key with fileobj, fd, events, data and mode', () => {
      const sel = make<string>();
      const [a] = pair();
      const key = sel.register(a, EVENT_READ, 'hello');
      expect(key).toEqual({ fileobj: a, fd: a.fileno(), events: EVENT_READ, data: 'hello', mode: 'level' });
      expect(Object.isFrozen(key)).toBe(true);
      expect(sel.getKey(a)).toBe(key);
      expect(sel.getKey(a.fileno())).toBe(key);
    });

    it('accepts a plain fd number', () => {
      const sel = make();
      const [a] = pair();
      const key = sel.register(a.fileno(), EVENT_READ | EVENT_WRITE);
      expect(key.fileobj).toBe(a.fileno());
      expect(key.events).toBe(3);
      expect(key.data).toBeUndefined();
    });

    it('rejects events that are not a non-zero subset of READ|WRITE', () => {
      const sel = make();
      const [a] = pair();
      for (const bad of [0, 4, 7, -1, 1.5, NaN]) {
        expect(() => sel.register(a, bad)).toThrow(RangeError);
      }
      for (const bad of ['1', null, undefined, {}]) {
        expect(() => sel.register(a, bad as never)).toThrow(TypeError);
      }
      expect(() => sel.register(a, 0)).toThrow(/events/i);
      expect(sel.getMap()!.size).toBe(0);
    });

    it('rejects file objects that are not fds, naming fileobj', () => {
      const sel = make();
      for (const bad of ['3', null, undefined, {}, [], { fileno: () => '3' }, { fileno: 3 }]) {
        expect(() => sel.register(bad as never, EVENT_READ)).toThrow(TypeError);
      }
      for (const bad of [-1, 1.5, 2 ** 40, { fileno: () => -1 }, { fileno: () => 0.5 }]) {
        expect(() => sel.register(bad as never, EVENT_READ)).toThrow(RangeError);
      }
      expect(() => sel.register('x' as never, EVENT_READ)).toThrow(/fileobj/);
    });

    it('refuses the same fd twice, by either form, and keeps the first registration', () => {
      const sel = make();
      const [a] = pair();
      const first = sel.register(a, EVENT_READ, 'first');
      expect(() => sel.register(a.fileno(), EVENT_WRITE)).toThrow(/already registered/);
      expect(() => sel.register(a, EVENT_WRITE)).toThrow(KeyError);
      expect(sel.getKey(a)).toBe(first);
      expect(sel.getMap()!.size).toBe(1);
    });

    it('throws OSError EBADF for a closed fd and registers nothing', () => {
      const sel = make();
      const [a] = pair();
      const fd = a.detach();
      closeSync(fd);
      let error: unknown;
      try {
        sel.register(fd, EVENT_READ);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(OSError);
      expect((error as OSError).code).toBe('EBADF');
      expect((error as OSError).errno).toBeGreaterThan(0);
      expect(sel.getMap()!.has(fd)).toBe(false);
    });

    it('handles a regular file as the OS does (epoll: EPERM, others: accepted)', () => {
      const sel = make();
      const path = join(tmpdir(), `ns-sel-${process.pid}`);
      writeFileSync(path, 'data'); // kqueue reports a file readable only before its end
      const fd = openSync(path, 'r');
      try {
        if (backend === 'epoll') {
          expect(() => sel.register(fd, EVENT_READ)).toThrow(expect.objectContaining({ code: 'EPERM' }));
          expect(sel.getMap()!.size).toBe(0);
        } else {
          sel.register(fd, EVENT_READ);
          expect(sel.select(0)).toEqual([[sel.getKey(fd), EVENT_READ]]);
          sel.unregister(fd);
        }
      } finally {
        closeSync(fd);
        unlinkSync(path);
      }
    });
  });

  describe('unregister', () => {
    it('returns the key and forgets the fd', () => {
      const sel = make();
      const [a, b] = pair();
      const key = sel.register(a, EVENT_READ);
      expect(sel.unregister(a)).toBe(key);
      expect(() => sel.getKey(a)).toThrow(KeyError);
      b.send(Buffer.from('x'));
      expect(sel.select(0)).toEqual([]);
    });

    it('throws KeyError for an fd that is not registered', () => {
      const sel = make();
      const [a] = pair();
      expect(() => sel.unregister(a)).toThrow(KeyError);
      expect(() => sel.unregister(a)).toThrow(/not registered/);
    });

    it('succeeds after the user closed the socket (fileno() is then -1)', () => {
      const sel = make();
      const [a] = pair();
      const key = sel.register(a, EVENT_READ);
      a.close();
      expect(a.fileno()).toBe(-1);
      expect(sel.unregister(a)).toBe(key);
      expect(sel.getMap()!.size).toBe(0);
    });

    it('succeeds after the fd was closed and its number reused by a new file', () => {
      const sel = make();
      const [a] = pair();
      const fd = a.fileno();
      const key = sel.register(fd, EVENT_READ);
      a.close();
      const [c, d] = pair(); // the lowest free numbers: c takes fd's number back
      const reused = [c, d].find((s) => s.fileno() === fd);
      expect(reused).toBeDefined();
      expect(sel.unregister(fd)).toBe(key);
      // The new file is not disturbed and can be registered afresh.
      sel.register(reused!, EVENT_WRITE);
      expect(sel.select(0)).toEqual([[sel.getKey(reused!), EVENT_WRITE]]);
    });
  });

  describe('modify', () => {
    it('changes the events watched', () => {
      const sel = make();
      const [a] = pair();
      sel.register(a, EVENT_READ);
      expect(sel.select(0)).toEqual([]);
      const key = sel.modify(a, EVENT_WRITE, 'w');
      expect(key.events).toBe(EVENT_WRITE);
      expect(key.data).toBe('w');
      expect(sel.select(0)).toEqual([[key, EVENT_WRITE]]);
      expect(sel.getKey(a)).toBe(key);
    });

    it('changes data alone without a system call', () => {
      const sel = make();
      const [a] = pair();
      const fd = a.fileno();
      sel.register(fd, EVENT_READ, 'old');
      // Were a syscall made on a closed fd, it would fail with EBADF.
      closeSync(a.detach());
      const key = sel.modify(fd, EVENT_READ, 'new');
      expect(key.data).toBe('new');
      expect(sel.getKey(fd)).toBe(key);
      sel.unregister(fd);
    });

    it('returns the same key when nothing changes', () => {
      const sel = make();
      const [a] = pair();
      const key = sel.register(a, EVENT_READ, 'd');
      expect(sel.modify(a, EVENT_READ, 'd')).toBe(key);
    });

    it('resets data to undefined when none is given, as CPython resets it to None', () => {
      const sel = make();
      const [a] = pair();
      sel.register(a, EVENT_READ, 'd');
      expect(sel.modify(a, EVENT_READ).data).toBeUndefined();
    });

    it('leaves the fd unregistered when the system call fails', () => {
      const sel = make();
      const [a] = pair();
      const fd = a.fileno();
      sel.register(fd, EVENT_READ);
      closeSync(a.detach());
      if (backend === 'poll') {
        // poll(2) has no per-fd kernel state: nothing to fail; the fd is then
        // reported as invalid (POLLNVAL) on every event it is watched for.
        sel.modify(fd, EVENT_WRITE);
        expect(sel.select(0)).toEqual([[sel.getKey(fd), EVENT_WRITE]]);
        sel.unregister(fd);
      } else {
        expect(() => sel.modify(fd, EVENT_WRITE)).toThrow(OSError);
        expect(() => sel.getKey(fd)).toThrow(KeyError);
      }
    });

    it('throws KeyError for an fd that is not registered, and checks events first', () => {
      const sel = make();
      const [a] = pair();
      expect(() => sel.modify(a, EVENT_READ)).toThrow(KeyError);
      sel.register(a, EVENT_READ);
      expect(() => sel.modify(a, 8)).toThrow(RangeError);
    });
  });

  describe('select', () => {
    it('reports readiness intersected with the registered events', () => {
      const sel = make<string>();
      const [a, b] = pair();
      const ka = sel.register(a, EVENT_READ, 'a');
      const kb = sel.register(b, EVENT_READ | EVENT_WRITE, 'b');
      // Both are writable; only b asked for it.
      expect(sel.select(0)).toEqual([[kb, EVENT_WRITE]]);
      b.send(Buffer.from('ping'));
      const ready = sel.select(0);
      expect(ready).toHaveLength(2);
      expect(ready).toContainEqual([ka, EVENT_READ]);
      expect(ready).toContainEqual([kb, EVENT_WRITE]);
    });

    it('returns [] at once for a timeout of 0 or less', () => {
      const sel = make();
      const [a] = pair();
      sel.register(a, EVENT_READ);
      for (const t of [0, -1, -0.5, -Infinity]) {
        expect(elapsedOf(() => expect(sel.select(t)).toEqual([]))).toBeLessThan(50);
      }
    });

    it('never returns early with nothing, for whole and fractional timeouts', () => {
      const sel = make();
      const [a] = pair();
      sel.register(a, EVENT_READ);
      for (const t of [30, 5.5, 1, 0.3, 0.001]) {
        const elapsed = elapsedOf(() => expect(sel.select(t)).toEqual([]));
        expect(elapsed).toBeGreaterThanOrEqual(t);
        expect(elapsed).toBeLessThan(t + 1000);
      }
    });

    it('sleeps for its timeout with nothing registered', () => {
      const sel = make();
      const elapsed = elapsedOf(() => expect(sel.select(40)).toEqual([]));
      expect(elapsed).toBeGreaterThanOrEqual(40);
    });

    it('sleeps, not spins, while it waits', () => {
      const sel = make();
      const before = process.cpuUsage();
      for (let i = 0; i < 20; i++) sel.select(2.5); // sub-ms remainders each time
      const used = process.cpuUsage(before);
      // 50 ms of waiting; a busy loop would burn about all of it.
      expect((used.user + used.system) / 1000).toBeLessThan(25);
    });

    it('blocks with a null or undefined timeout until an event arrives', async () => {
      const sel = make();
      const [a, b] = pair();
      const key = sel.register(a, EVENT_READ);
      for (const timeout of [null, undefined]) {
        // A worker thread writes after a delay while this thread is blocked.
        const worker = new Worker(
          `const { workerData } = require('node:worker_threads');
           const fs = require('node:fs');
           setTimeout(() => fs.writeSync(workerData.fd, 'x'), 100);`,
          { eval: true, workerData: { fd: b.fileno() } },
        );
        const elapsed = elapsedOf(() => expect(sel.select(timeout)).toEqual([[key, EVENT_READ]]));
        expect(elapsed).toBeGreaterThanOrEqual(50);
        expect(a.recv(10).toString()).toBe('x');
        await worker.terminate();
      }
    });

    it('reports a hang-up as every registered event', () => {
      const sel = make();
      const [a, b] = pair();
      fill(a); // a is not writable any more
      const key = sel.register(a, EVENT_WRITE);
      expect(sel.select(0)).toEqual([]);
      b.close();
      expect(sel.select(1000)).toEqual([[key, EVENT_WRITE]]);
    });

    it('reports EOF as readable', () => {
      const sel = make();
      const [a, b] = pair();
      const key = sel.register(a, EVENT_READ);
      b.close();
      expect(sel.select(1000)).toEqual([[key, EVENT_READ]]);
      expect(a.recv(10).length).toBe(0);
    });

    it('rejects a timeout that is not a number, naming timeout', () => {
      const sel = make();
      expect(() => sel.select('5' as never)).toThrow(TypeError);
      expect(() => sel.select('5' as never)).toThrow(/timeout/);
      expect(() => sel.select(NaN)).toThrow(RangeError);
    });
  });

  describe('getMap and close', () => {
    it('getMap is a live, read-only view', () => {
      const sel = make<number>();
      const [a, b] = pair();
      const map = sel.getMap()!;
      expect(map.size).toBe(0);
      const ka = sel.register(a, EVENT_READ, 1);
      expect(map.size).toBe(1);
      expect(map.get(a.fileno())).toBe(ka);
      sel.register(b, EVENT_WRITE, 2);
      expect([...map.keys()].sort()).toEqual([a.fileno(), b.fileno()].sort());
      expect([...map.values()].map((k) => k.data).sort()).toEqual([1, 2]);
      sel.unregister(a);
      expect(map.has(a.fileno())).toBe(false);
      expect((map as unknown as Record<string, unknown>).set).toBeUndefined();
      expect((map as unknown as Record<string, unknown>).delete).toBeUndefined();
    });

    it('fileno is the backend fd, or -1 where nothing can wait on one', () => {
      const sel = make();
      // poll(2) has no fd; libkqueue (kqueue on Linux) has none that polls.
      const none = backend === 'poll' || (backend === 'kqueue' && process.platform === 'linux');
      if (none) expect(sel.fileno()).toBe(-1);
      else expect(sel.fileno()).toBeGreaterThan(2);
    });

    it('after close: getMap is null, every method but close throws, close is idempotent', () => {
      const sel = make();
      const [a] = pair();
      sel.register(a, EVENT_READ);
      sel.close();
      sel.close();
      expect(sel.getMap()).toBeNull();
      expect(() => sel.register(a, EVENT_WRITE)).toThrow(/closed/);
      expect(() => sel.unregister(a)).toThrow(/closed/);
      expect(() => sel.modify(a, EVENT_WRITE)).toThrow(/closed/);
      expect(() => sel.select(0)).toThrow(/closed/);
      expect(() => sel.getKey(a)).toThrow(/closed/);
      expect(() => sel.fileno()).toThrow(/closed/);
    });

    it('Symbol.dispose closes it', () => {
      const sel = make();
      sel[Symbol.dispose]();
      expect(sel.getMap()).toBeNull();
    });
  });

  it('never crashes on hostile arguments to any method', () => {
    const sel = make();
    const [a, b] = pair();
    sel.register(a, EVENT_READ);
    b.send(Buffer.from('x')); // so a select with no timeout returns at once
    const values: unknown[] = [undefined, null, NaN, Infinity, -Infinity, -0, 2 ** 31, 2 ** 53, -1, 0.5,
      '', '3', {}, [], Symbol('s'), () => 3, 10n, { fileno: () => { throw new Error('boom'); } },
      { fileno: () => 2 ** 31 }, new Uint8Array(4)];
    const calls: Array<(v: never) => unknown> = [
      (v) => sel.register(v, EVENT_READ), (v) => sel.register(a, v), (v) => sel.unregister(v),
      (v) => sel.modify(v, EVENT_READ), (v) => sel.modify(a, v), (v) => sel.getKey(v),
      (v) => sel.select(v),
    ];
    for (const call of calls) {
      for (const v of values) {
        try {
          call(v as never);
        } catch (error) {
          expect(error).toBeInstanceOf(Error);
        }
      }
    }
    // The registration it started with is intact.
    expect(sel.getKey(a).events).toBe(EVENT_READ);
  });

  it('watches 2,000 fds numbered above 1024', () => {
    const sel = make<number>();
    pairsAbove(1024, 600); // pad the fd table so the watched fds start high
    const pairs = Array.from({ length: 1000 }, () => pair());
    let i = 0;
    for (const [a, b] of pairs) {
      sel.register(a, EVENT_READ, i);
      sel.register(b, EVENT_READ, i);
      i++;
    }
    expect(sel.getMap()!.size).toBe(2000);
    expect(Math.min(...sel.getMap()!.keys())).toBeGreaterThan(1024);
    expect(sel.select(0)).toEqual([]);
    for (const [, b] of pairs.filter((_, k) => k % 3 === 0)) b.send(Buffer.from('x'));
    const ready = selectAll(sel, 334);
    expect([...ready.keys()].map((fd) => sel.getKey(fd).data).sort((x, y) => x - y)).toEqual(
      pairs.map((_, k) => k).filter((k) => k % 3 === 0),
    );
    expect([...ready].every(([fd, mask]) => mask === EVENT_READ && fd > 1024)).toBe(true);
    for (const [a] of pairs) sel.modify(a, EVENT_WRITE);
    expect(selectAll(sel, 1000).size).toBe(1000);
  });

  // fd -> mask over as many selects as it takes to see `expected` fds: an
  // emulated kqueue (libkqueue) returns at most 512 events per call.
  function selectAll(sel: Selector<number>, expected: number): Map<number, number> {
    const seen = new Map<number, number>();
    for (let i = 0; i < 50 && seen.size < expected; i++) {
      for (const [key, mask] of sel.select(1000)) seen.set(key.fd, (seen.get(key.fd) ?? 0) | mask);
    }
    return seen;
  }

  function pairsAbove(min: number, count: number): void {
    for (let k = 0; k < count; k++) {
      const [x] = pair();
      if (x.fileno() > min) break;
    }
  }
});

describe('Selector in worker_threads', () => {
  it('works in two workers at once, each with its own selector', async () => {
    const run = () => new Promise<unknown>((resolve, reject) => {
      const worker = tsWorker(new URL('./support/selector-worker.ts', import.meta.url));
      worker.once('message', resolve);
      worker.once('error', reject);
      worker.once('exit', (code) => code !== 0 && reject(new Error(`worker exited with ${code}`)));
    });
    const results = await Promise.all([run(), run()]);
    expect(results).toEqual([
      { ready: [['pong', EVENT_READ]], received: 'ping' },
      { ready: [['pong', EVENT_READ]], received: 'ping' },
    ]);
  });
});
