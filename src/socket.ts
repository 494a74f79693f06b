// Socket: Python's `socket.socket` for TCP, UDP and Unix sockets. Blocking
// by default, as in Python; non-blocking operations that would block throw
// BlockingIOError. The fd is owned here: closed once by close(), or by the
// finalizer if the Socket is garbage-collected unclosed.
import { debuglog } from 'node:util';

import {
  type Address, checkHostPort, familyName, familyOf, getaddrinfo, resolveAddress, unixPath,
} from './address.js';
import {
  AF_INET, AF_UNIX, AF_UNSPEC, SO_ERROR, SO_REUSEADDR, SO_REUSEPORT, SOCK_DGRAM,
  SOCK_STREAM, SOL_SOCKET, SOMAXCONN,
} from './constants.js';
import { errno as ERRNO, errorFromErrno, OSError, TimeoutError } from './errors.js';
import { native, type NativeAddress, type Sockaddr } from './native.js';
import {
  checkBytes, checkFd, checkInt, checkTimeout, describe, INT32_MAX,
} from './validate.js';

export { type Address, resolveAddress } from './address.js';

const calls = native.socket;

// Closes the fd of a Socket that was dropped without close(); the token is
// the fd, unregistered by close()/detach(), so no fd is closed twice. With
// NODE_DEBUG=native-selectors the held value also has the stack of the
// constructor call, as the warning's own stack only shows the finalizer.
const recordCreation = debuglog('native-selectors').enabled;
const unclosed = new FinalizationRegistry<number | { fd: number; stack: string | undefined }>((held) => {
  const { fd, stack } = typeof held === 'number' ? { fd: held, stack: undefined } : held;
  calls.close(fd);
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
/** @internal Told just before a watched Socket's fd is closed or detached. */
export interface CloseWatcher {
  socketClosing(sock: Socket): void;
}

const closeWatchers = new WeakMap<Socket, Set<WeakRef<CloseWatcher>>>();

/** @internal For the event loop: `watcher` hears of `sock`'s close or detach until removed. */
export function addCloseWatcher(sock: Socket, watcher: WeakRef<CloseWatcher>): void {
  let watchers = closeWatchers.get(sock);
  if (watchers === undefined) closeWatchers.set(sock, (watchers = new Set()));
  watchers.add(watcher);
}

/** @internal */
export function removeCloseWatcher(sock: Socket, watcher: WeakRef<CloseWatcher>): void {
  closeWatchers.get(sock)?.delete(watcher);
}

function notifyClosing(sock: Socket): void {
  const watchers = closeWatchers.get(sock);
  if (watchers === undefined) return;
  closeWatchers.delete(sock);
  for (const watcher of watchers) watcher.deref()?.socketClosing(sock);
}

// recv() reads small messages here, then copies out exactly what came, so a
// recv(65536) that gets 10 bytes does not pin 64 KiB.
const SCRATCH_SIZE = 65536;
let scratch: Buffer | null = null;

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

/** A network socket, as Python's `socket.socket`. */
export class Socket {
  /** The address family: AF_INET, AF_INET6 or AF_UNIX. */
  readonly family: number;
  /** SOCK_STREAM or SOCK_DGRAM. */
  readonly type: number;
  /** The protocol number, usually 0. */
  readonly proto: number;
  #fd: number;

  /**
   * Creates a socket (AF_INET, SOCK_STREAM by default), or (with `fileno`)
   * takes ownership of an existing one, as Python's `socket.socket(family,
   * type, proto, fileno)`: `fileno` must be an open socket (else OSError
   * EBADF or ENOTSOCK), and what is not given is read from it.
   */
  constructor(family?: number, type?: number, proto?: number, fileno?: number) {
    if (family !== undefined) checkInt(family, 'family', 0, INT32_MAX);
    if (type !== undefined) checkInt(type, 'type', 0, INT32_MAX);
    if (proto !== undefined) checkInt(proto, 'proto', 0, INT32_MAX);
    if (fileno === undefined) {
      family ??= AF_INET;
      type ??= SOCK_STREAM;
      proto ??= 0;
      const fd = calls.socket(family, type, proto);
      if (fd < 0) fail(fd, 'socket');
      this.#fd = fd;
    } else {
      const fd = checkFd(fileno, 'fileno');
      if (family === undefined || type === undefined || proto === undefined) {
        const found = calls.sockInfo(fd);
        if (typeof found === 'number') throw notASocket(fd, found);
        family ??= found[0];
        type ??= found[1];
        proto ??= found[2];
      }
      const rc = calls.adopt(fd);
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
    const rc = calls.setBlocking(this.#open('fcntl'), flag);
    if (rc < 0) fail(rc, 'fcntl');
  }

  /** True when operations block the thread until they can complete. */
  getBlocking(): boolean {
    const rc = calls.getBlocking(this.#open('fcntl'));
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
    const rc = calls.setsockopt(fd, level, name, bytes);
    if (rc < 0) fail(rc, 'setsockopt');
  }

  /** Reads a socket option: an integer, or `buflen` raw bytes when given. */
  getsockopt(level: number, name: number, buflen?: number): number | Buffer {
    const fd = this.#open('getsockopt');
    checkInt(level, 'level', 0, INT32_MAX);
    checkInt(name, 'name', 0, INT32_MAX);
    if (buflen !== undefined) checkInt(buflen, 'buflen', 0, 1024);
    const out = calls.getsockopt(fd, level, name, buflen ?? 4);
    if (typeof out === 'number') fail(out, 'getsockopt');
    if (buflen !== undefined) return out;
    // Some options are a byte or a short on some kernels: widen what came.
    if (out.length >= 4) return nativeEndian === 'LE' ? out.readInt32LE(0) : out.readInt32BE(0);
    return out.length === 0 ? 0 : out.readUIntLE(0, out.length);
  }

  /** Binds to a local address (`['127.0.0.1', 0]` picks a free port). */
  bind(address: Address): void {
    const fd = this.#open('bind');
    const rc = calls.bind(fd, resolveAddress(this.family, this.type, address));
    if (rc < 0) this.#fail(rc, 'bind', address);
  }

  // As Python's OSError.filename: an AF_UNIX error names its path.
  #fail(rc: number, syscall: string, address: unknown): never {
    throw errorFromErrno(-rc, syscall, this.family === AF_UNIX ? unixPath(address) : undefined);
  }

  /** Starts accepting connections; `backlog` defaults to min(SOMAXCONN, 128) as in Python. */
  listen(backlog?: number): void {
    const fd = this.#open('listen');
    const n = backlog === undefined ? Math.min(SOMAXCONN, 128) : checkInt(backlog, 'backlog', 0, INT32_MAX);
    const rc = calls.listen(fd, n);
    if (rc < 0) fail(rc, 'listen');
  }

  /** Accepts a connection: a new blocking Socket and the peer's address. */
  accept(): [Socket, Address] {
    const out = calls.accept(this.#open('accept'));
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
    const rc = calls.connect(fd, resolveAddress(this.family, this.type, address));
    return rc < 0 ? -rc : 0; // never -0
  }

  /** Receives up to `bufsize` bytes; an empty Buffer means the peer closed (EOF). */
  recv(bufsize: number, flags = 0): Buffer {
    const fd = this.#open('recv');
    checkInt(bufsize, 'bufsize', 0, INT32_MAX);
    checkInt(flags, 'flags', 0, INT32_MAX);
    if (bufsize <= SCRATCH_SIZE) {
      scratch ??= Buffer.allocUnsafeSlow(SCRATCH_SIZE);
      const n = calls.recvInto(fd, scratch, 0, bufsize, flags);
      if (n < 0) fail(n, 'recv');
      return Buffer.from(scratch.subarray(0, n));
    }
    const buf = Buffer.allocUnsafe(bufsize);
    const n = calls.recvInto(fd, buf, 0, bufsize, flags);
    if (n < 0) fail(n, 'recv');
    return n < bufsize / 2 ? Buffer.from(buf.subarray(0, n)) : buf.subarray(0, n);
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
    const n = calls.recvInto(fd, buffer, 0, nbytes === 0 ? buffer.byteLength : nbytes, flags);
    if (n < 0) fail(n, 'recv');
    return n;
  }

  /** Receives a datagram (or stream bytes) and the sender's address. */
  recvfrom(bufsize: number, flags = 0): [Buffer, Address] {
    const fd = this.#open('recvfrom');
    checkInt(bufsize, 'bufsize', 0, INT32_MAX);
    checkInt(flags, 'flags', 0, INT32_MAX);
    const buf = Buffer.allocUnsafe(bufsize);
    const out = calls.recvFrom(fd, buf, 0, bufsize, flags);
    if (typeof out === 'number') fail(out, 'recvfrom');
    return [Buffer.from(buf.subarray(0, out[0])), toAddress(out[1])];
  }

  /** Sends what the kernel takes now; returns the count (may be partial). */
  send(data: Uint8Array, flags = 0): number {
    const fd = this.#open('send');
    checkBytes(data, 'data');
    checkInt(flags, 'flags', 0, INT32_MAX);
    const n = calls.send(fd, data, 0, data.byteLength, flags);
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
      const n = calls.send(fd, data, offset, data.byteLength - offset, flags);
      if (n < 0) fail(n, 'send');
      offset += n;
    }
  }

  /** Sends a datagram to `address`; returns the count. */
  sendto(data: Uint8Array, address: Address, flags = 0): number {
    const fd = this.#open('sendto');
    checkBytes(data, 'data');
    checkInt(flags, 'flags', 0, INT32_MAX);
    const n = calls.sendTo(fd, data, 0, data.byteLength, flags, resolveAddress(this.family, this.type, address));
    if (n < 0) this.#fail(n, 'sendto', address);
    return n;
  }

  /** Shuts down reading (SHUT_RD), writing (SHUT_WR) or both (SHUT_RDWR). */
  shutdown(how: number): void {
    const fd = this.#open('shutdown');
    checkInt(how, 'how', 0, 2);
    const rc = calls.shutdown(fd, how);
    if (rc < 0) fail(rc, 'shutdown');
  }

  /** The local address. */
  getsockname(): Address {
    const out = calls.getsockname(this.#open('getsockname'));
    if (typeof out === 'number') fail(out, 'getsockname');
    return toAddress(out);
  }

  /** The peer's address; throws OSError (ENOTCONN) when not connected. */
  getpeername(): Address {
    const out = calls.getpeername(this.#open('getpeername'));
    if (typeof out === 'number') fail(out, 'getpeername');
    return toAddress(out);
  }

  /** Closes the fd. Safe to call again; `fileno()` is -1 afterwards. */
  close(): void {
    const fd = this.#fd;
    if (fd < 0) return;
    notifyClosing(this);
    this.#fd = -1;
    unclosed.unregister(this);
    const rc = calls.close(fd);
    // As Python: a reset peer is no reason to fail a close.
    if (rc < 0 && -rc !== ERRNO.ECONNRESET) fail(rc, 'close');
  }

  /** Gives up ownership of the fd without closing it; returns it. */
  detach(): number {
    const fd = this.#fd;
    if (fd >= 0) notifyClosing(this);
    this.#fd = -1;
    unclosed.unregister(this);
    if (fd >= 0) calls.disown(fd);
    return fd;
  }

  [Symbol.dispose](): void {
    this.close();
  }

  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return `<Socket fd=${this.#fd}, family=${familyName(this.family)}, ` +
      `type=${this.type === SOCK_STREAM ? 'SOCK_STREAM' : this.type === SOCK_DGRAM ? 'SOCK_DGRAM' : this.type}>`;
  }
}

/** A connected pair of sockets (AF_UNIX, SOCK_STREAM by default). */
export function socketpair(family: number = AF_UNIX, type: number = SOCK_STREAM, proto = 0): [Socket, Socket] {
  checkInt(family, 'family', 0, INT32_MAX);
  checkInt(type, 'type', 0, INT32_MAX);
  checkInt(proto, 'proto', 0, INT32_MAX);
  const fds = calls.socketpair(family, type, proto);
  if (typeof fds === 'number') fail(fds, 'socketpair');
  return [new Socket(family, type, proto, fds[0]), new Socket(family, type, proto, fds[1])];
}

/** Options for `createServer`. */
export interface ServerOptions {
  /** Defaults from the address: a string is AF_UNIX, a host with ':' AF_INET6, else AF_INET. */
  family?: number;
  backlog?: number;
  /** Sets SO_REUSEPORT, so several sockets (e.g. one per worker) share the port. */
  reusePort?: boolean;
}

/**
 * A listening TCP (or Unix stream) socket bound to `address`, with
 * SO_REUSEADDR on, as Python's `socket.create_server`. It is blocking;
 * call `setBlocking(false)` for use with a selector.
 */
export function createServer(address: Address, options: ServerOptions = {}): Socket {
  if (typeof options !== 'object' || options === null) {
    throw new TypeError(`options must be an object, got ${describe(options)}`);
  }
  const family = options.family === undefined ? familyOf(address) : checkInt(options.family, 'options.family', 0, INT32_MAX);
  if (options.reusePort !== undefined && typeof options.reusePort !== 'boolean') {
    throw new TypeError(`options.reusePort must be a boolean, got ${describe(options.reusePort)}`);
  }
  if (options.backlog !== undefined) checkInt(options.backlog, 'options.backlog', 0, INT32_MAX);
  const sock = new Socket(family, SOCK_STREAM);
  try {
    if (family !== AF_UNIX) sock.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1);
    if (options.reusePort) {
      if (SO_REUSEPORT < 0) throw new Error('SO_REUSEPORT is not supported on this platform');
      sock.setsockopt(SOL_SOCKET, SO_REUSEPORT, 1);
    }
    sock.bind(address);
    sock.listen(options.backlog);
    return sock;
  } catch (error) {
    sock.close();
    throw error;
  }
}

/**
 * A connected, blocking TCP (or Unix stream) socket, as Python's
 * `socket.create_connection`: every address the host resolves to is tried
 * in turn. `timeout` (ms) bounds each connect attempt and throws
 * TimeoutError; it does not stay on the socket.
 */
export function createConnection(address: Address, timeout?: number | null): Socket {
  const limit = checkTimeout(timeout, 'timeout');
  let candidates: Array<[number, Sockaddr]>;
  if (familyOf(address) === AF_UNIX) {
    candidates = [[AF_UNIX, resolveAddress(AF_UNIX, SOCK_STREAM, address)]];
  } else {
    const [host, port] = checkHostPort(address, 'address', '[host, port] or a Unix path');
    candidates = getaddrinfo(host === '' ? 'localhost' : host, port, AF_UNSPEC, SOCK_STREAM, false);
  }
  let lastError: unknown;
  for (const [family, sockaddr] of candidates) {
    const sock = new Socket(family, SOCK_STREAM);
    try {
      connectWithin(sock, sockaddr, limit, family === AF_UNIX ? unixPath(address) : undefined);
      return sock;
    } catch (error) {
      sock.close();
      lastError = error;
    }
  }
  throw lastError;
}

// A string is a Unix path; one that reads as host:port was most likely
// meant as TCP, so an error on it says how to write that.
const HOST_PORT = /^(\[[0-9a-fA-F:.]+\]|[^/:]+):\d{1,5}$/;

function connectWithin(sock: Socket, sockaddr: Sockaddr, limitMs: number, path?: string): void {
  const fd = sock.fileno();
  const failed = (rc: number): never => {
    const error = errorFromErrno(-rc, 'connect', path);
    if (path !== undefined && HOST_PORT.test(path)) {
      error.message += `; a string is a Unix socket path: a TCP address is [host, port], e.g. ['127.0.0.1', 80]`;
    }
    throw error;
  };
  if (limitMs < 0) {
    const rc = calls.connect(fd, sockaddr);
    if (rc < 0) failed(rc);
    return;
  }
  sock.setBlocking(false);
  const rc = calls.connect(fd, sockaddr);
  if (rc < 0 && -rc !== ERRNO.EINPROGRESS) failed(rc);
  if (rc < 0) {
    const ready = calls.waitFd(fd, 2, limitMs);
    if (ready < 0) fail(ready, 'poll');
    if (ready === 0) throw new TimeoutError(`connect timed out after ${limitMs} ms`, 'connect');
    const err = sock.getsockopt(SOL_SOCKET, SO_ERROR) as number;
    if (err !== 0) failed(-err);
  }
  sock.setBlocking(true);
}
