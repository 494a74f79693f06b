// Signal handlers as ordinary loop callbacks. The native selector's handler
// (process-wide, async-signal-safe) only writes the signal number into the
// selector's wake-up pipe; that makes a blocked select return, and the loop
// then asks which signals came and queues their callbacks. So a callback
// never runs inside the signal handler, and runs even while the loop is
// blocked in select.
//
// Node's process.on(signal) listeners keep working beside a loop's handler,
// installed in either order: the native handler chains to libuv's (which
// feeds them), and while a loop on the main thread watches a signal it keeps
// a listener of its own on `process`. That listener keeps Node's libuv watch
// of the signal alive, and libuv only touches the disposition when its first
// watch starts (installing its handler over ours) or its last one stops
// (resetting the signal to SIG_DFL, which would kill the process at the
// next one). So a user's first process.on or last removeListener changes
// nothing under the loop. Removing the loop's handler leaves libuv's while
// Node listens, else the disposition the process had before the loop's
// (native/signals.cc records it).
import { constants } from 'node:os';
import { isMainThread } from 'node:worker_threads';

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

// signo -> the native selectors on this thread that watch it. Global, but it
// holds no loop: a loop dropped unclosed is collected and releases its
// watches from its finalizer (SignalWatches.releaseAll).
const watching = new Map<number, Set<SelectorHooks>>();

const nameOf = new Map<number, string>();
for (const [name, signo] of Object.entries(byName)) if (!nameOf.has(signo)) nameOf.set(signo, name);

/**
 * The loop's listener on `process` for each signal it watches (main thread
 * only: Node delivers no signals to a worker's process object). It does
 * nothing; the loop's callbacks run from the native handler.
 */
function eventLoopSignalWatch(): void {}

// Someone removed our listener (process.removeAllListeners(sig)): Node has
// just closed its watch, and libuv reset the signal. Put both back, then our
// handler on top of the one libuv installs.
function onRemoveListener(event: string | symbol, listener: unknown): void {
  if (listener !== eventLoopSignalWatch || typeof event !== 'string') return;
  const signo = byName[event];
  const natives = signo === undefined ? undefined : watching.get(signo);
  if (natives === undefined) return;
  process.on(event, eventLoopSignalWatch);
  for (const native of natives) {
    native.watchSignal(signo!);
    break; // the disposition is process-wide: one reinstall does
  }
}

function watchNative(native: SelectorHooks, signo: number): void {
  // The native handler first, so that it sees (and can restore at the end)
  // the disposition the process had.
  const rc = native.watchSignal(signo);
  if (rc < 0) throw errorFromErrno(-rc, 'sigaction');
  let natives = watching.get(signo);
  if (natives === undefined && isMainThread) {
    const name = nameOf.get(signo)!;
    try {
      process.on(name, eventLoopSignalWatch);
    } catch (error) {
      native.unwatchSignal(signo);
      throw error;
    }
    if (watching.size === 0) process.on('removeListener', onRemoveListener);
    // Node's first listener made libuv install its handler over ours: ours
    // goes back on top, and chains to it.
    native.watchSignal(signo);
  }
  natives ??= new Set();
  watching.set(signo, natives);
  natives.add(native);
}

function unwatchNative(native: SelectorHooks, signo: number): void {
  const natives = watching.get(signo);
  if (natives !== undefined && natives.delete(native) && natives.size === 0) unpin(signo);
  // Then the native side: it restores what is below our handler, or, if a
  // loop on another thread still watches the signal, puts our handler back
  // over the SIG_DFL that libuv may have just set.
  native.unwatchSignal(signo);
}

function unpin(signo: number): void {
  watching.delete(signo);
  if (!isMainThread) return;
  process.removeListener(nameOf.get(signo)!, eventLoopSignalWatch);
  if (watching.size === 0) process.removeListener('removeListener', onRemoveListener);
}

/**
 * The signals one selector watches, apart from the callbacks (which reach
 * the loop): what a loop's finalizer releases when it was dropped unclosed.
 */
export class SignalWatches {
  readonly signals = new Set<number>();
  constructor(readonly native: SelectorHooks) {}

  add(signo: number): void {
    if (this.signals.has(signo)) return;
    watchNative(this.native, signo);
    this.signals.add(signo);
  }

  remove(signo: number): void {
    if (!this.signals.delete(signo)) return;
    unwatchNative(this.native, signo);
  }

  releaseAll(): void {
    for (const signo of [...this.signals]) this.remove(signo);
  }
}

/** The loop's signal number -> callback table, kept in step with the native watches. */
export class SignalHandlers {
  readonly #hooks: SelectorHooks;
  readonly #handlers = new Map<number, Handle>();
  /** What the loop's finalizer must release if the loop is dropped unclosed. */
  readonly watches: SignalWatches;

  constructor(hooks: SelectorHooks) {
    this.#hooks = hooks;
    this.watches = new SignalWatches(hooks);
  }

  get size(): number {
    return this.#handlers.size;
  }

  /** Installs (or replaces) the callback for `signo`. */
  add(signo: number, handle: Handle): void {
    const previous = this.#handlers.get(signo);
    if (previous === undefined) this.watches.add(signo);
    else previous.cancel();
    this.#handlers.set(signo, handle);
  }

  /** Removes the callback; the signal's previous disposition comes back. */
  remove(signo: number): boolean {
    const handle = this.#handlers.get(signo);
    if (handle === undefined) return false;
    // Cancelled, so a delivery already queued does not run after removal.
    handle.cancel();
    this.#handlers.delete(signo);
    this.watches.remove(signo);
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
