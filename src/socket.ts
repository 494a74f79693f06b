// Socket: Python's `socket.socket` for TCP, UDP and Unix sockets. Blocking
// by default, as in Python; non-blocking operations that would block throw
// BlockingIOError. The fd is owned here: closed once by close(), or by the
// finalizer if the Socket is garbage-collected unclosed.
import { debuglog } from 'node:util';

import { type Address, type AddressOf, familyName, resolveAddress, unixPath } from './address.js';
import { AF_INET, AF_UNIX, MSG_PEEK, SOCK_DGRAM, SOCK_STREAM, SOMAXCONN } from './constants.js';
import { errno as ERRNO, errorFromErrno, OSError } from './errors.js';
import { native, type NativeAddress } from './native.js';
import { recvBuffer, takeReceived } from './recv-buffer.js';
import { checkBytes, checkFd, checkInt, describe, INT32_MAX } from './validate.js';

export { type Address, type AddressOf, resolveAddress } from './address.js';

const sys = native.socket;

// Closes the fd of a Socket that was dropped without close(); the token is
// the fd, unregistered by close()/detach(), so no fd is closed twice. With
// NODE_DEBUG=native-selectors the held value also has the stack of the
// constructor call, as the warning's own stack only shows the finalizer.
const recordCreation = debuglog('native-selectors').enabled;
const unclosed = new FinalizationRegistry<number | { fd: number; stack: string | undefined }>((held) => {
  const { fd, stack } = typeof held === 'number' ? { fd: held, stack: undefined } : held;
  sys.close(fd);
  process.emitWarning(`unclosed Socket (fd ${fd}) was garbage-collected; call close()`, {
    type: 'ResourceWarning', code: 'NS_UNCLOSED_SOCKET',
    detail: stack?.replace(/^Error\n/, 'The Socket was created\n') ??
      'Run with NODE_DEBUG=native-selectors to see where it was created.',
  });
});

// Event loops waiting on sockets hear of a close or detach first, so a task
// parked on a socket that another task closes is woken with an error rather
// than left waiting on an fd the kernel has silently dropped. Kept per
// socket and weakly: nothing here holds a socket or a loop alive.
/** Told just before a watched Socket's fd is closed or detached (for the loop; not exported from the package). */
export interface CloseWatcher {
  socketClosing(sock: Socket): void;
}

const closeWatchers = new WeakMap<Socket, Set<WeakRef<CloseWatcher>>>();

/** For the event loop: `watcher` hears of `sock`'s close or detach until removed. */
export function addCloseWatcher(sock: Socket, watcher: WeakRef<CloseWatcher>): void {
  let watchers = closeWatchers.get(sock);
  if (watchers === undefined) closeWatchers.set(sock, (watchers = new Set()));
  watchers.add(watcher);
}

/** For the event loop: stops telling `watcher` of `sock`'s close. */
export function removeCloseWatcher(sock: Socket, watcher: WeakRef<CloseWatcher>): void {
  closeWatchers.get(sock)?.delete(watcher);
}

function notifyClosing(sock: Socket): void {
  const watchers = closeWatchers.get(sock);
  if (watchers === undefined) return;
  closeWatchers.delete(sock);
  for (const watcher of watchers) watcher.deref()?.socketClosing(sock);
}

/**
 * Bytes a loop already took from the kernel for a socket and nobody has read
 * yet (the io_uring mode's multishot receive reads ahead). The socket's own
 * receives return them first, so handing a socket from the loop to plain
 * `recv()` or an `addReader` callback loses nothing. (For the loop; not
 * exported from the package.)
 */
export interface Unread {
  /** True while bytes (or a received error) wait to be read. */
  readonly unread: boolean;
  /** Takes up to `length` bytes into `out` at 0, or into a new Buffer when `out` is null. */
  take(out: Uint8Array | null, length: number, peek: boolean): number | Buffer;
}

const nativeEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1 ? 'LE' : 'BE';

function fail(rc: number, syscall: string): never {
  throw errorFromErrno(-rc, syscall);
}

// Python's message for a fileno that is not an open socket, naming it.
function notASocket(fd: number, rc: number): OSError {
  return new OSError(-rc, `${native.strerror(-rc)}: fileno ${fd} is not an open socket`);
}

function toAddress(value: NativeAddress): Address {
  return value === null ? '' : value;
}

