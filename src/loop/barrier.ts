// asyncio.Barrier (Python 3.13): a reusable rendezvous of `parties` tasks,
// built on a Condition as CPython builds it. A round fills, then drains
// (everyone leaves), before the next round may fill again.
import { describe } from '../validate.js';
import { Condition } from './locks.js';
import type { Coro } from './futures.js';

/** Thrown by `Barrier.wait()` when the barrier is aborted or reset. */
export class BrokenBarrierError extends Error {}
Object.defineProperty(BrokenBarrierError.prototype, 'name', { value: 'BrokenBarrierError', configurable: true, writable: true });

const FILLING = 0;
const DRAINING = 1;
const RESETTING = 2;
const BROKEN = 3;

/**
 * A barrier (asyncio.Barrier): `wait()` blocks until `parties` tasks wait,
 * then releases them all, each with its own index 0..parties-1. Reusable.
 */
export class Barrier {
  /** How many tasks must wait for the barrier to open. */
  readonly parties: number;
  readonly #cond = new Condition();
  #state = FILLING;
  #count = 0;

  constructor(parties: number) {
    if (typeof parties !== 'number' || !Number.isInteger(parties)) {
      throw new TypeError(`parties must be an integer, got ${describe(parties)}`);
    }
    if (parties < 1) throw new RangeError(`parties must be >= 1, got ${parties}`);
    this.parties = parties;
  }

  /** Tasks waiting now (while it fills). */
  get nWaiting(): number {
    return this.#state === FILLING ? this.#count : 0;
  }

  /** True once `abort()` broke it. */
  get broken(): boolean {
    return this.#state === BROKEN;
  }

  /**
   * Waits for the others; returns this task's arrival index. Throws
   * BrokenBarrierError if the barrier is broken or reset while waiting.
   */
  wait(): Coro<number> {
    return this.#cond.hold(() => this.#pass());
  }

  /** Back to the empty state; tasks waiting now get BrokenBarrierError. */
  reset(): Coro<void> {
    return this.#cond.hold(function* (this: Barrier): Coro<void> {
      if (this.#count > 0) this.#state = RESETTING;
      else this.#state = FILLING;
      this.#cond.notifyAll();
    }.bind(this));
  }

  /** Breaks the barrier: current and future `wait()`s throw BrokenBarrierError. */
  abort(): Coro<void> {
    return this.#cond.hold(function* (this: Barrier): Coro<void> {
      this.#state = BROKEN;
      this.#cond.notifyAll();
    }.bind(this));
  }

  *#pass(): Coro<number> {
    // Wait out a previous round still draining (or a reset in progress).
    yield* this.#cond.waitFor(() => this.#state !== DRAINING && this.#state !== RESETTING);
    if (this.#state === BROKEN) throw new BrokenBarrierError('Barrier aborted');
    const index = this.#count++;
    try {
      if (index + 1 === this.parties) {
        this.#state = DRAINING;
        this.#cond.notifyAll();
      } else {
        yield* this.#cond.waitFor(() => this.#state !== FILLING);
        if (this.#state === BROKEN || this.#state === RESETTING) {
          throw new BrokenBarrierError('Abort or reset of barrier');
        }
      }
      return index;
    } finally {
      this.#count--;
      if (this.#count === 0) {
        if (this.#state === RESETTING || this.#state === DRAINING) this.#state = FILLING;
        this.#cond.notifyAll();
      }
    }
  }
}
