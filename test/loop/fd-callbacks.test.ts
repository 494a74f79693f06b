// loop.addReader/removeReader/addWriter/removeWriter, the behaviours
// CPython's test_selector_events.py checks of add_reader and friends (the
// registration each call leaves, replacing, removing, a callback's error),
// on real fds, on every backend and in both run modes.
import { closeSync as closeFd } from 'node:fs';
import { Worker } from 'node:worker_threads';

import { describe, expect, it } from 'vitest';

import {
  type Coro, Event, EVENT_READ, EVENT_WRITE, EventLoop, Selector, sleep, type Socket, socketpair,
} from '../../src/index.js';
import { captureExceptions } from './support.js';
import { RUN_TABLE, runOn } from './surface-support.js';

function pair(): [Socket, Socket] {
  const [a, b] = socketpair();
  a.setBlocking(false);
  b.setBlocking(false);
  return [a, b];
}

/** Waits (yielding to the loop) until `done()` or `limit` iterations passed. */
function* until(done: () => boolean, limit = 1000): Coro<void> {
  for (let i = 0; i < limit && !done(); i++) yield* sleep(0);
}

describe.each(RUN_TABLE)('fd callbacks (%s)', (_name, run) => {
  it('calls the reader whenever the fd is readable, again each iteration until it is read', async () => {
    const [a, b] = pair();
    try {
      const calls = await runOn(run, function* (loop) {
        let n = 0;
        loop.addReader(a, () => {
          n++;
          if (n === 3) a.recv(10); // drained: no more calls
        });
        b.send(Buffer.from('x'));
        yield* until(() => n >= 3);
        yield* sleep(20);
        loop.removeReader(a);
        return n;
      });
      expect(calls).toBe(3);
    } finally {
      a.close();
      b.close();
    }
  });

  it('takes an fd number or an object with fileno(), and calls the writer when the fd is writable', async () => {
    const [a, b] = pair();
    try {
      const seen = await runOn(run, function* (loop) {
        const got: string[] = [];
        loop.addWriter(a.fileno(), () => {
          got.push('writable');
          loop.removeWriter({ fileno: () => a.fileno() });
        });
        yield* until(() => got.length > 0);
        return got;
      });
      expect(seen).toEqual(['writable']);
    } finally {
      a.close();
      b.close();
    }
  });

  it('replaces an earlier reader of the same fd, which is not called again', async () => {
    const [a, b] = pair();
    try {
      const calls = await runOn(run, function* (loop) {
        const got: string[] = [];
        loop.addReader(a, () => got.push('first'));
        loop.addReader(a.fileno(), () => {
          got.push('second');
          loop.removeReader(a);
        });
        b.send(Buffer.from('x'));
        yield* until(() => got.length > 0);
        yield* sleep(10);
        return got;
      });
      expect(calls).toEqual(['second']);
    } finally {
      a.close();
      b.close();
    }
  });

  it('removeReader and removeWriter say whether there was one', async () => {
    const [a, b] = pair();
    try {
      const results = await runOn(run, function* (loop) {
        const out: boolean[] = [loop.removeReader(a), loop.removeWriter(a)];
        loop.addReader(a, () => {});
        loop.addWriter(a, () => {});
        out.push(loop.removeReader(a), loop.removeReader(a), loop.removeWriter(a), loop.removeWriter(a));
        yield* sleep(0);
        return out;
      });
      expect(results).toEqual([false, false, true, false, true, false]);
    } finally {
      a.close();
      b.close();
    }
  });

  it('does not call a reader removed earlier in the same iteration', async () => {
    const [a, b] = pair();
    const [c, d] = pair();
    try {
      const calls = await runOn(run, function* (loop) {
        let n = 0;
        // Both fds are readable in the same select: whichever callback runs
        // first removes the other, which must then not run.
        loop.addReader(a, () => {
          n++;
          loop.removeReader(a);
          loop.removeReader(c);
        });
        loop.addReader(c, () => {
          n++;
          loop.removeReader(a);
          loop.removeReader(c);
        });
        b.send(Buffer.from('x'));
        d.send(Buffer.from('x'));
        yield* until(() => n > 0);
        yield* sleep(10);
        return n;
      });
      expect(calls).toBe(1);
    } finally {
      for (const s of [a, b, c, d]) s.close();
    }
  });

  it('passes an error thrown by a callback to the exception handler and keeps running', async () => {
    const [a, b] = pair();
    const boom = new Error('boom');
    let seen: ReturnType<typeof captureExceptions> = [];
    try {
      const after = await runOn(run, function* (loop) {
        loop.addReader(a, () => {
          loop.removeReader(a);
          throw boom;
        });
        b.send(Buffer.from('x'));
        yield* until(() => seen.length > 0);
        return 'still running';
      }, (loop) => {
        seen = captureExceptions(loop);
      });
      expect(after).toBe('still running');
      expect(seen).toHaveLength(1);
      expect(seen[0]!.message).toBe('Exception in callback');
      expect(seen[0]!.exception).toBe(boom);
    } finally {
      a.close();
      b.close();
    }
  });

  it('works beside a task waiting on the same fd for the other direction', async () => {
    const [a, b] = pair();
    try {
      const got = await runOn(run, function* (loop) {
        let writable = 0;
        const reading = loop.createTask(loop.sockRecv(a, 100));
        yield* sleep(0); // the task parks on a for reading
        loop.addWriter(a, () => {
          writable++;
          loop.removeWriter(a);
          b.send(Buffer.from('hello'));
        });
        const data = yield* reading;
        return [writable, data.toString()];
      });
      expect(got).toEqual([1, 'hello']);
    } finally {
      a.close();
      b.close();
    }
  });

  it('refuses a reader for an fd a task is reading through a socket operation, and the reverse', async () => {
    const [a, b] = pair();
    try {
      const errors = await runOn(run, function* (loop) {
        const out: string[] = [];
        const reading = loop.createTask(loop.sockRecv(a, 100));
        yield* sleep(0);
        try {
          loop.addReader(a, () => {});
        } catch (error) {
          out.push((error as Error).message);
        }
        reading.cancel();
        yield* sleep(0);
        loop.addWriter(a, () => {});
        try {
          yield* loop.sockSendall(a, Buffer.alloc(64 * 1024 * 1024));
        } catch (error) {
          out.push((error as Error).message);
        }
        loop.removeWriter(a);
        return out;
      });
      expect(errors).toHaveLength(2);
      expect(errors[0]).toMatch(/fd \d+ is in use: a task .* waits on it to read/);
      expect(errors[1]).toMatch(/has an fd callback for writing \(addWriter\)/);
    } finally {
      a.close();
      b.close();
    }
  });

  it('drops the callbacks of a Socket that is closed', async () => {
    const [a, b] = pair();
    try {
      const calls = await runOn(run, function* (loop) {
        let n = 0;
        b.send(Buffer.from('x')); // readable, but the close comes first
        const fd = a.fileno();
        loop.addReader(a, () => n++);
        a.close();
        yield* sleep(10);
        return [n, loop.removeReader(fd)];
      });
      expect(calls).toEqual([0, false]);
    } finally {
      a.close();
      b.close();
    }
  });

  it('watches a new fd that reuses the number of one removed and closed', async () => {
    const [a, b] = pair();
    const fd = a.fileno();
    const detached = a.detach(); // a plain fd from here on: no Socket tells the loop of its close
    let c: Socket | undefined;
    let d: Socket | undefined;
    try {
      const got = await runOn(run, function* (loop) {
        loop.addReader(detached, () => {});
        yield* sleep(0);
        closeFd(detached);
        const removed = loop.removeReader(fd);
        [c, d] = pair(); // takes the lowest free number: most likely fd again
        let called = false;
        loop.addReader(c, () => {
          called = true;
          loop.removeReader(c!);
        });
        d.send(Buffer.from('x'));
        yield* until(() => called);
        return [removed, called];
      });
      expect(got).toEqual([true, true]);
    } finally {
      b.close();
      c?.close();
      d?.close();
    }
  });

  it('keeps a loop with nothing but an fd callback waiting in select for it', async () => {
    const [a, b] = pair();
    let exited: Promise<unknown> = Promise.resolve();
    try {
      const got = await runOn(run, function* (loop) {
        const done = new Event();
        let got = '';
        loop.addReader(a, () => {
          loop.removeReader(a);
          got = a.recv(10).toString();
          done.set();
        });
        // No timer and no socket waiter: only the callback can wake the loop,
        // when another thread writes (Node's own timers do not run while a
        // blocking loop holds the thread).
        const writer = new Worker("require('node:fs').writeSync(require('node:worker_threads').workerData, 'late')",
          { eval: true, workerData: b.fileno() });
        exited = new Promise((resolve) => writer.once('exit', resolve));
        yield* done.wait();
        return got;
      });
      expect(got).toBe('late');
    } finally {
      await exited;
      a.close();
      b.close();
    }
  });
});