/**
 * A network socket, as Python's `socket.socket`. `F` is its address family
 * as the type system knows it: a `Socket<typeof AF_INET>` (what
 * `new Socket(AF_INET)` makes) has `[host, port]` addresses, a
 * `Socket<typeof AF_UNIX>` path strings; a plain `Socket` either.
 *
 * @example
 * ```ts
 * const server = new Socket(AF_INET, SOCK_STREAM);
 * server.bind(['127.0.0.1', 0]);
 * server.listen();
 * const [, port] = server.getsockname(); // [host, port]: no cast needed
 * const client = createConnection(['127.0.0.1', port]);
 * const [conn] = server.accept();
 * client.sendall(Buffer.from('hi'));
 * conn.recv(1024); // <Buffer 68 69>
 * conn.close(); client.close(); server.close();
 * ```
 */
export class Socket<F extends number = number> {
  /** The address family: AF_INET, AF_INET6 or AF_UNIX. */
  readonly family: F;
  /** SOCK_STREAM or SOCK_DGRAM. */
  readonly type: number;
  /** The protocol number, usually 0. */
  readonly proto: number;
  #fd: number;
  /**
   * @internal What a loop read ahead for this socket, if anything (see
   * Unread). Weak while the loop is open: a socket must not keep a loop
   * dropped without close() alive; a closed loop leaves a copy (its own deref).
   */
  _unread: { deref(): Unread | undefined } | null = null;

