// The convenience constructors over Socket, as Python's socket module has
// them: socketpair, create_server and create_connection.
import {
  type Address, checkHostPort, familyOf, getaddrinfo, resolveAddress, unixPath,
} from './address.js';
import {
  AF_INET, AF_INET6, AF_UNIX, AF_UNSPEC, SO_ERROR, SO_REUSEADDR, SO_REUSEPORT, SOCK_STREAM, SOL_SOCKET,
} from './constants.js';
import { errno as ERRNO, errorFromErrno, TimeoutError } from './errors.js';
import { native, type Sockaddr } from './native.js';
import { Socket } from './socket.js';
import { checkInt, checkTimeout, describe, INT32_MAX } from './validate.js';

const sys = native.socket;

function fail(rc: number, syscall: string): never {
  throw errorFromErrno(-rc, syscall);
}

/**
 * A connected pair of sockets (AF_UNIX, SOCK_STREAM by default), as
 * Python's `socket.socketpair`: what one sends, the other receives.
 *
 * @example
 * ```ts
 * const [a, b] = socketpair();
 * a.sendall(Buffer.from('ping'));
 * b.recv(4); // <Buffer 70 69 6e 67>
 * a.close(); b.close();
 * ```
 */
export function socketpair<F extends number = typeof AF_UNIX>(
  family: F = AF_UNIX as number as F, type: number = SOCK_STREAM, proto = 0,
): [Socket<F>, Socket<F>] {
  checkInt(family, 'family', 0, INT32_MAX);
  checkInt(type, 'type', 0, INT32_MAX);
  checkInt(proto, 'proto', 0, INT32_MAX);
  const fds = sys.socketpair(family, type, proto);
  if (typeof fds === 'number') fail(fds, 'socketpair');
  return [new Socket(family, type, proto, fds[0]), new Socket(family, type, proto, fds[1])];
}

/** Options for `createServer`. */
export interface ServerOptions {
  /** Defaults from the address: a string is AF_UNIX, a host with ':' AF_INET6, else AF_INET. */
  family?: number;
  /** The listen backlog; defaults to min(SOMAXCONN, 128). */
  backlog?: number;
  /** Sets SO_REUSEPORT, so several sockets (e.g. one per worker) share the port. */
  reusePort?: boolean;
}

/**
 * A listening TCP (or Unix stream) socket bound to `address`, with
 * SO_REUSEADDR on, as Python's `socket.create_server`. It is blocking;
 * call `setBlocking(false)` for use with a selector.
 *
 * @example
 * ```ts
 * const server = createServer(['127.0.0.1', 0]); // port 0: any free port
 * const [host, port] = server.getsockname();
 * ```
 */
export function createServer(address: string, options?: ServerOptions): Socket<typeof AF_UNIX>;
export function createServer(
  address: [host: string, port: number], options?: ServerOptions,
): Socket<typeof AF_INET | typeof AF_INET6>;
export function createServer(address: Address, options?: ServerOptions): Socket;
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
export function createConnection(address: string, timeout?: number | null): Socket<typeof AF_UNIX>;
export function createConnection(
  address: [host: string, port: number], timeout?: number | null,
): Socket<typeof AF_INET | typeof AF_INET6>;
export function createConnection(address: Address, timeout?: number | null): Socket;
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
    const rc = sys.connect(fd, sockaddr);
    if (rc < 0) failed(rc);
    return;
  }
  sock.setBlocking(false);
  const rc = sys.connect(fd, sockaddr);
  if (rc < 0 && -rc !== ERRNO.EINPROGRESS) failed(rc);
  if (rc < 0) {
    const ready = sys.waitFd(fd, 2, limitMs);
    if (ready < 0) fail(ready, 'poll');
    if (ready === 0) throw new TimeoutError(`connect timed out after ${limitMs} ms`, 'connect');
    const err = sock.getsockopt(SOL_SOCKET, SO_ERROR) as number;
    if (err !== 0) failed(-err);
  }
  sock.setBlocking(true);
}
