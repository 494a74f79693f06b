// Queue, LifoQueue, PriorityQueue: the behaviours CPython's test_queues.py
// checks, in both run modes.
import { describe, expect, it } from 'vitest';

import {
  type Coro, getRunningLoop, LifoQueue, PriorityQueue, Queue, QueueEmpty, QueueFull, QueueShutDown,
  type Task,
} from '../../src/index.js';
import { MODES, runIn, ticks } from './toolbox-support.js';

function spawn<T>(coro: Coro<T>): Task<T> {
  return getRunningLoop().createTask(coro);
}

function* settle(task: Task<unknown>): Coro<void> {
  while (!task.done()) {
    try {
      yield* task;
    } catch {
      // Only waiting for it to finish.
    }
  }
}

function* caught(body: Coro<unknown>): Coro<unknown> {
  try {
    yield* body;
  } catch (error) {
    return error;
  }
  return undefined;
}

describe.each(MODES)('Queue (%s)', (mode) => {
  it('hands items out first in, first out', async () => {
    const got = await runIn(mode, function* () {
      const q = new Queue<number>();
      for (let i = 0; i < 2000; i++) q.putNowait(i);
      expect(q.qsize()).toBe(2000);
      const got: number[] = [];
      while (!q.empty()) got.push(yield* q.get());
      return got;
    });
    expect(got).toEqual(Array.from({ length: 2000 }, (_, i) => i));
  });

  it('reports maxsize, full and empty', async () => {
    await runIn(mode, function* () {
      const q = new Queue<string>(2);
      expect(q.maxsize).toBe(2);
      expect(q.empty()).toBe(true);
      q.putNowait('a');
      q.putNowait('b');
      expect(q.full()).toBe(true);
      expect(() => q.putNowait('c')).toThrow(QueueFull);
      expect(new Queue().full()).toBe(false);
    });
  });

  it('throws QueueEmpty from getNowait on an empty queue', async () => {
    await runIn(mode, function* () {
      expect(() => new Queue().getNowait()).toThrow(QueueEmpty);
    });
  });

  it('makes get wait for a put, serving getters in order', async () => {
    const got = await runIn(mode, function* () {
      const q = new Queue<string>();
      const got: string[] = [];
      const getters = [1, 2, 3].map((i) => spawn((function* () {
        got.push(`${i}:${yield* q.get()}`);
      })()));
      yield* ticks();
      expect(got).toEqual([]);
      for (const item of ['a', 'b', 'c']) yield* q.put(item);
      for (const g of getters) yield* g;
      return got;
    });
    expect(got).toEqual(['1:a', '2:b', '3:c']);
  });

  it('makes put wait while full, serving putters in order', async () => {
    await runIn(mode, function* () {
      const q = new Queue<number>(1);
      q.putNowait(0);
      const putters = [1, 2, 3].map((i) => spawn(q.put(i)));
      yield* ticks();
      expect(putters.some((p) => p.done())).toBe(false);
      const got: number[] = [];
      for (let i = 0; i < 4; i++) got.push(yield* q.get());
      expect(got).toEqual([0, 1, 2, 3]);
      for (const p of putters) yield* p;
    });
  });

  it('loses no item when a getter is cancelled after being woken for it', async () => {
    await runIn(mode, function* () {
      const q = new Queue<string>();
      const a = spawn(q.get());
      const b = spawn(q.get());
      yield* ticks();
      q.putNowait('x'); // wakes a...
      a.cancel(); // ...which is cancelled before it runs
      yield* settle(a);
      expect(a.cancelled()).toBe(true);
      expect(yield* b).toBe('x');
      expect(q.empty()).toBe(true);
    });
  });

  it('loses no slot when a putter is cancelled after being woken for it', async () => {
    await runIn(mode, function* () {
      const q = new Queue<string>(1);
      q.putNowait('first');
      const a = spawn(q.put('a'));
      const b = spawn(q.put('b'));
      yield* ticks();
      expect(q.getNowait()).toBe('first'); // wakes a...
      a.cancel(); // ...cancelled before it runs: b gets the slot
      yield* settle(a);
      yield* b;
      expect(q.getNowait()).toBe('b');
    });
  });

  it('lets join wait until every item is marked done', async () => {
    await runIn(mode, function* () {
      const q = new Queue<number>();
      yield* q.join(); // nothing unfinished: returns at once
      for (let i = 0; i < 5; i++) q.putNowait(i);
      const joiner = spawn(q.join());
      let processed = 0;
      const worker = spawn((function* () {
        for (;;) {
          yield* q.get();
          yield* ticks(1);
          processed++;
          q.taskDone();
        }
      })());
      yield* joiner;
      expect(processed).toBe(5);
      worker.cancel();
      yield* settle(worker);
      expect(() => q.taskDone()).toThrow(/too many/);
    });
  });

  it('after shutdown, refuses puts and lets gets drain what is left', async () => {
    await runIn(mode, function* () {
      const q = new Queue<number>(1);
      q.putNowait(1);
      const putter = spawn(q.put(2));
      yield* ticks();
      q.shutdown();
      yield* settle(putter);
      expect(putter.exception()).toBeInstanceOf(QueueShutDown);
      expect(() => q.putNowait(3)).toThrow(QueueShutDown);
      expect(yield* q.get()).toBe(1);
      expect(yield* caught(q.get())).toBeInstanceOf(QueueShutDown);
      expect(() => q.getNowait()).toThrow(QueueShutDown);
    });
  });

  it('wakes waiting getters with QueueShutDown on shutdown', async () => {
    await runIn(mode, function* () {
      const q = new Queue<number>();
      const getter = spawn(q.get());
      yield* ticks();
      q.shutdown();
      yield* settle(getter);
      expect(getter.exception()).toBeInstanceOf(QueueShutDown);
    });
  });

  it('drops the items on an immediate shutdown and releases join', async () => {
    await runIn(mode, function* () {
      const q = new Queue<number>();
      q.putNowait(1);
      q.putNowait(2);
      const joiner = spawn(q.join());
      yield* ticks();
      q.shutdown(true);
      yield* joiner;
      expect(q.empty()).toBe(true);
      expect(yield* caught(q.get())).toBeInstanceOf(QueueShutDown);
    });
  });
});