  /**
   * Creates a socket (AF_INET, SOCK_STREAM by default), or (with `fileno`)
   * takes ownership of an existing one, as Python's `socket.socket(family,
   * type, proto, fileno)`: `fileno` must be an open socket (else OSError
   * EBADF or ENOTSOCK), and what is not given is read from it.
   */
  constructor(family?: F, type?: number, proto?: number, fileno?: number) {
    if (family !== undefined) checkInt(family, 'family', 0, INT32_MAX);
    if (type !== undefined) checkInt(type, 'type', 0, INT32_MAX);
    if (proto !== undefined) checkInt(proto, 'proto', 0, INT32_MAX);
    if (fileno === undefined) {
      family ??= AF_INET as number as F;
      type ??= SOCK_STREAM;
      proto ??= 0;
      const fd = sys.socket(family, type, proto);
      if (fd < 0) fail(fd, 'socket');
      this.#fd = fd;
    } else {
      const fd = checkFd(fileno, 'fileno');
      if (family === undefined || type === undefined || proto === undefined) {
        const found = sys.sockInfo(fd);
        if (typeof found === 'number') throw notASocket(fd, found);
        family ??= found[0] as F;
        type ??= found[1];
        proto ??= found[2];
      }
      const rc = sys.adopt(fd);
      if (rc < 0) throw notASocket(fd, rc);
      this.#fd = fd;
    }
    this.family = family;
    this.type = type;
    this.proto = proto;
    unclosed.register(this, recordCreation ? { fd: this.#fd, stack: new Error().stack } : this.#fd, this);
  }

  #open(syscall: string): number {
    if (this.#fd < 0) throw new OSError(ERRNO.EBADF!, 'Bad file descriptor: the socket is closed', syscall);
    return this.#fd;
  }

  /** The fd, or -1 once closed or detached. */
  fileno(): number {
    return this.#fd;
  }

  /** Blocking (true, the default) or non-blocking (false) mode. */
  setBlocking(flag: boolean): void {
    if (typeof flag !== 'boolean') throw new TypeError(`flag must be a boolean, got ${describe(flag)}`);
    const rc = sys.setBlocking(this.#open('fcntl'), flag);
    if (rc < 0) fail(rc, 'fcntl');
  }

  /** True when operations block the thread until they can complete. */
  getBlocking(): boolean {
    const rc = sys.getBlocking(this.#open('fcntl'));
    if (rc < 0) fail(rc, 'fcntl');
    return rc === 1;
  }

  /** Sets a socket option: an integer, or raw bytes for structured options. */
  setsockopt(level: number, name: number, value: number | boolean | Uint8Array): void {
    const fd = this.#open('setsockopt');
    checkInt(level, 'level', 0, INT32_MAX);
    checkInt(name, 'name', 0, INT32_MAX);
    let bytes: Uint8Array;
    if (typeof value === 'number' || typeof value === 'boolean') {
      const n = typeof value === 'boolean' ? Number(value) : checkInt(value, 'value', -0x80000000, INT32_MAX);
      bytes = new Uint8Array(new Int32Array([n]).buffer);
    } else if (value instanceof Uint8Array) {
      bytes = value;
    } else {
      throw new TypeError(`value must be an integer or a Buffer, got ${describe(value)}`);
    }
    const rc = sys.setsockopt(fd, level, name, bytes);
    if (rc < 0) fail(rc, 'setsockopt');
  }

  /** Reads a socket option: an integer, or `buflen` raw bytes when given. */
  getsockopt(level: number, name: number, buflen?: number): number | Buffer {
    const fd = this.#open('getsockopt');
    checkInt(level, 'level', 0, INT32_MAX);
    checkInt(name, 'name', 0, INT32_MAX);
    if (buflen !== undefined) checkInt(buflen, 'buflen', 0, 1024);
    const out = sys.getsockopt(fd, level, name, buflen ?? 4);
    if (typeof out === 'number') fail(out, 'getsockopt');
    if (buflen !== undefined) return out;
    // Some options are a byte or a short on some kernels: widen what came.
    if (out.length >= 4) return nativeEndian === 'LE' ? out.readInt32LE(0) : out.readInt32BE(0);
    return out.length === 0 ? 0 : out.readUIntLE(0, out.length);
  }

  /** Binds to a local address (`['127.0.0.1', 0]` picks a free port). */
  bind(address: Address): void {
    const fd = this.#open('bind');
    const rc = sys.bind(fd, resolveAddress(this.family, this.type, address));
    if (rc < 0) this.#fail(rc, 'bind', address);
  }

  // As Python's OSError.filename: an AF_UNIX error names its path.
  #fail(rc: number, syscall: string, address: unknown): never {
    throw errorFromErrno(-rc, syscall, (this.family as number) === AF_UNIX ? unixPath(address) : undefined);
  }

  /** Starts accepting connections; `backlog` defaults to min(SOMAXCONN, 128) as in Python. */
  listen(backlog?: number): void {
    const fd = this.#open('listen');
    const n = backlog === undefined ? Math.min(SOMAXCONN, 128) : checkInt(backlog, 'backlog', 0, INT32_MAX);
    const rc = sys.listen(fd, n);
    if (rc < 0) fail(rc, 'listen');
  }

  /** Accepts a connection: a new blocking Socket and the peer's address. */
  accept(): [Socket<F>, Address] {
    const out = sys.accept(this.#open('accept'));
    if (typeof out === 'number') fail(out, 'accept');
    return [new Socket(this.family, this.type, this.proto, out[0]), toAddress(out[1])];
  }

  /** Connects; on a non-blocking socket an unfinished connect throws BlockingIOError. */
  connect(address: Address): void {
    const rc = this.connectEx(address);
    if (rc !== 0) this.#fail(-rc, 'connect', address);
  }

  /** Connects and returns the errno instead of throwing (0 when connected). */
  connectEx(address: Address): number {
    const fd = this.#open('connect');
    const rc = sys.connect(fd, resolveAddress(this.family, this.type, address));
    return rc < 0 ? -rc : 0; // never -0
  }

  /** Receives up to `bufsize` bytes; an empty Buffer means the peer closed (EOF). */
  recv(bufsize: number, flags = 0): Buffer {
    const fd = this.#open('recv');
    checkInt(bufsize, 'bufsize', 0, INT32_MAX);
    checkInt(flags, 'flags', 0, INT32_MAX);
    const unread = this._unread?.deref();
    if (unread?.unread) return unread.take(null, bufsize, (flags & MSG_PEEK) !== 0) as Buffer;
    const buf = recvBuffer(bufsize);
    const n = sys.recvInto(fd, buf, 0, bufsize, flags);
    if (n < 0) fail(n, 'recv');
    return takeReceived(buf, n, bufsize);
  }

  /** Receives into `buffer` (at most `nbytes`, default all of it); returns the count. */
  recvInto(buffer: Uint8Array, nbytes = 0, flags = 0): number {
    const fd = this.#open('recv');
    checkBytes(buffer, 'buffer');
    checkInt(nbytes, 'nbytes', 0, INT32_MAX);
    checkInt(flags, 'flags', 0, INT32_MAX);
    if (nbytes > buffer.byteLength) {
      throw new RangeError(`nbytes (${nbytes}) is larger than buffer (${buffer.byteLength} bytes)`);
    }
    const length = nbytes === 0 ? buffer.byteLength : nbytes;
    const unread = this._unread?.deref();
    if (unread?.unread) return unread.take(buffer, length, (flags & MSG_PEEK) !== 0) as number;
    const n = sys.recvInto(fd, buffer, 0, length, flags);
    if (n < 0) fail(n, 'recv');
    return n;
  }

  /** Receives a datagram (or stream bytes) and the sender's address. */
  recvfrom(bufsize: number, flags = 0): [Buffer, Address] {
    const fd = this.#open('recvfrom');
    checkInt(bufsize, 'bufsize', 0, INT32_MAX);
    checkInt(flags, 'flags', 0, INT32_MAX);
    // Only stream sockets read ahead; the kernel names no sender for them either.
    const unread = this._unread?.deref();
    if (unread?.unread) return [unread.take(null, bufsize, (flags & MSG_PEEK) !== 0) as Buffer, ''];
    const buf = Buffer.allocUnsafe(bufsize);
    const out = sys.recvFrom(fd, buf, 0, bufsize, flags);
    if (typeof out === 'number') fail(out, 'recvfrom');
    return [Buffer.from(buf.subarray(0, out[0])), toAddress(out[1])];
  }

  /** Sends what the kernel takes now; returns the count (may be partial). */
  send(data: Uint8Array, flags = 0): number {
    const fd = this.#open('send');
    checkBytes(data, 'data');
    checkInt(flags, 'flags', 0, INT32_MAX);
    const n = sys.send(fd, data, 0, data.byteLength, flags);
    if (n < 0) fail(n, 'send');
    return n;
  }

  /**
   * Sends all of `data`. On a non-blocking socket a full kernel buffer
   * throws BlockingIOError part-way, as in Python; use the loop's
   * `sockSendall` to wait instead.
   */
  sendall(data: Uint8Array, flags = 0): void {
    const fd = this.#open('send');
    checkBytes(data, 'data');
    checkInt(flags, 'flags', 0, INT32_MAX);
    let offset = 0;
    while (offset < data.byteLength) {
      const n = sys.send(fd, data, offset, data.byteLength - offset, flags);
      if (n < 0) fail(n, 'send');
      offset += n;
    }
  }

  /** Sends a datagram to `address`; returns the count. */
  sendto(data: Uint8Array, address: Address, flags = 0): number {
    const fd = this.#open('sendto');
    checkBytes(data, 'data');
    checkInt(flags, 'flags', 0, INT32_MAX);
    const n = sys.sendTo(fd, data, 0, data.byteLength, flags, resolveAddress(this.family, this.type, address));
    if (n < 0) this.#fail(n, 'sendto', address);
    return n;
  }

  /** Shuts down reading (SHUT_RD), writing (SHUT_WR) or both (SHUT_RDWR). */
  shutdown(how: number): void {
    const fd = this.#open('shutdown');
    checkInt(how, 'how', 0, 2);
    const rc = sys.shutdown(fd, how);
    if (rc < 0) fail(rc, 'shutdown');
  }

  /** The local address: `[host, port]` for IP (port 0 before bind), a path for AF_UNIX. */
  getsockname(): AddressOf<F> {
    const out = sys.getsockname(this.#open('getsockname'));
    if (typeof out === 'number') fail(out, 'getsockname');
    return toAddress(out) as AddressOf<F>;
  }

  /** The peer's address; throws OSError (ENOTCONN) when not connected. */
  getpeername(): AddressOf<F> {
    const out = sys.getpeername(this.#open('getpeername'));
    if (typeof out === 'number') fail(out, 'getpeername');
    return toAddress(out) as AddressOf<F>;
  }

  /** Closes the fd. Safe to call again; `fileno()` is -1 afterwards. */
  close(): void {
    const fd = this.#fd;
    if (fd < 0) return;
    notifyClosing(this);
    this.#fd = -1;
    unclosed.unregister(this);
    const rc = sys.close(fd);
    // As Python: a reset peer is no reason to fail a close.
    if (rc < 0 && -rc !== ERRNO.ECONNRESET) fail(rc, 'close');
  }

  /** Gives up ownership of the fd without closing it; returns it. */
  detach(): number {
    const fd = this.#fd;
    if (fd >= 0) notifyClosing(this);
    this.#fd = -1;
    unclosed.unregister(this);
    if (fd >= 0) sys.disown(fd);
    return fd;
  }

  /** Calls `close()`, so that `using` closes it at the end of the block. */
  [Symbol.dispose](): void {
    this.close();
  }

  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return `<Socket fd=${this.#fd}, family=${familyName(this.family)}, ` +
      `type=${this.type === SOCK_STREAM ? 'SOCK_STREAM' : this.type === SOCK_DGRAM ? 'SOCK_DGRAM' : this.type}>`;
  }
}
