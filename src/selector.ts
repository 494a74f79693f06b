// Selector: Python's `selectors` over the native backends. This file owns
// the fd -> key table and all the policy (what is registered, what a
// failure means); the native object only talks to the kernel.
import { errorFromErrno, KeyError } from './errors.js';
import { native, type NativeSelector } from './native.js';
import {
  checkEvents, checkMode, EDGE, fileobjToFd, modeBits, ONESHOT, SelectorMapping,
} from './selector-keys.js';
import { checkTimeout, describe } from './validate.js';

/** Interest in readability. */
export const EVENT_READ = 1;
/** Interest in writability. */
export const EVENT_WRITE = 2;

/** An fd, or anything with a `fileno()` that returns one (a `Socket`). */
export type FileObject = number | {
  /** The fd to watch. */
  fileno(): number;
};

/** The name of a readiness backend. */
export type BackendName = 'epoll' | 'kqueue' | 'poll';

/**
 * When a ready fd is reported, as smol-rs/polling's `PollMode`: `level`
 * (every select while ready), `edge` (once per new readiness, as
 * `EPOLLET`/`EV_CLEAR`), `oneshot` (once, then not until `modify` re-arms
 * it; the fd stays registered), `edge-oneshot` (both).
 */
export type PollMode = 'level' | 'edge' | 'oneshot' | 'edge-oneshot';

/** Options for `Selector.register` and `Selector.modify`. */
export interface RegisterOptions {
  /** The trigger mode: `register` defaults to `'level'`, `modify` keeps the key's. */
  mode?: PollMode;
}

/**
 * What a selector remembers of one registered file object (immutable): `T`
 * is the type of its `data`, `F` of its `fileobj`.
 */
export interface SelectorKey<T = unknown, F extends FileObject = FileObject> {
  /** The file object as it was registered (a `Socket`, a `Waker`, an fd...). */
  readonly fileobj: F;
  /** Its fd. */
  readonly fd: number;
  /** The events it is watched for: `EVENT_READ`, `EVENT_WRITE` or both. */
  readonly events: number;
  /** What the caller attached to it at `register` or `modify`. */
  readonly data: T;
  /** Its trigger mode. */
  readonly mode: PollMode;
}

/** Options for `new Selector()`. */
export interface SelectorOptions {
  /** The readiness backend; defaults to the platform's best. */
  backend?: BackendName;
}

/** The backends this build of the addon has on this platform, best first. */
export const availableBackends: readonly BackendName[] = Object.freeze(native.backends as BackendName[]);

/** The backend `DefaultSelector` uses: epoll on Linux, kqueue on macOS/BSD, else poll. */
export const defaultBackend: BackendName = process.platform === 'linux'
  ? 'epoll'
  : availableBackends.includes('kqueue') ? 'kqueue' : 'poll';

// The native wait, called as `nativeWait.call(handle, ...)`: the prototype
// Node-API builds is in dictionary mode, so `handle.wait(...)` would go
// through the generic LoadIC on every select.
const nativeWait = native.NativeSelector.prototype.wait;

const syscallOf: Record<BackendName, string> = { epoll: 'epoll_ctl', kqueue: 'kevent', poll: 'poll' };
const waitSyscallOf: Record<BackendName, string> = { epoll: 'epoll_wait', kqueue: 'kevent', poll: 'poll' };

// Assigned in Selector's static block, which alone may reach the private members.
let nativeHalf: (selector: Selector<unknown>) => NativeSelector;
let claim: (selector: Selector<unknown>) => SelectorRegistry<unknown>;

/** @internal The native half of an open selector: for src/loop-interface.ts only, never exported. */
export function nativeSelectorOf(selector: Selector<unknown>): NativeSelector {
  return nativeHalf(selector);
}

/**
 * How an EventLoop takes a selector for itself (see #claim): for
 * src/loop-interface.ts only, never exported from the package.
 */
export function claimSelector<T>(selector: Selector<T>): SelectorRegistry<T> {
  return claim(selector as Selector<unknown>) as SelectorRegistry<T>;
}

