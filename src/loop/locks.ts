// Synchronisation primitives for tasks of one loop, as asyncio's locks.py:
// Event, Lock, Semaphore, BoundedSemaphore, Condition (Barrier is in
// barrier.ts). Not thread safe (nothing on the loop is). Every waiter is a
// Future in a FIFO list, so a task cancelled while it waits simply has its
// future cancelled; the care is in what happens when a waiter was already
// handed the lock or permit and is cancelled before it could run: it passes
// it on.
import { describe } from '../validate.js';
import { getRunningLoop } from './event-loop.js';
import { CancelledError, type Coro, Future } from './futures.js';

function newWaiter(): Future<boolean> {
  return new Future<boolean>(getRunningLoop());
}

function removeWaiter(waiters: Future<boolean>[], fut: Future<boolean>): void {
  const i = waiters.indexOf(fut);
  if (i >= 0) waiters.splice(i, 1);
}

/** Something held for a block: `acquire()` before, `release()` after. */
interface Acquirable {
  acquire(): Coro<true>;
  release(): void;
}

// The generator idiom's `async with`: the release runs on every way out of
// `body` (return, throw, cancellation).
function* holdFor<T>(target: Acquirable, body: () => Coro<T>): Coro<T> {
  if (typeof body !== 'function') throw new TypeError(`body must be a generator function, got ${describe(body)}`);
  yield* target.acquire();
  try {
    return yield* body();
  } finally {
    target.release();
  }
}

/** A flag tasks can wait for (asyncio.Event). */
export class Event {
  #value = false;
  readonly #waiters: Future<boolean>[] = [];

  /** True once `set()` was called (and not `clear()`ed since). */
  isSet(): boolean {
    return this.#value;
  }

