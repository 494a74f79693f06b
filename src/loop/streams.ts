// asyncio's high-level streams: openConnection and startServer give a
// (StreamReader, StreamWriter) pair per connection, over the loop's socket
// operations (stream-reader.ts, stream-writer.ts).
import { AF_INET, AF_INET6, AF_UNIX, AF_UNSPEC, IPPROTO_TCP, SOCK_STREAM, TCP_NODELAY } from '../constants.js';
import { GaiError } from '../errors.js';
import { native } from '../native.js';
import { checkHostPort, getaddrinfo } from '../address.js';
import { type Address, createServer, Socket } from '../socket.js';
import { checkInt, describe, INT32_MAX } from '../validate.js';
import { type EventLoop, getRunningLoop } from './event-loop.js';
import { CancelledError, type Coro, Future } from './futures.js';
import type { Task } from './task.js';
import { DEFAULT_LIMIT, StreamReader } from './stream-reader.js';
import { StreamTransport, StreamWriter } from './stream-writer.js';
import { timeout as withTimeout } from './timeouts.js';

function checkOptions(options: unknown): void {
  if (options !== undefined && (typeof options !== 'object' || options === null)) {
    throw new TypeError(`options must be an object, got ${describe(options)}`);
  }
}

function checkLimit(limit: unknown): number {
  return limit === undefined ? DEFAULT_LIMIT : checkInt(limit, 'options.limit', 1, INT32_MAX);
}

// A reader/writer pair over a connected, non-blocking socket.
function wrap(loop: EventLoop, sock: Socket, limit: number): [StreamReader, StreamWriter, StreamTransport] {
  if (sock.family !== AF_UNIX) {
    try {
      // asyncio turns Nagle off on its TCP transports: small writes go out at once.
      sock.setsockopt(IPPROTO_TCP, TCP_NODELAY, 1);
    } catch {
      // Not fatal: only latency.
    }
  }
  const transport = new StreamTransport(loop, sock);
  const reader = new StreamReader({ limit });
  reader._source = transport;
  transport.reader = reader;
  return [reader, new StreamWriter(transport, reader), transport];
}

// The families to try for an address, in the resolver's order.
function familiesOf(address: Address): number[] {
  if (typeof address === 'string') return [AF_UNIX];
  const [host, port] = checkHostPort(address, 'address', '[host, port] or a Unix socket path');
  if (host.includes(':')) return [AF_INET6];
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(host)) return [AF_INET];
  const found = getaddrinfo(host === '' ? 'localhost' : host, port, AF_UNSPEC, SOCK_STREAM, false);
  const families = [...new Set(found.map(([family]) => family))].filter((f) => f === AF_INET || f === AF_INET6);
  if (families.length === 0) throw new GaiError(native.eaiNoname, 'EAI_NONAME', `no address for ${describe(host)}`);
  return families;
}

function* connect(loop: EventLoop, address: Address): Coro<Socket> {
  let lastError: unknown;
  for (const family of familiesOf(address)) {
    const sock = new Socket(family, SOCK_STREAM);
    try {
      sock.setBlocking(false);
      yield* loop.sockConnect(sock, address);
      return sock;
    } catch (error) {
      sock.close();
      if (error instanceof CancelledError) throw error;
      lastError = error;
    }
  }
  throw lastError;
}

/**
 * Connects to `address` (`[host, port]` or a Unix socket path) and returns
 * a reader and a writer for the connection (asyncio.open_connection).
 * `limit`: the reader's limit (default 64 KiB); `timeout`: ms allowed for
 * connecting, else TimeoutError.
 */
export function* openConnection(
  address: Address,
  options?: { limit?: number; timeout?: number },
): Coro<[StreamReader, StreamWriter]> {
  checkOptions(options);
  const limit = checkLimit(options?.limit);
  const delay = options?.timeout;
  if (delay !== undefined && delay !== null && (typeof delay !== 'number' || Number.isNaN(delay))) {
    throw new TypeError(`options.timeout must be a number of milliseconds, got ${describe(delay)}`);
  }
  const loop = getRunningLoop();
  const sock = delay === undefined || delay === null
    ? yield* connect(loop, address)
    : yield* withTimeout(delay, () => connect(loop, address));
  const [reader, writer] = wrap(loop, sock, limit);
  return [reader, writer];
}

/** Options for `startServer`. */
export interface StartServerOptions {
  backlog?: number;
  /** SO_REUSEPORT: several servers (e.g. one per worker) share the port. */
  reusePort?: boolean;
  /** Each reader's limit (default 64 KiB). */
  limit?: number;
}

/**
 * A listening server (asyncio.Server). Made by `startServer`; it serves
 * from the start. `close()` stops listening; the connections go on until
 * they end, or `closeClients()`/`abortClients()` end them.
 */
export class Server {
  /** The listening sockets (empty once closed). */
  readonly sockets: Socket[];
  readonly #loop: EventLoop;
  readonly #onClient: (reader: StreamReader, writer: StreamWriter) => Coro<void>;
  readonly #limit: number;
  readonly #clients = new Set<StreamTransport>();
  #acceptors: Task<void>[] = [];
  #serving = true;
  #closed = false;
  #closedWaiters: Future<void>[] = [];
  #forever: Future<never> | null = null;

