// Waker: mio's Waker as a FileObject. Every behaviour runs on both
// implementations -- the eventfd (Linux) and the pipe that other platforms
// use, forced here so that path is proven on Linux too -- and, where a
// selector is involved, on every backend.
import { readFileSync, readlinkSync } from 'node:fs';
import { once } from 'node:events';

import { afterEach, describe, expect, it } from 'vitest';

import { tsWorker } from './support/workers.js';
import {
  availableBackends, EVENT_READ, OSError, Selector, Waker, type BackendName,
} from '../src/index.js';
import { createPipeWaker } from '../src/waker.js';

const opened: Array<{ close(): void }> = [];
function track<T extends { close(): void }>(x: T): T {
  opened.push(x);
  return x;
}
afterEach(() => {
  for (const x of opened.splice(0)) x.close();
});

function fdIsOpen(fd: number): boolean {
  try {
    readlinkSync(`/proc/self/fd/${fd}`);
    return true;
  } catch {
    return false;
  }
}

const kinds = (process.platform === 'linux' ? ['eventfd', 'pipe'] : ['pipe']) as Array<'eventfd' | 'pipe'>;
const makerOf = (kind: 'eventfd' | 'pipe') => (): Waker => track(kind === 'pipe' ? createPipeWaker() : new Waker());

