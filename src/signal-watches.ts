// Watching a signal natively without being killed or overridden by Node:
// the machinery behind a loop's signal handlers (src/loop/signals.ts) and
// SignalReader. The native handler (native/signals.cc, process-wide,
// async-signal-safe) writes the signal number into each watching pipe (a
// selector's wake-up pipe, or a SignalReader's) and chains to the handler
// below it.
//
// Node's process.on(signal) listeners keep working beside such a watch,
// installed in either order: the native handler chains to libuv's (which
// feeds them), and while anything on the main thread watches a signal it
// keeps a listener of its own on `process`. That listener keeps Node's libuv
// watch of the signal alive, and libuv only touches the disposition when its
// first watch starts (installing its handler over ours) or its last one
// stops (resetting the signal to SIG_DFL, which would kill the process at
// the next one). So a user's first process.on or last removeListener
// changes nothing under us. Removing the last watch leaves libuv's handler
// while Node listens, else the disposition the process had before the first
// (native/signals.cc records it).
import { constants } from 'node:os';
import { isMainThread } from 'node:worker_threads';

import { errorFromErrno } from './errors.js';
import { describe } from './validate.js';

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
  if (uncatchable.has(signo)) throw new RangeError(`signal ${describe(signal)} cannot be handled`);
  return signo;
}

/** What watches a signal natively: a loop's selector, or a SignalReader's pipe. */
export interface SignalTarget {
  /** Routes `signo` into this target's pipe; 0, or -errno. */
  watchSignal(signo: number): number;
  /** Stops that; the last watch gone, the signal's previous disposition comes back. */
  unwatchSignal(signo: number): void;
}

// signo -> the native selectors and SignalReader pipes on this thread that
// watch it. Global, but it holds no loop or reader: one dropped unclosed is
// collected and releases its watches from its finalizer
// (SignalWatches.releaseAll).
const watching = new Map<number, Set<SignalTarget>>();

const nameOf = new Map<number, string>();
for (const [name, signo] of Object.entries(byName)) if (!nameOf.has(signo)) nameOf.set(signo, name);

/** A signal number's name ('SIGINT'). */
export function signalName(signo: number): string | undefined {
  return nameOf.get(signo);
}

/**
 * The listener on `process` for each signal watched here (main thread
 * only: Node delivers no signals to a worker's process object). It does
 * nothing; the loop's callbacks and SignalReaders are fed by the native
 * handler. (The name is what users see in process.listeners().)
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

function watchNative(native: SignalTarget, signo: number): void {
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

function unwatchNative(native: SignalTarget, signo: number): void {
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
 * The signals one selector (or SignalReader) watches, apart from the
 * callbacks (which reach the loop): what a loop's finalizer releases when it
 * was dropped unclosed.
 */
export class SignalWatches {
  readonly signals = new Set<number>();
  constructor(readonly native: SignalTarget) {}

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