  /** @internal Use `startServer`. */
  constructor(loop: EventLoop, sockets: Socket[], onClient: (r: StreamReader, w: StreamWriter) => Coro<void>,
    limit: number) {
    this.#loop = loop;
    this.sockets = sockets;
    this.#onClient = onClient;
    this.#limit = limit;
    for (const sock of sockets) {
      this.#acceptors.push(loop.createTask(this.#accept(sock), { name: 'Server accept' }));
    }
  }

  /** True until `close()`. */
  isServing(): boolean {
    return this.#serving;
  }

  /** Stops listening (the sockets are closed). Open connections stay open. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#serving = false;
    for (const task of this.#acceptors) task.cancel();
    this.#acceptors = [];
    for (const sock of this.sockets) sock.close();
    this.sockets.length = 0;
    if (this.#forever !== null && !this.#forever.done()) this.#forever.cancel();
    this.#checkFullyClosed();
  }

  /** Closes every client connection once its queued data is sent. */
  closeClients(): void {
    for (const client of [...this.#clients]) client.close();
  }

  /** Closes every client connection at once, dropping queued data. */
  abortClients(): void {
    for (const client of [...this.#clients]) client.abort();
  }

  /** Waits until the server is closed and every connection it accepted has ended. */
  *waitClosed(): Coro<void> {
    if (this.#closed && this.#clients.size === 0) return;
    const fut = new Future<void>(this.#loop);
    this.#closedWaiters.push(fut);
    yield* fut;
  }

  /** Serves until cancelled (or `close()`d); then closes the server and waits for it. */
  *serveForever(): Coro<never> {
    if (this.#forever !== null) throw new Error('the server is already being served forever');
    if (this.#closed) throw new Error('the server is closed');
    this.#forever = new Future<never>(this.#loop);
    try {
      return yield* this.#forever;
    } catch (error) {
      this.close();
      yield* this.waitClosed();
      throw error;
    } finally {
      this.#forever = null;
    }
  }

  [Symbol.dispose](): void {
    this.close();
  }

  *#accept(listener: Socket): Coro<void> {
    for (;;) {
      let sock: Socket;
      try {
        [sock] = yield* this.#loop.sockAccept(listener);
      } catch (error) {
        if (error instanceof CancelledError || this.#closed) return;
        // Out of fds and the like: report, back off briefly, keep serving (as asyncio).
        this.#loop.callExceptionHandler({ message: 'Error on accepting a connection', exception: error });
        yield* pause(this.#loop, 100);
        continue;
      }
      this.#serve(sock);
    }
  }

  #serve(sock: Socket): void {
    const [reader, writer, transport] = wrap(this.#loop, sock, this.#limit);
    this.#clients.add(transport);
    transport.onLost = () => {
      this.#clients.delete(transport);
      this.#checkFullyClosed();
    };
    let coro: Coro<void>;
    try {
      coro = this.#onClient(reader, writer);
    } catch (error) {
      this.#loop.callExceptionHandler({ message: 'Unhandled exception in client callback', exception: error });
      transport.abort();
      return;
    }
    const task = this.#loop.createTask(coro);
    task.addDoneCallback(() => {
      let interrupted = task.cancelled();
      if (!interrupted) {
        const error = task.exception();
        if (error !== undefined) {
          interrupted = true;
          this.#loop.callExceptionHandler({ message: 'Unhandled exception in client callback', exception: error, task });
        }
      }
      // The handler is done with the connection: close it, after sending what
      // is queued if it returned (asyncio leaves that to the garbage
      // collector). Cancelled or failed, nobody will drain: drop the queue,
      // or a peer that stopped reading would keep the socket forever.
      if (interrupted) transport.abort();
      else transport.close();
    });
  }

  #checkFullyClosed(): void {
    if (!this.#closed || this.#clients.size > 0) return;
    const waiters = this.#closedWaiters;
    this.#closedWaiters = [];
    for (const fut of waiters) if (!fut.done()) fut._setResult(undefined);
  }
}

function* pause(loop: EventLoop, ms: number): Coro<void> {
  const fut = new Future<void>(loop);
  const handle = loop.callLater(ms, () => fut._setResult(undefined));
  try {
    yield* fut;
  } finally {
    handle.cancel();
  }
}

/**
 * Listens on `address` (`[host, port]`, port 0 for any, or a Unix socket
 * path) and runs `onClient(reader, writer)` as a task for each connection
 * (asyncio.start_server). The connection is closed when that coroutine
 * ends (at once, dropping unsent data, if it was cancelled or threw); an
 * error it throws goes to the loop's exception handler.
 *
 *   const server = yield* startServer(function* (reader, writer) {
 *     writer.write(yield* reader.readline());
 *     yield* writer.drain();
 *   }, ['127.0.0.1', 8888]);
 */
export function* startServer(
  onClient: (reader: StreamReader, writer: StreamWriter) => Coro<void>,
  address: Address,
  options?: StartServerOptions,
): Coro<Server> {
  if (typeof onClient !== 'function') {
    throw new TypeError(`onClient must be a generator function, got ${describe(onClient)}`);
  }
  checkOptions(options);
  const limit = checkLimit(options?.limit);
  const loop = getRunningLoop();
  const sock = createServer(address, {
    ...(options?.backlog !== undefined ? { backlog: options.backlog } : { backlog: 100 }),
    ...(options?.reusePort !== undefined ? { reusePort: options.reusePort } : {}),
  });
  try {
    sock.setBlocking(false);
  } catch (error) {
    sock.close();
    throw error;
  }
  return new Server(loop, [sock], onClient, limit);
}