describe.each(MODES)('LifoQueue and PriorityQueue (%s)', (mode) => {
  it('LifoQueue hands out the last item put first', async () => {
    await runIn(mode, function* () {
      const q = new LifoQueue<number>();
      for (const i of [1, 2, 3]) yield* q.put(i);
      expect([yield* q.get(), yield* q.get(), yield* q.get()]).toEqual([3, 2, 1]);
    });
  });

  it('PriorityQueue hands out the smallest item first', async () => {
    await runIn(mode, function* () {
      const q = new PriorityQueue<number>();
      const values = Array.from({ length: 500 }, (_, i) => (i * 7919) % 503);
      for (const v of values) q.putNowait(v);
      const got: number[] = [];
      while (!q.empty()) got.push(yield* q.get());
      expect(got).toEqual([...values].sort((a, b) => a - b));
    });
  });

  it('PriorityQueue orders strings and compares arrays element-wise', async () => {
    await runIn(mode, function* () {
      const s = new PriorityQueue<string>();
      for (const v of ['pear', 'apple', 'fig']) s.putNowait(v);
      expect([s.getNowait(), s.getNowait(), s.getNowait()]).toEqual(['apple', 'fig', 'pear']);
      const q = new PriorityQueue<[number, string]>();
      for (const v of [[2, 'b'], [1, 'z'], [2, 'a'], [1, 'y']] as Array<[number, string]>) q.putNowait(v);
      const got: Array<[number, string]> = [];
      while (!q.empty()) got.push(yield* q.get());
      expect(got).toEqual([[1, 'y'], [1, 'z'], [2, 'a'], [2, 'b']]);
    });
  });

  it('PriorityQueue refuses items it cannot compare and stays intact', async () => {
    await runIn(mode, function* () {
      const q = new PriorityQueue<unknown>();
      q.putNowait(1);
      expect(() => q.putNowait({})).toThrow(TypeError);
      expect(q.qsize()).toBe(1);
      expect(q.getNowait()).toBe(1);
    });
  });
});
