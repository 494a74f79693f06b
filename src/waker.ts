// Waker: mio's Waker (smol-rs/polling's notify) as a FileObject. Register
// it for EVENT_READ with any Selector; wake() from this or any other
// thread makes that selector's select return with the Waker readable.
// The fds are owned here: closed once by close(), by the finalizer if the
// Waker is garbage-collected unclosed, or when its worker thread ends.
import { errorFromErrno } from './errors.js';
import { native } from './native.js';
import { checkFd } from './validate.js';

const calls = native.waker;

const unclosed = new FinalizationRegistry<[number, number]>(([readFd, writeFd]) => {
  native.socket.close(readFd);
  if (writeFd !== readFd) native.socket.close(writeFd);
  process.emitWarning(`unclosed Waker (fd ${readFd}) was garbage-collected; call close()`, {
    type: 'ResourceWarning', code: 'NS_UNCLOSED_WAKER',
  });
});

interface Fds {
  readFd: number;  // -1 for a Waker made by fromFd
  writeFd: number;
  owned: boolean;
}

function openFds(forcePipe: boolean): Fds {
  const fds = calls.open(forcePipe);
  if (typeof fds === 'number') throw errorFromErrno(-fds, forcePipe ? 'pipe' : 'eventfd');
  return { readFd: fds[0], writeFd: fds[1], owned: true };
}

// What the next `new Waker()` is built on, when fromFd or createPipeWaker
// (not the public constructor) calls it.
let nextFds: Fds | null = null;

/**
 * A wake-up a selector can watch: `fileno()` becomes readable after
 * `wake()` and stays so until `drain()`. Wake-ups coalesce. To wake from
 * another worker thread, post it `remoteFd` and call
 * `Waker.fromFd(remoteFd).wake()` there; close that side before this one,
 * since a closed fd's number can be reused.
 */
export class Waker {
  #readFd: number;
  #writeFd: number;
  readonly #owned: boolean;
  #closed = false;

  constructor() {
    const fds = nextFds ?? openFds(false);
    nextFds = null;
    this.#readFd = fds.readFd;
    this.#writeFd = fds.writeFd;
    this.#owned = fds.owned;
    if (fds.owned) unclosed.register(this, [fds.readFd, fds.writeFd], this);
  }

  /**
   * A Waker that writes to `fd`, a `remoteFd` posted from another thread:
   * it can only `wake()`, and its `close()` leaves the fd open.
   */
  static fromFd(fd: number): Waker {
    checkFd(fd, 'fd');
    const rc = calls.check(fd);
    if (rc < 0) throw errorFromErrno(-rc, 'fcntl');
    nextFds = { readFd: -1, writeFd: fd, owned: false };
    return new Waker();
  }

  /** The fd to register for EVENT_READ; -1 once closed. */
  fileno(): number {
    this.#ownedOnly('fileno');
    return this.#closed ? -1 : this.#readFd;
  }

  /** What another thread writes to (give it to `Waker.fromFd` there); -1 once closed. */
  get remoteFd(): number {
    return this.#closed ? -1 : this.#writeFd;
  }

  /**
   * Makes `fileno()` readable, if it is not already. Safe from any thread.
   * Every call writes (none is skipped as already pending), so a selector
   * watching in an edge mode sees each one.
   */
  wake(): void {
    if (this.#closed) throw new Error('wake() on a closed Waker');
    const rc = calls.wake(this.#writeFd);
    if (rc < 0) throw errorFromErrno(-rc, 'write');
  }

  /** Consumes every pending wake-up; true if there were any. */
  drain(): boolean {
    this.#ownedOnly('drain');
    if (this.#closed) throw new Error('drain() on a closed Waker');
    const rc = calls.drain(this.#readFd);
    if (rc < 0) throw errorFromErrno(-rc, 'read');
    return rc === 1;
  }

  /** Closes the fds this Waker owns (none for one made by fromFd). Safe to call twice. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (!this.#owned) return;
    unclosed.unregister(this);
    native.socket.close(this.#readFd);
    if (this.#writeFd !== this.#readFd) native.socket.close(this.#writeFd);
    this.#readFd = this.#writeFd = -1;
  }

  [Symbol.dispose](): void {
    this.close();
  }

  #ownedOnly(method: string): void {
    if (!this.#owned) {
      throw new Error(`${method}() is not available on a Waker made by Waker.fromFd: it can only wake()`);
    }
  }
}

/** @internal A Waker on a pipe even where eventfd exists, so tests prove the other platforms' path. */
export function createPipeWaker(): Waker {
  nextFds = openFds(true);
  return new Waker();
}