  /** Sets the flag and wakes every task waiting for it. */
  set(): void {
    if (this.#value) return;
    this.#value = true;
    for (const fut of this.#waiters) if (!fut.done()) fut._setResult(true);
  }

  /** Clears the flag: later `wait()`s block until the next `set()`. */
  clear(): void {
    this.#value = false;
  }

  /** Waits until the flag is set; returns true. */
  *wait(): Coro<true> {
    if (this.#value) return true;
    const fut = newWaiter();
    this.#waiters.push(fut);
    try {
      yield* fut;
      return true;
    } finally {
      removeWaiter(this.#waiters, fut);
    }
  }
}

/**
 * A mutual-exclusion lock (asyncio.Lock), fair: waiters get it in the order
 * they asked. Hold it for a block with `yield* lock.hold(function* () {...})`.
 */
export class Lock {
  #locked = false;
  readonly #waiters: Future<boolean>[] = [];

  /** True while some task holds it. */
  locked(): boolean {
    return this.#locked;
  }

  /** Waits until the lock is free and takes it; returns true. */
  *acquire(): Coro<true> {
    // Free and nobody queued (cancelled waiters do not count): take it now.
    if (!this.#locked && this.#waiters.every((w) => w.cancelled())) {
      this.#locked = true;
      return true;
    }
    const fut = newWaiter();
    this.#waiters.push(fut);
    try {
      try {
        yield* fut;
      } finally {
        removeWaiter(this.#waiters, fut);
      }
    } catch (error) {
      // Woken to take it, then cancelled before running: the lock is still
      // free, so the next waiter gets its turn instead.
      if (error instanceof CancelledError && !this.#locked) this.#wakeUpFirst();
      throw error;
    }
    this.#locked = true;
    return true;
  }

  /** Releases the lock (the first waiter gets it next); throws if it is not held. */
  release(): void {
    if (!this.#locked) throw new Error('Lock is not acquired.');
    this.#locked = false;
    this.#wakeUpFirst();
  }

  /**
   * Runs `body` holding the lock and releases it however `body` ends
   * (asyncio's `async with lock:`).
   */
  hold<T>(body: () => Coro<T>): Coro<T> {
    return holdFor(this, body);
  }

  #wakeUpFirst(): void {
    const fut = this.#waiters[0];
    if (fut !== undefined && !fut.done()) fut._setResult(true);
  }
}

/**
 * A counter of permits (asyncio.Semaphore): `acquire()` takes one, waiting
 * while there are none; `release()` gives one back. Fair, first come first
 * served. Hold one for a block with `yield* sem.hold(function* () {...})`.
 */
export class Semaphore {
  /** @internal */ _value: number;
  readonly #waiters: Future<boolean>[] = [];

  /** `value`: the number of permits at the start (default 1). */
  constructor(value = 1) {
    if (typeof value !== 'number' || !Number.isInteger(value)) {
      throw new TypeError(`value must be an integer, got ${describe(value)}`);
    }
    if (value < 0) throw new RangeError(`Semaphore initial value must be >= 0, got ${value}`);
    this._value = value;
  }

  /** True if `acquire()` would wait now (no permit, or others already queued). */
  locked(): boolean {
    return this._value === 0 || this.#waiters.some((w) => !w.cancelled());
  }

  /** Takes a permit, waiting for one if need be; returns true. */
  *acquire(): Coro<true> {
    if (!this.locked()) {
      this._value--;
      return true;
    }
    const fut = newWaiter();
    this.#waiters.push(fut);
    try {
      try {
        yield* fut;
      } finally {
        removeWaiter(this.#waiters, fut);
      }
    } catch (error) {
      // Handed a permit (already counted out), then cancelled: give it back.
      if (error instanceof CancelledError && fut.done() && !fut.cancelled()) this._value++;
      throw error;
    } finally {
      // Permits may be free while newer waiters queued behind us: wake as
      // many as they cover.
      while (this._value > 0 && this.#wakeUpNext());
    }
    return true;
  }

  /** Gives a permit back, waking the first waiter. */
  release(): void {
    this._value++;
    this.#wakeUpNext();
  }

  /** Runs `body` holding a permit and releases it however `body` ends. */
  hold<T>(body: () => Coro<T>): Coro<T> {
    return holdFor(this, body);
  }

  #wakeUpNext(): boolean {
    for (const fut of this.#waiters) {
      if (!fut.done()) {
        this._value--;
        fut._setResult(true);
        return true;
      }
    }
    return false;
  }
}

/** A Semaphore whose `release()` throws if it would exceed the starting value. */
export class BoundedSemaphore extends Semaphore {
  readonly #bound: number;

  constructor(value = 1) {
    super(value);
    this.#bound = value;
  }

  override release(): void {
    if (this._value >= this.#bound) throw new RangeError('BoundedSemaphore released too many times');
    super.release();
  }
}

/**
 * A condition variable (asyncio.Condition): tasks holding its lock wait to
 * be notified. `wait()` releases the lock while waiting and has it again when
 * it returns, also when cancelled.
 */
export class Condition {
  readonly #lock: Lock;
  readonly #waiters: Future<boolean>[] = [];

  /** `lock`: the Lock to use (a new one if omitted). */
  constructor(lock?: Lock) {
    if (lock !== undefined && !(lock instanceof Lock)) throw new TypeError(`lock must be a Lock, got ${describe(lock)}`);
    this.#lock = lock ?? new Lock();
  }

  /** Acquires the underlying lock. */
  acquire(): Coro<true> {
    return this.#lock.acquire();
  }

  /** Releases the underlying lock. */
  release(): void {
    this.#lock.release();
  }

  /** True while the underlying lock is held. */
  locked(): boolean {
    return this.#lock.locked();
  }

  /** Runs `body` holding the lock and releases it however `body` ends. */
  hold<T>(body: () => Coro<T>): Coro<T> {
    return holdFor(this, body);
  }

  /**
   * Releases the lock, waits for `notify()`, and takes the lock again before
   * returning (or throwing). The caller must hold the lock.
   */
  *wait(): Coro<true> {
    if (!this.locked()) throw new Error('cannot wait on un-acquired lock');
    this.release();
    try {
      try {
        const fut = newWaiter();
        this.#waiters.push(fut);
        try {
          yield* fut;
          return true;
        } finally {
          removeWaiter(this.#waiters, fut);
        }
      } finally {
        // The lock must be held again on the way out, even when cancelled:
        // keep trying, and rethrow the last cancellation afterwards.
        let cancelled: unknown = null;
        for (;;) {
          try {
            yield* this.acquire();
            break;
          } catch (error) {
            if (!(error instanceof CancelledError)) throw error;
            cancelled = error;
          }
        }
        if (cancelled !== null) throw cancelled;
      }
    } catch (error) {
      // We may have been notified and then failed: pass the notification on
      // (a spurious wake-up, which condition variables allow).
      this.#notify(1);
      throw error;
    }
  }

  /** Waits until `predicate()` is truthy (checked now and after each wake-up); returns its value. */
  *waitFor<T>(predicate: () => T): Coro<T> {
    if (typeof predicate !== 'function') throw new TypeError(`predicate must be a function, got ${describe(predicate)}`);
    let result = predicate();
    while (!result) {
      yield* this.wait();
      result = predicate();
    }
    return result;
  }

  /** Wakes up to `n` waiting tasks (default 1). The caller must hold the lock. */
  notify(n = 1): void {
    if (!this.locked()) throw new Error('cannot notify on un-acquired lock');
    this.#notify(n);
  }

  /** Wakes every waiting task. The caller must hold the lock. */
  notifyAll(): void {
    this.notify(this.#waiters.length);
  }

  #notify(n: number): void {
    let woken = 0;
    for (const fut of this.#waiters) {
      if (woken >= n) break;
      if (!fut.done()) {
        woken++;
        fut._setResult(false);
      }
    }
  }
}
