// asyncio.timeout / timeout_at (Python 3.13): a deadline on a block of
// work. When it passes, the task running the block is cancelled; the
// CancelledError that comes out of the block becomes TimeoutError. The
// task's cancel count tells our cancellation apart from anyone else's, so a
// cancellation of the task from outside always wins, even one requested at
// the very moment the deadline fires.
import { TimeoutError } from '../errors.js';
import { describe } from '../validate.js';
import { getRunningLoop } from './event-loop.js';
import { CancelledError, type Coro } from './futures.js';
import { currentTask, type Task } from './task.js';
import type { Handle } from './timers.js';

const ENTERED = 1;
const EXPIRING = 2;
const EXPIRED = 3;
const EXITED = 4;

/** The deadline of a running `timeout()` block, passed to its body: read or move it. */
export class Timeout {
  #when: number | null;
  #state = ENTERED;
  #handle: Handle | null = null;
  readonly #task: Task<unknown>;

  /** @internal Made by `timeout()`/`timeoutAt()`. */
  constructor(task: Task<unknown>, when: number | null) {
    this.#task = task;
    this.#when = when;
    this.reschedule(when);
  }

  /** The deadline on `loop.time()`, or null for none. */
  when(): number | null {
    return this.#when;
  }

  /** Moves the deadline (null: none). Only while the block runs and has not expired. */
  reschedule(when: number | null): void {
    if (this.#state !== ENTERED) {
      throw new Error(`cannot reschedule a timeout that has ${this.#state === EXITED ? 'finished' : 'expired'}`);
    }
    if (when !== null && (typeof when !== 'number' || Number.isNaN(when))) {
      throw new TypeError(`when must be a loop time in ms or null, got ${describe(when)}`);
    }
    this.#when = when;
    this.#handle?.cancel();
    this.#handle = null;
    if (when === null || when === Infinity) return;
    const loop = getRunningLoop();
    this.#handle = when <= loop.time() ? loop.callSoon(this.#onTimeout) : loop.callAt(when, this.#onTimeout);
  }

  /** True once the deadline passed and the block was cancelled for it. */
  expired(): boolean {
    return this.#state === EXPIRING || this.#state === EXPIRED;
  }

  readonly #onTimeout = (): void => {
    this.#task.cancel();
    this.#state = EXPIRING;
    this.#handle = null;
  };

  /** @internal The block ended (`error`: what it threw, or NO_ERROR); returns what to throw instead. */
  _exit(error: unknown, cancellingBefore: number): unknown {
    this.#handle?.cancel();
    this.#handle = null;
    if (this.#state === EXPIRING) {
      this.#state = EXPIRED;
      if (this.#task.uncancel() <= cancellingBefore && error instanceof CancelledError) {
        const timeoutError = new TimeoutError('the timeout expired');
        Object.defineProperty(timeoutError, 'cause', { value: error, configurable: true, writable: true });
        return timeoutError;
      }
    } else if (this.#state === ENTERED) {
      this.#state = EXITED;
    }
    return error;
  }
}

const NO_ERROR: unique symbol = Symbol('no error');

/**
 * Runs `body` with a deadline `delay` ms from now (null: none). When it
 * passes, the work inside is cancelled and TimeoutError is thrown from
 * here; the task itself is not left cancelled. `body` gets the Timeout, to
 * read or move the deadline.
 *
 *   const page = yield* timeout(5_000, () => fetchPage(url));
 */
export function timeout<T>(delay: number | null, body: (cm: Timeout) => Coro<T>): Coro<T> {
  if (delay !== null && delay !== undefined && (typeof delay !== 'number' || Number.isNaN(delay))) {
    throw new TypeError(`delay must be a number of milliseconds or null, got ${describe(delay)}`);
  }
  return runWithin(delay ?? null, true, body);
}

/** As `timeout()`, with the deadline `when` given on the loop's clock (`loop.time()`). */
export function timeoutAt<T>(when: number | null, body: (cm: Timeout) => Coro<T>): Coro<T> {
  if (when !== null && when !== undefined && (typeof when !== 'number' || Number.isNaN(when))) {
    throw new TypeError(`when must be a loop time in ms or null, got ${describe(when)}`);
  }
  return runWithin(when ?? null, false, body);
}

function* runWithin<T>(value: number | null, relative: boolean, body: (cm: Timeout) => Coro<T>): Coro<T> {
  if (typeof body !== 'function') throw new TypeError(`body must be a generator function, got ${describe(body)}`);
  const task = currentTask();
  if (task === null) throw new Error('timeout() must run inside a task (yield* it from a coroutine the loop runs)');
  const when = value === null ? null : relative ? getRunningLoop().time() + value : value;
  const cancellingBefore = task.cancelling();
  const cm = new Timeout(task, when);
  let result: T;
  try {
    result = yield* body(cm);
  } catch (error) {
    throw cm._exit(error, cancellingBefore);
  }
  const replaced = cm._exit(NO_ERROR, cancellingBefore);
  if (replaced !== NO_ERROR) throw replaced;
  return result;
}
