// Queues between tasks of one loop, as asyncio's queues.py (Python 3.13,
// shutdown included). Getters and putters wait on futures in FIFO lists; a
// waiter woken for an item or a free slot but cancelled before it could
// use it wakes the next one, so no item or slot is lost.
import { describe } from '../validate.js';
import { Event } from './locks.js';
import { getRunningLoop } from './event-loop.js';
import { type Coro, Future } from './futures.js';

/** Thrown by `getNowait()` on an empty queue. */
export class QueueEmpty extends Error {}
/** Thrown by `putNowait()` on a full queue. */
export class QueueFull extends Error {}
/** Thrown by put/get (and their Nowait forms) once the queue is shut down. */
export class QueueShutDown extends Error {}
for (const cls of [QueueEmpty, QueueFull, QueueShutDown]) {
  Object.defineProperty(cls.prototype, 'name', { value: cls.name, configurable: true, writable: true });
}

function wakeUpNext(waiters: Future<void>[]): void {
  while (waiters.length > 0) {
    const waiter = waiters.shift()!;
    if (!waiter.done()) {
      waiter._setResult(undefined);
      return;
    }
  }
}

function remove(waiters: Future<void>[], fut: Future<void>): void {
  const i = waiters.indexOf(fut);
  if (i >= 0) waiters.splice(i, 1);
}

/**
 * A first-in, first-out queue (asyncio.Queue). `maxsize` <= 0 (the default)
 * means unbounded; otherwise `put()` waits while it is full.
 */
export class Queue<T> {
  /** The most items it holds (0 or less: no limit). */
  readonly maxsize: number;
  readonly #getters: Future<void>[] = [];
  readonly #putters: Future<void>[] = [];
  readonly #finished = new Event();
  #unfinished = 0;
  #shutdown = false;
  // FIFO storage: an array read from `#head` on, compacted now and then.
  #items: T[] = [];
  #head = 0;

  constructor(maxsize = 0) {
    if (typeof maxsize !== 'number' || Number.isNaN(maxsize)) {
      throw new TypeError(`maxsize must be a number, got ${describe(maxsize)}`);
    }
    this.maxsize = maxsize;
    this.#finished.set();
  }

  /** Number of items in the queue. */
  qsize(): number {
    return this._size();
  }

  /** True if it holds no item. */
  empty(): boolean {
    return this._size() === 0;
  }

  /** True if it holds `maxsize` items (never, when unbounded). */
  full(): boolean {
    return this.maxsize > 0 && this._size() >= this.maxsize;
  }