/** The registration half of a Selector, as its owner (an EventLoop) uses it. */
export interface SelectorRegistry<T> {
  register(fileobj: FileObject, events: number, data: T): SelectorKey<T>;
  modify(fileobj: FileObject, events: number, data: T): SelectorKey<T>;
  unregister(fileobj: FileObject): SelectorKey<T>;
}

/**
 * Waits for I/O readiness on many file objects at once, as Python's
 * `selectors.DefaultSelector` (epoll on Linux, kqueue on macOS/BSD, or
 * poll(2) when asked for). `T` is the type of the keys' `data`, `F` of
 * the file objects registered: with `Selector<Conn, Socket>`, `key.fileobj`
 * is a `Socket`, with no cast.
 *
 * @example
 * ```ts
 * const sel = new Selector<string, Socket>();
 * const [a, b] = socketpair();
 * sel.register(a, EVENT_READ, 'a');
 * b.send(Buffer.from('x'));
 * for (const [key, mask] of sel.select(1000)) {
 *   if (mask & EVENT_READ) console.log(key.data, key.fileobj.recv(1)); // a <Buffer 78>
 * }
 * sel.close(); a.close(); b.close();
 * ```
 */
export class Selector<T = unknown, F extends FileObject = FileObject> {
  /** The backend in use. */
  readonly backend: BackendName;
  /** Whether the `edge` modes work here (poll(2) has none). */
  readonly supportsEdge: boolean;
  #native: NativeSelector | null;
  readonly #keys = new Map<number, SelectorKey<T, F>>();
  // The same keys indexed by fd, for select: an array load instead of a
  // hash lookup per ready fd. Kept dense (filled with undefined up to the
  // highest fd registered, as libuv's watcher table) so it stays a fast array.
  readonly #byFd: Array<SelectorKey<T, F> | undefined> = [];
  #mapping: SelectorMapping<SelectorKey<T, F>> | null;
  // (fd, mask) pairs written by the native wait; grows with the key table
  // (plus one slot for the wake-up pipe), reused by every select.
  #ready = new Int32Array(2 * 64);
  // Set once an EventLoop owns the selector: the loop's data is in every
  // key, so registrations made around it would break it.
  #owned = false;

  constructor(options?: SelectorOptions) {
    if (options !== undefined && (typeof options !== 'object' || options === null)) {
      throw new TypeError(`options must be an object, got ${describe(options)}`);
    }
    const backend = options?.backend ?? defaultBackend;
    if (backend !== 'epoll' && backend !== 'kqueue' && backend !== 'poll') {
      throw new RangeError(`options.backend must be 'epoll', 'kqueue' or 'poll', got ${describe(backend)}`);
    }
    if (!availableBackends.includes(backend)) {
      throw new Error(`the ${backend} backend is not available on this platform (${process.platform}); ` +
        `available: ${availableBackends.join(', ')}`);
    }
    this.backend = backend;
    this.supportsEdge = backend !== 'poll';
    this.#native = new native.NativeSelector(backend);
    this.#mapping = new SelectorMapping(this.#keys);
  }

  #open(): NativeSelector {
    if (this.#native === null) throw new Error('I/O operation on a closed selector');
    return this.#native;
  }

  // The registered key of a file object. A closed Socket's fileno() is -1,
  // so, like CPython, fall back to finding the very object in the table.
  #lookup(fileobj: FileObject): SelectorKey<T, F> {
    let fd: number;
    try {
      fd = fileobjToFd(fileobj);
    } catch (error) {
      if (error instanceof RangeError && typeof fileobj === 'object') {
        for (const key of this.#keys.values()) if (key.fileobj === fileobj) return key;
        throw new KeyError(`${describe(fileobj)} is not registered`);
      }
      throw error;
    }
    const key = this.#keys.get(fd);
    if (key === undefined) throw new KeyError(`${describe(fileobj)} (fd ${fd}) is not registered`);
    return key;
  }

