// Callbacks the loop runs: Handle (callSoon), TimerHandle (callLater) and
// the binary heap of deadlines. Cancelled timers stay in the heap and are
// dropped when they reach the top, as asyncio does, or all at once when
// they come to outnumber the live ones, so a cancel is O(1).

// Node's setTimeout takes at most 2^31 - 1 ms; beyond that it warns
// (TimeoutOverflowWarning) and fires after 1 ms, which would spin runAsync.
const MAX_NODE_DELAY = 0x7fffffff;

/**
 * The delay for a Node timer covering a deadline `when` (loop clock), from
 * `now`: rounded up (Node's timers have ms resolution; never fire early) and
 * capped at what setTimeout takes, so a far deadline just re-arms on expiry.
 */
export function nodeTimerDelay(when: number, now: number): number {
  return Math.min(MAX_NODE_DELAY, Math.max(0, Math.ceil(when - now)));
}

/** What the loop's ready queue holds: something to run once. */
export interface Runnable {
  /** @internal */
  _run(): void;
}

/** The part of the loop a handle reports to. */
export interface HandleOwner {
  /** @internal Reports a callback's exception through the exception handler. */
  _callbackFailed(handle: Handle, exception: unknown): void;
  /** @internal A scheduled timer was cancelled: the heap may want a sweep. */
  _timerCancelled(handle: TimerHandle): void;
}

/** A callback scheduled with `callSoon`; `cancel()` stops it from running. */
export class Handle implements Runnable {
  /** @internal */ _callback: ((arg: never) => void) | null;
  /** @internal */ _arg: unknown;
  /** @internal */ readonly _owner: HandleOwner;

  /** @internal */
  constructor(owner: HandleOwner, callback: (arg: never) => void, arg?: unknown) {
    this._owner = owner;
    this._callback = callback;
    this._arg = arg;
  }

  /** Stops the callback from running, if it has not run yet. */
  cancel(): void {
    // Dropping the references lets a cancelled timer's closure be collected
    // while the handle waits in the heap for its turn to be discarded.
    this._callback = null;
    this._arg = undefined;
  }

  /** True once `cancel()` was called. */
  cancelled(): boolean {
    return this._callback === null;
  }

  /** @internal */
  _run(): void {
    const callback = this._callback as ((arg: unknown) => void) | null;
    if (callback === null) return;
    try {
      callback(this._arg);
    } catch (exception) {
      this._owner._callbackFailed(this, exception);
    }
  }
}

/** A callback scheduled with `callLater`/`callAt`: a Handle with a deadline. */
export class TimerHandle extends Handle {
  /** @internal Deadline on the loop's clock (ms). */ readonly _when: number;
  /** @internal Scheduling order, so equal deadlines run first-in first-out. */ _seq = 0;
  /** @internal True while the handle sits in the heap. */ _scheduled = false;

  /** @internal */
  constructor(owner: HandleOwner, when: number, callback: (arg: never) => void, arg?: unknown) {
    super(owner, callback, arg);
    this._when = when;
  }

  /** The deadline, in ms on the loop's clock (`loop.time()`). */
  when(): number {
    return this._when;
  }

  override cancel(): void {
    if (this._callback === null) return;
    super.cancel();
    if (this._scheduled) this._owner._timerCancelled(this);
  }
}

function earlier(a: TimerHandle, b: TimerHandle): boolean {
  return a._when < b._when || (a._when === b._when && a._seq < b._seq);
}

/** A binary min-heap of timers ordered by (deadline, scheduling order). */
export class TimerHeap {
  #heap: TimerHandle[] = [];
  #nextSeq = 0;
  /** Cancelled handles still in the heap. */
  cancelledCount = 0;

  get size(): number {
    return this.#heap.length;
  }

  push(handle: TimerHandle): void {
    handle._seq = this.#nextSeq++;
    handle._scheduled = true;
    const heap = this.#heap;
    heap.push(handle);
    this.#siftUp(heap.length - 1);
  }

  /** The earliest live timer, discarding cancelled ones that reach the top. */
  peek(): TimerHandle | undefined {
    const heap = this.#heap;
    while (heap.length > 0 && heap[0]!._callback === null) this.#popTop();
    return heap[0];
  }

  /** Removes and returns the earliest timer (live or not). */
  pop(): TimerHandle | undefined {
    return this.#heap.length === 0 ? undefined : this.#popTop();
  }

  /**
   * Drops every cancelled handle when they are more than half the heap:
   * asyncio's rule, which keeps a loop that cancels most of its timers
   * (timeouts that did not fire) from growing without bound.
   */
  sweepIfWorthIt(): void {
    const heap = this.#heap;
    if (heap.length < 100 || 2 * this.cancelledCount <= heap.length) return;
    const live = heap.filter((h) => {
      if (h._callback !== null) return true;
      h._scheduled = false;
      return false;
    });
    // Sorting an array gives a valid heap, and keeps FIFO among equals.
    live.sort((a, b) => (earlier(a, b) ? -1 : earlier(b, a) ? 1 : 0));
    this.#heap = live;
    this.cancelledCount = 0;
  }

  clear(): void {
    for (const h of this.#heap) h._scheduled = false;
    this.#heap = [];
    this.cancelledCount = 0;
  }

  #popTop(): TimerHandle {
    const heap = this.#heap;
    const top = heap[0]!;
    const last = heap.pop()!;
    if (heap.length > 0) {
      heap[0] = last;
      this.#siftDown(0);
    }
    top._scheduled = false;
    if (top._callback === null) this.cancelledCount--;
    return top;
  }

  #siftUp(i: number): void {
    const heap = this.#heap;
    const item = heap[i]!;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const p = heap[parent]!;
      if (!earlier(item, p)) break;
      heap[i] = p;
      i = parent;
    }
    heap[i] = item;
  }

  #siftDown(i: number): void {
    const heap = this.#heap;
    const n = heap.length;
    const item = heap[i]!;
    for (;;) {
      let child = 2 * i + 1;
      if (child >= n) break;
      if (child + 1 < n && earlier(heap[child + 1]!, heap[child]!)) child++;
      if (!earlier(heap[child]!, item)) break;
      heap[i] = heap[child]!;
      i = child;
    }
    heap[i] = item;
  }
}