  /** Puts `item` in, waiting for a free slot while full. Throws QueueShutDown once shut down. */
  *put(item: T): Coro<void> {
    while (this.full()) {
      if (this.#shutdown) throw new QueueShutDown('the queue is shut down');
      const putter = new Future<void>(getRunningLoop());
      this.#putters.push(putter);
      try {
        yield* putter;
      } catch (error) {
        putter.cancel();
        remove(this.#putters, putter);
        // Woken for a free slot we will not use: hand it on.
        if (!this.full() && !putter.cancelled()) wakeUpNext(this.#putters);
        throw error;
      }
    }
    this.putNowait(item);
  }

  /** Puts `item` in without waiting: throws QueueFull if full, QueueShutDown once shut down. */
  putNowait(item: T): void {
    if (this.#shutdown) throw new QueueShutDown('the queue is shut down');
    if (this.full()) throw new QueueFull(`the queue is full (maxsize ${this.maxsize})`);
    this._put(item);
    this.#unfinished++;
    this.#finished.clear();
    wakeUpNext(this.#getters);
  }

  /**
   * Takes the next item, waiting while the queue is empty. Throws
   * QueueShutDown once it is shut down and empty (at once if `immediate`).
   */
  *get(): Coro<T> {
    while (this.empty()) {
      if (this.#shutdown) throw new QueueShutDown('the queue is shut down');
      const getter = new Future<void>(getRunningLoop());
      this.#getters.push(getter);
      try {
        yield* getter;
      } catch (error) {
        getter.cancel();
        remove(this.#getters, getter);
        // Woken for an item we will not take: the next getter takes it.
        if (!this.empty() && !getter.cancelled()) wakeUpNext(this.#getters);
        throw error;
      }
    }
    return this.getNowait();
  }

  /** Takes the next item without waiting: throws QueueEmpty if there is none. */
  getNowait(): T {
    if (this.empty()) {
      if (this.#shutdown) throw new QueueShutDown('the queue is shut down');
      throw new QueueEmpty('the queue is empty');
    }
    const item = this._get();
    wakeUpNext(this.#putters);
    return item;
  }

  /** Marks one item taken earlier as processed (for `join()`); throws if called too often. */
  taskDone(): void {
    if (this.#unfinished <= 0) throw new Error('taskDone() called too many times');
    this.#unfinished--;
    if (this.#unfinished === 0) this.#finished.set();
  }

  /** Waits until every item put in has been taken and marked with `taskDone()`. */
  *join(): Coro<void> {
    if (this.#unfinished > 0) yield* this.#finished.wait();
  }

  /**
   * Shuts the queue down: put() throws QueueShutDown from now on, and so
   * does get() once the queue is empty. `immediate`: the items left are
   * dropped (counted as done for `join()`) and get() throws at once.
   * Waiting putters and getters are woken to see it.
   */
  shutdown(immediate = false): void {
    this.#shutdown = true;
    if (immediate) {
      while (!this.empty()) {
        this._get();
        if (this.#unfinished > 0) this.#unfinished--;
      }
      if (this.#unfinished === 0) this.#finished.set();
    }
    for (const waiters of [this.#getters, this.#putters]) {
      while (waiters.length > 0) {
        const waiter = waiters.shift()!;
        if (!waiter.done()) waiter._setResult(undefined);
      }
    }
  }

  // Storage: subclasses change the order by overriding these three.

  /** @internal */
  protected _size(): number {
    return this.#items.length - this.#head;
  }

  /** @internal */
  protected _put(item: T): void {
    this.#items.push(item);
  }

  /** @internal */
  protected _get(): T {
    const item = this.#items[this.#head]!;
    (this.#items as Array<T | undefined>)[this.#head] = undefined;
    this.#head++;
    if (this.#head === this.#items.length) {
      this.#items = [];
      this.#head = 0;
    } else if (this.#head >= 1024 && this.#head * 2 >= this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    return item;
  }
}

/** A last-in, first-out queue (asyncio.LifoQueue). */
export class LifoQueue<T> extends Queue<T> {
  readonly #stack: T[] = [];

  protected override _size(): number {
    return this.#stack.length;
  }

  protected override _put(item: T): void {
    this.#stack.push(item);
  }

  protected override _get(): T {
    return this.#stack.pop()!;
  }
}

/**
 * Orders as Python compares: numbers, bigints and strings by value, arrays
 * element by element (a shorter prefix first). Anything else throws.
 */
export function compareItems(a: unknown, b: unknown): number {
  if (Array.isArray(a) && Array.isArray(b)) {
    const n = Math.min(a.length, b.length);
    for (let i = 0; i < n; i++) {
      const c = compareItems(a[i], b[i]);
      if (c !== 0) return c;
    }
    return a.length - b.length;
  }
  const ta = typeof a;
  const tb = typeof b;
  const numeric = (t: string): boolean => t === 'number' || t === 'bigint';
  if ((ta === 'string' && tb === 'string') || (numeric(ta) && numeric(tb))) {
    return (a as number) < (b as number) ? -1 : (a as number) > (b as number) ? 1 : 0;
  }
  throw new TypeError(`PriorityQueue cannot compare ${describe(a)} with ${describe(b)}: ` +
    'use numbers, strings, or arrays of them (e.g. [priority, item])');
}

/**
 * A queue that hands out the smallest item first (asyncio.PriorityQueue):
 * numbers, strings, or arrays compared element-wise such as `[priority, data]`.
 */
export class PriorityQueue<T> extends Queue<T> {
  readonly #heap: T[] = [];

  protected override _size(): number {
    return this.#heap.length;
  }

  protected override _put(item: T): void {
    const heap = this.#heap;
    // Compare before inserting, so an incomparable item leaves the heap intact.
    let i = heap.length;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (compareItems(item, heap[parent]) >= 0) break;
      i = parent;
    }
    heap.push(item);
    for (let j = heap.length - 1; j > i; j = (j - 1) >> 1) heap[j] = heap[(j - 1) >> 1]!;
    heap[i] = item;
  }

  protected override _get(): T {
    const heap = this.#heap;
    const top = heap[0]!;
    const last = heap.pop()!;
    if (heap.length === 0) return top;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= heap.length) break;
      const r = l + 1;
      const c = r < heap.length && compareItems(heap[r], heap[l]) < 0 ? r : l;
      if (compareItems(heap[c], last) >= 0) break;
      heap[i] = heap[c]!;
      i = c;
    }
    heap[i] = last;
    return top;
  }
}