describe.each(kinds.map((k) => [k]))('Waker (%s)', (kind) => {
  const make = makerOf(kind);

  describe.each(availableBackends.map((b) => [b]))('with a %s selector', (backend) => {
    const selector = () => track(new Selector<string>({ backend: backend as BackendName }));

    it('is not readable until woken, then readable until drained', () => {
      const sel = selector();
      const waker = make();
      sel.register(waker, EVENT_READ, 'waker');
      expect(sel.select(0)).toEqual([]);
      waker.wake();
      expect(sel.select(0).map(([key, mask]) => [key.data, mask])).toEqual([['waker', EVENT_READ]]);
      expect(sel.select(0)).toHaveLength(1); // level: still pending
      expect(waker.drain()).toBe(true);
      expect(sel.select(0)).toEqual([]);
    });

    it('coalesces many wake-ups into one readiness and one drain', () => {
      const sel = selector();
      const waker = make();
      sel.register(waker, EVENT_READ, 'waker');
      for (let i = 0; i < 1000; i++) waker.wake();
      expect(sel.select(0)).toHaveLength(1);
      expect(waker.drain()).toBe(true);
      expect(waker.drain()).toBe(false);
      expect(sel.select(0)).toEqual([]);
    });

    // mio's way: an edge-triggered waker need not be drained for the next
    // wake to be seen, since every wake() writes. (Pipes wake epoll on every
    // write again since Linux 5.14; the kqueue backend has no edge mode yet.)
    it.runIf(backend === 'epoll')('in edge mode reports every wake once, drained or not', () => {
      const sel = selector();
      const waker = make();
      sel.register(waker, EVENT_READ, 'waker', { mode: 'edge' });
      for (let i = 0; i < 3; i++) {
        waker.wake();
        expect(sel.select(0)).toHaveLength(1);
        expect(sel.select(0)).toEqual([]);
      }
    });
  });

  it('is seen again when woken after a drain', () => {
    const sel = track(new Selector<string>());
    const waker = make();
    sel.register(waker, EVENT_READ, 'waker');
    waker.wake();
    expect(waker.drain()).toBe(true);
    expect(sel.select(0)).toEqual([]);
    waker.wake();
    expect(sel.select(0)).toHaveLength(1);
    expect(waker.drain()).toBe(true);
  });

  it('drain() says false when nothing was pending', () => {
    expect(make().drain()).toBe(false);
  });

  it('coalesces more wake-ups than a pipe holds', () => {
    const waker = make();
    // A full pipe (EAGAIN) is a pending wake-up, not an error.
    const remote = Waker.fromFd(waker.remoteFd);
    for (let i = 0; i < 20_000; i++) (i % 2 ? remote : waker).wake();
    expect(waker.drain()).toBe(true);
    expect(waker.drain()).toBe(false);
    remote.wake();
    expect(waker.drain()).toBe(true);
  });

  it(kind === 'eventfd' ? 'has one fd: remoteFd is fileno()' : 'has a pipe: remoteFd is its write end', () => {
    const waker = make();
    if (kind === 'eventfd') {
      expect(waker.remoteFd).toBe(waker.fileno());
      expect(readlinkSync(`/proc/self/fd/${waker.fileno()}`)).toBe('anon_inode:[eventfd]');
    } else {
      expect(waker.remoteFd).not.toBe(waker.fileno());
      expect(readlinkSync(`/proc/self/fd/${waker.fileno()}`)).toMatch(/^pipe:/);
      expect(readlinkSync(`/proc/self/fd/${waker.remoteFd}`)).toBe(readlinkSync(`/proc/self/fd/${waker.fileno()}`));
    }
  });

  it.runIf(process.platform === 'linux')('makes its fds close-on-exec and non-blocking', () => {
    const waker = make();
    for (const fd of new Set([waker.fileno(), waker.remoteFd])) {
      const flags = parseInt(/^flags:\s+(\d+)/m.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'))![1]!, 8);
      expect(flags & 0o2000000, `fd ${fd} O_CLOEXEC`).not.toBe(0);
      expect(flags & 0o4000, `fd ${fd} O_NONBLOCK`).not.toBe(0);
    }
  });

  it('wakes a selector blocked in select() from another worker thread via fromFd(remoteFd)', async () => {
    const sel = selector2();
    const waker = make();
    sel.register(waker, EVENT_READ, 'waker');
    const go = new Int32Array(new SharedArrayBuffer(4));
    const worker = tsWorker(new URL('./support/waker-worker.ts', import.meta.url), { fd: waker.remoteFd, go });
    try {
      const [first] = await once(worker, 'message') as [string];
      expect(first).toBe('ready');
      Atomics.store(go, 0, 1);
      Atomics.notify(go, 0);
      const start = performance.now();
      const ready = sel.select(5000); // blocks this thread until the worker's wake
      const elapsed = performance.now() - start;
      expect(ready.map(([key, mask]) => [key.data, mask])).toEqual([['waker', EVENT_READ]]);
      expect(elapsed).toBeLessThan(4000);
      const [second] = await once(worker, 'message') as [string];
      expect(second).toBe('woke');
      // The worker closed its fromFd Waker: our fds are untouched.
      expect(waker.drain()).toBe(true);
      expect(fdIsOpen(waker.remoteFd)).toBe(true);
    } finally {
      await worker.terminate();
    }
  });

  it('close() closes its fds, is idempotent, and so is Symbol.dispose', () => {
    const waker = new Waker();
    const fds = [waker.fileno(), waker.remoteFd];
    waker.close();
    for (const fd of fds) expect(fdIsOpen(fd)).toBe(false);
    expect(waker.fileno()).toBe(-1);
    expect(waker.remoteFd).toBe(-1);
    waker.close();
    waker[Symbol.dispose]();
    const other = make();
    other[Symbol.dispose]();
    expect(other.fileno()).toBe(-1);
  });

  it('refuses wake() and drain() once closed', () => {
    const waker = make();
    waker.close();
    expect(() => waker.wake()).toThrow(/closed Waker/);
    expect(() => waker.drain()).toThrow(/closed Waker/);
  });

  it('a selector can unregister a closed Waker, found by identity', () => {
    const sel = selector2();
    const waker = make();
    sel.register(waker, EVENT_READ);
    waker.close();
    expect(sel.unregister(waker).fileobj).toBe(waker);
  });

  it('a fromFd Waker can only wake, and its close() leaves the fd open', () => {
    const waker = make();
    const remote = Waker.fromFd(waker.remoteFd);
    expect(() => remote.fileno()).toThrow(/fileno\(\) is not available on a Waker made by Waker\.fromFd/);
    expect(() => remote.drain()).toThrow(/drain\(\) is not available on a Waker made by Waker\.fromFd/);
    expect(remote.remoteFd).toBe(waker.remoteFd);
    remote.wake();
    remote.close();
    remote.close();
    expect(() => remote.wake()).toThrow(/closed/);
    expect(fdIsOpen(waker.remoteFd)).toBe(true);
    expect(waker.drain()).toBe(true);
  });

  it('a Waker dropped without close() has its fds closed by the garbage collector', async () => {
    const gc = (globalThis as { gc?: () => void }).gc!;
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(w.message);
    process.on('warning', onWarning);
    let fds: number[] = [];
    (() => {
      const waker = kind === 'pipe' ? createPipeWaker() : new Waker();
      fds = [waker.fileno(), waker.remoteFd];
    })();
    for (let i = 0; i < 50 && fds.some(fdIsOpen); i++) {
      gc();
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    process.off('warning', onWarning);
    for (const fd of fds) expect(fdIsOpen(fd)).toBe(false);
    expect(warnings.some((w) => w.includes(`unclosed Waker (fd ${fds[0]})`))).toBe(true);
  });
});

function selector2(): Selector<string> {
  return track(new Selector<string>());
}

describe('Waker.fromFd argument checks', () => {
  it('names fd in its TypeError and RangeError', () => {
    expect(() => Waker.fromFd('3' as never)).toThrow(TypeError);
    for (const bad of [-1, 1.5, NaN, 2 ** 31]) {
      expect(() => Waker.fromFd(bad)).toThrow(RangeError);
      expect(() => Waker.fromFd(bad)).toThrow(/\bfd\b/);
    }
  });

  it('refuses an fd that is not open with an OSError (EBADF)', () => {
    const waker = new Waker();
    const fd = waker.remoteFd;
    waker.close();
    expect(() => Waker.fromFd(fd)).toThrow(OSError);
    expect(() => Waker.fromFd(fd)).toThrow(expect.objectContaining({ code: 'EBADF' }));
  });
});
