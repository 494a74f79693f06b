// Signal handlers as ordinary loop callbacks. The native selector's handler
// (process-wide, async-signal-safe) only writes the signal number into the
// selector's wake-up pipe; that makes a blocked select return, and the loop
// then asks which signals came and queues their callbacks. So a callback
// never runs inside the signal handler, and runs even while the loop is
// blocked in select.
import { constants } from 'node:os';

import { errorFromErrno } from '../errors.js';
import type { SelectorHooks } from '../loop-interface.js';
import { describe } from '../validate.js';
import type { Handle, Runnable } from './timers.js';

const byName = constants.signals as Record<string, number>;
// SIGKILL and SIGSTOP cannot be caught; a handler that returns from a real
// SIGSEGV, SIGBUS, SIGFPE or SIGILL re-runs the faulting instruction forever.
const uncatchable = new Set(['SIGKILL', 'SIGSTOP', 'SIGSEGV', 'SIGBUS', 'SIGFPE', 'SIGILL'].map((n) => byName[n]));

/** A signal's number from its name ('SIGINT' or 'INT') or number; throws on anything else. */
export function signalNumber(signal: unknown): number {
  let signo: number | undefined;
  if (typeof signal === 'string') {
    signo = byName[signal] ?? byName[`SIG${signal}`];
    if (signo === undefined) throw new RangeError(`unknown signal: ${describe(signal)}`);
  } else if (typeof signal === 'number') {
    if (!Number.isInteger(signal) || !Object.values(byName).includes(signal)) {
      throw new RangeError(`unknown signal number: ${describe(signal)}`);
    }
    signo = signal;
  } else {
    throw new TypeError(`signal must be a name such as 'SIGINT' or a number, got ${describe(signal)}`);
  }
  if (uncatchable.has(signo)) throw new RangeError(`signal ${describe(signal)} cannot be handled on the loop`);
  return signo;
}

/** The loop's signal number -> callback table, kept in step with the native watches. */
export class SignalHandlers {
  readonly #hooks: SelectorHooks;
  readonly #handlers = new Map<number, Handle>();

  constructor(hooks: SelectorHooks) {
    this.#hooks = hooks;
  }

  get size(): number {
    return this.#handlers.size;
  }

  /** Installs (or replaces) the callback for `signo`. */
  add(signo: number, handle: Handle): void {
    const previous = this.#handlers.get(signo);
    if (previous === undefined) {
      const rc = this.#hooks.watchSignal(signo);
      if (rc < 0) throw errorFromErrno(-rc, 'sigaction');
    } else {
      previous.cancel();
    }
    this.#handlers.set(signo, handle);
  }

  /** Removes the callback; the signal's previous disposition comes back. */
  remove(signo: number): boolean {
    const handle = this.#handlers.get(signo);
    if (handle === undefined) return false;
    // Cancelled, so a delivery already queued does not run after removal.
    handle.cancel();
    this.#handlers.delete(signo);
    this.#hooks.unwatchSignal(signo);
    return true;
  }

  /** Queues the callbacks of the signals that arrived since the last call. */
  deliver(enqueue: (item: Runnable) => void): void {
    const arrived = this.#hooks.takeSignals();
    for (let i = 0; i < arrived.length; i++) {
      const handle = this.#handlers.get(arrived[i]!);
      if (handle !== undefined) enqueue(handle);
    }
  }

  removeAll(): void {
    for (const signo of [...this.#handlers.keys()]) this.remove(signo);
  }
}
