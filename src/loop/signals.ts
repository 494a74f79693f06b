// Signal handlers as ordinary loop callbacks. The native selector's handler
// (process-wide, async-signal-safe) only writes the signal number into the
// selector's wake-up pipe; that makes a blocked select return, and the loop
// then asks which signals came and queues their callbacks. So a callback
// never runs inside the signal handler, and runs even while the loop is
// blocked in select.
//
// The native watch and its coexistence with Node's process.on listeners are
// in ../signal-watches.ts, shared with SignalReader.
import type { SelectorHooks } from '../loop-interface.js';
import { SignalWatches } from '../signal-watches.js';
import type { Handle, Runnable } from './timers.js';

export { signalNumber, SignalWatches, type SignalTarget } from '../signal-watches.js';

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