  // A mode the backend cannot do is the caller's mistake, not the kernel's.
  #checkEdge(mode: PollMode | undefined): void {
    if (mode !== undefined && !this.supportsEdge && (modeBits[mode] & EDGE) !== 0) {
      throw new Error(`options.mode '${mode}' is edge-triggered, which the ${this.backend} backend ` +
        `does not support (supportsEdge is false); use 'level' or 'oneshot'`);
    }
  }

  /**
   * Starts watching `fileobj` for `events`, in `options.mode` (default
   * `'level'`); returns its new key.
   */
  register(fileobj: F, events: number, data?: T, options?: RegisterOptions): SelectorKey<T, F> {
    this.#checkNotOwned('register');
    return this.#register(fileobj, events, data, options);
  }

  #register(fileobj: F, events: number, data?: T, options?: RegisterOptions): SelectorKey<T, F> {
    const handle = this.#open();
    checkEvents(events);
    const mode = checkMode(options) ?? 'level';
    this.#checkEdge(mode);
    const fd = fileobjToFd(fileobj);
    if (this.#keys.has(fd)) {
      throw new KeyError(`${describe(fileobj)} (fd ${fd}) is already registered`);
    }
    const rc = handle.add(fd, events, modeBits[mode]);
    if (rc < 0) throw errorFromErrno(-rc, syscallOf[this.backend]);
    const key: SelectorKey<T, F> = Object.freeze({ fileobj, fd, events, data: data as T, mode });
    this.#keys.set(fd, key);
    const byFd = this.#byFd;
    while (byFd.length <= fd) byFd.push(undefined);
    byFd[fd] = key;
    if (2 * (this.#keys.size + 1) > this.#ready.length) {
      this.#ready = new Int32Array(this.#ready.length * 2);
    }
    return key;
  }

  /**
   * Stops watching `fileobj`; returns its key. Works after the fd was closed
   * (the kernel may have forgotten it already; that is not an error).
   */
  unregister(fileobj: FileObject): SelectorKey<T, F> {
    this.#checkNotOwned('unregister');
    return this.#unregister(fileobj);
  }

  #unregister(fileobj: FileObject): SelectorKey<T, F> {
    const handle = this.#open();
    const key = this.#lookup(fileobj);
    this.#keys.delete(key.fd);
    this.#byFd[key.fd] = undefined;
    handle.remove(key.fd, key.events);
    return key;
  }

  /**
   * Changes the events, data and (with `options.mode`; omitted, the key
   * keeps its own) the mode of a registered file object. Changing only
   * `data` makes no system call, except on a oneshot key: any `modify`
   * re-arms it. If the kernel refuses, the file object ends up
   * unregistered, as in CPython.
   */
  modify(fileobj: FileObject, events: number, data?: T, options?: RegisterOptions): SelectorKey<T, F> {
    this.#checkNotOwned('modify');
    return this.#modify(fileobj, events, data, options);
  }

  #modify(fileobj: FileObject, events: number, data?: T, options?: RegisterOptions): SelectorKey<T, F> {
    const handle = this.#open();
    checkEvents(events);
    const given = checkMode(options);
    this.#checkEdge(given);
    const key = this.#lookup(fileobj);
    const mode = given ?? key.mode;
    if (events !== key.events || mode !== key.mode || (modeBits[mode] & ONESHOT) !== 0) {
      const rc = handle.modify(key.fd, key.events, events, modeBits[key.mode], modeBits[mode]);
      if (rc < 0) {
        this.#keys.delete(key.fd);
        this.#byFd[key.fd] = undefined;
        handle.remove(key.fd, key.events);
        throw errorFromErrno(-rc, syscallOf[this.backend]);
      }
    }
    if (events === key.events && data === key.data && mode === key.mode) return key;
    const next: SelectorKey<T, F> = Object.freeze({ fileobj: key.fileobj, fd: key.fd, events, data: data as T, mode });
    this.#keys.set(key.fd, next);
    this.#byFd[key.fd] = next;
    return next;
  }

  /**
   * Waits until some registered file objects are ready, or `timeout` ms pass
   * (`null`/`undefined`: no limit; `<= 0`: just poll). Returns `[key, mask]`
   * pairs, `mask` being the ready subset of `key.events`.
   */
  select(timeout?: number | null): Array<[SelectorKey<T, F>, number]> {
    const handle = this.#open();
    const ms = checkTimeout(timeout, 'timeout');
    const ready = this.#ready;
    const n = nativeWait.call(handle, ms, ready);
    if (n < 0) throw errorFromErrno(-n, waitSyscallOf[this.backend]);
    const result: Array<[SelectorKey<T, F>, number]> = [];
    const byFd = this.#byFd;
    for (let i = 0; i < 2 * n; i += 2) {
      const key = byFd[ready[i]!];
      if (key !== undefined) result.push([key, ready[i + 1]! & key.events]);
    }
    return result;
  }

  /** The key of a registered file object; throws `KeyError` if there is none. */
  getKey(fileobj: FileObject): SelectorKey<T, F> {
    this.#open();
    return this.#lookup(fileobj);
  }

  /** A live, read-only fd -> key map; `null` once the selector is closed. */
  getMap(): ReadonlyMap<number, SelectorKey<T, F>> | null {
    return this.#mapping;
  }

  /** The epoll/kqueue fd (to nest this selector in another), or -1 for poll. */
  fileno(): number {
    return this.#open().fileno();
  }

  /** Releases the kernel object and forgets every key. Safe to call twice. */
  close(): void {
    if (this.#native === null) return;
    this.#native.close();
    this.#native = null;
    this.#keys.clear();
    this.#byFd.length = 0;
    this.#mapping = null;
  }

  /** Calls `close()`, so that `using` closes it at the end of the block. */
  [Symbol.dispose](): void {
    this.close();
  }

  #checkNotOwned(method: string): void {
    if (!this.#owned) return;
    this.#open();
    throw new Error(`selector.${method}(): this selector is owned by an EventLoop, which registers its own ` +
      'fds on it; watch an fd through the loop instead (loop.addReader()/loop.addWriter(), or loop.sockRecv() ' +
      'and friends for sockets), or use a Selector of your own');
  }

  /**
   * @internal Makes an EventLoop the selector's one owner: it must have
   * nothing registered, and from now on only the returned registry changes
   * its registrations.
   */
  #claim(): SelectorRegistry<T> {
    this.#open();
    if (this.#owned) throw new Error('options.selector is already owned by another EventLoop; give each loop its own Selector');
    if (this.#keys.size > 0) {
      throw new Error(`options.selector has ${this.#keys.size} file object(s) registered; an EventLoop needs a ` +
        'selector with nothing registered, as it owns every registration (unregister them first; to watch an ' +
        'fd on the loop, use loop.addReader()/loop.addWriter())');
    }
    this.#owned = true;
    return {
      register: (fileobj, events, data) => this.#register(fileobj as F, events, data),
      modify: (fileobj, events, data) => this.#modify(fileobj, events, data),
      unregister: (fileobj) => this.#unregister(fileobj),
    };
  }

  static {
    nativeHalf = (selector) => selector.#open();
    claim = (selector) => selector.#claim();
  }
}

/** A selector on epoll(7) (Linux). */
export class EpollSelector<T = unknown, F extends FileObject = FileObject> extends Selector<T, F> {
  constructor() {
    super({ backend: 'epoll' });
  }
}

/** A selector on kqueue(2) (macOS, BSD; Linux with libkqueue). */
export class KqueueSelector<T = unknown, F extends FileObject = FileObject> extends Selector<T, F> {
  constructor() {
    super({ backend: 'kqueue' });
  }
}

/** A selector on poll(2): any POSIX system. */
export class PollSelector<T = unknown, F extends FileObject = FileObject> extends Selector<T, F> {
  constructor() {
    super({ backend: 'poll' });
  }
}

/** The platform's best selector: `Selector` with its default backend. */
export { Selector as DefaultSelector };
