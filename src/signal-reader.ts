// SignalReader: Python's signal.set_wakeup_fd as a FileObject. Register it
// for EVENT_READ with any Selector and a loop blocked in select() returns
// the moment one of its signals arrives, then read() says which.
//
// It is the loop's signal watch (src/loop/signals.ts) with a pipe of its own
// in place of a selector's: the native handler writes each delivery's number
// into the pipe, one byte per delivery, and chains to the handler below it,
// so Node's process.on listeners and loops watching the same signal all keep
// working, in any order, and the last one to go restores the disposition.
import { errorFromErrno } from './errors.js';
import { native, type NativeSignalPipe } from './native.js';
import { SignalWatches, signalName, signalNumber } from './signal-watches.js';
import { describe } from './validate.js';

const unclosed = new FinalizationRegistry<{ pipe: NativeSignalPipe; watches: SignalWatches; fd: number }>(
  ({ pipe, watches, fd }) => {
    watches.releaseAll();
    pipe.close();
    process.emitWarning(`unclosed SignalReader (fd ${fd}) was garbage-collected; call close()`, {
      type: 'ResourceWarning', code: 'NS_UNCLOSED_SIGNAL_READER',
    });
  },
);

/** Each signal's number and the name read() reports for it, from the `signals` argument. */
function parseSignals(signals: unknown): Map<number, string> {
  if (!Array.isArray(signals)) {
    throw new TypeError(`signals must be an array of signal names such as ['SIGINT'], got ${describe(signals)}`);
  }
  if (signals.length === 0) throw new RangeError('signals must name at least one signal, got []');
  const parsed = new Map<number, string>();
  signals.forEach((signal: unknown, i) => {
    let signo: number;
    try {
      signo = signalNumber(signal);
    } catch (error) {
      const message = `signals[${i}]: ${(error as Error).message}`;
      throw error instanceof TypeError ? new TypeError(message) : new RangeError(message);
    }
    if (parsed.has(signo)) return;
    // As the caller spelled it ('SIGIOT' stays so), with the SIG prefix.
    if (typeof signal !== 'string') parsed.set(signo, signalName(signo)!);
    else parsed.set(signo, signal.startsWith('SIG') ? signal : `SIG${signal}`);
  });
  return parsed;
}

/**
 * Signals as a FileObject, as Python's `signal.set_wakeup_fd`: `fileno()`
 * is readable while a signal is pending, and `read()` returns the signals
 * received since the last read, oldest first. While it is open, its signals
 * no longer end the process (unless a handler below, such as a Node
 * listener, does); `close()` gives each its previous disposition back.
 *
 * `signals` holds names ('SIGINT' or 'INT') or numbers. Each delivery is
 * reported once. The kernel itself merges a signal sent
 * again before the first was delivered, and that merged delivery is one
 * entry; nothing is merged here.
 */
export class SignalReader {
  readonly #pipe: NativeSignalPipe;
  readonly #watches: SignalWatches;
  readonly #names: Map<number, string>;
  #fd: number;

  constructor(signals: readonly (string | number)[]) {
    this.#names = parseSignals(signals);
    this.#pipe = new native.NativeSignalPipe();
    this.#fd = this.#pipe.fileno();
    this.#watches = new SignalWatches(this.#pipe);
    try {
      for (const signo of this.#names.keys()) this.#watches.add(signo);
    } catch (error) {
      this.#watches.releaseAll();
      this.#pipe.close();
      throw error;
    }
    unclosed.register(this, { pipe: this.#pipe, watches: this.#watches, fd: this.#fd }, this);
  }

  /** The fd to register for EVENT_READ; -1 once closed. */
  fileno(): number {
    return this.#fd;
  }

  /** The signals received since the last read, oldest first (empty if none). */
  read(): string[] {
    if (this.#fd < 0) throw new Error('read() on a closed SignalReader');
    const arrived = this.#pipe.read();
    if (typeof arrived === 'number') throw errorFromErrno(-arrived, 'read');
    const names: string[] = [];
    for (const signo of arrived) {
      const name = this.#names.get(signo);
      if (name !== undefined) names.push(name);
    }
    return names;
  }

  /** Stops watching, restores each signal's previous disposition and closes the fd. Safe to call twice. */
  close(): void {
    if (this.#fd < 0) return;
    this.#fd = -1;
    unclosed.unregister(this);
    this.#watches.releaseAll();
    this.#pipe.close();
  }

  /** Calls `close()`, so that `using` closes it at the end of the block. */
  [Symbol.dispose](): void {
    this.close();
  }
}