describe('fd callbacks and the selector', () => {
  function inspect<T>(body: (loop: EventLoop, selector: Selector) => T): T {
    const selector = new Selector();
    const loop = new EventLoop({ selector });
    try {
      return body(loop, selector);
    } finally {
      loop.close();
    }
  }

  it('registers the fd for reading, then reading and writing, and narrows it as callbacks go', () => {
    const [a, b] = pair();
    try {
      inspect((loop, selector) => {
        loop.addReader(a, () => {});
        expect(selector.getKey(a.fileno()).events).toBe(EVENT_READ);
        loop.addWriter(a, () => {});
        expect(selector.getKey(a.fileno()).events).toBe(EVENT_READ | EVENT_WRITE);
        loop.removeReader(a);
        expect(selector.getKey(a.fileno()).events).toBe(EVENT_WRITE);
        loop.removeWriter(a);
        expect(selector.getMap()!.has(a.fileno())).toBe(false);
      });
    } finally {
      a.close();
      b.close();
    }
  });

  it('rejects bad arguments with typed errors naming them, and a closed loop', () => {
    const [a, b] = pair();
    try {
      const loop = new EventLoop();
      expect(() => loop.addReader('3' as never, () => {})).toThrow(TypeError);
      expect(() => loop.addReader(-1, () => {})).toThrow(/Invalid file descriptor/);
      expect(() => loop.addWriter(a, 'cb' as never)).toThrow(/cb must be a function/);
      expect(() => loop.removeReader({} as never)).toThrow(TypeError);
      loop.close();
      expect(() => loop.addReader(a, () => {})).toThrow(/closed/);
      expect(loop.removeReader(a)).toBe(false);
    } finally {
      a.close();
      b.close();
    }
  });

  it('fails in addReader for an fd the OS will not watch', () => {
    inspect((loop) => {
      // A closed fd number: the registration fails at once, in the caller.
      const [a, b] = pair();
      const fd = a.fileno();
      a.close();
      b.close();
      expect(() => loop.addReader(fd, () => {})).toThrow(/EBADF|Bad file descriptor/);
      expect(loop.removeReader(fd)).toBe(false);
    });
  });
});
