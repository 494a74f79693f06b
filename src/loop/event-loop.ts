// EventLoop, the class users hold: the loop core (core.ts) with fd
// callbacks (io.ts), the socket operations (sock-ops.ts, sock-dgram.ts,
// sendfile.ts), signal handlers (signals.ts) and the exception handler, run by one of two drivers. runUntilComplete()/runForever() block
// the thread in select (run-blocking.ts: the fastest); runAsync() runs the
// same iterations inside Node's own loop (run-async.ts). run() is in
// runners.ts.
import { EVENT_READ, EVENT_WRITE, type FileObject } from '../selector.js';
import { fileobjToFd } from '../selector-keys.js';
import { type Address, Socket } from '../socket.js';
import { checkFunction, describe } from '../validate.js';
import { BaseEventLoop, type ExceptionContext } from './core.js';
import { fdInUse } from './io.js';
import { runAsync } from './run-async.js';
import { runForever, runUntilComplete } from './run-blocking.js';
import { requireRunningLoop } from './running.js';
import { signalNumber } from './signals.js';
import { SendfileOp } from './sendfile.js';
import { RecvfromOp, SendtoOp } from './sock-dgram.js';
import { RecvOp, SendallOp, sockAccept, sockConnect } from './sock-ops.js';
import { RingAcceptOp, RingConnectOp, RingRecvOp, RingSendallOp } from './uring-ops.js';
import { StreamRecvOp, streams, streamsInto } from './uring-stream.js';
import type { Coro } from './futures.js';
import { type Awaitable, describeError, type Task } from './task.js';
import { Handle } from './timers.js';

/** Called with errors nobody else can receive (failed callbacks, unretrieved task exceptions). */
export type ExceptionHandler = (loop: EventLoop, context: ExceptionContext) => void;

/** The loop running the current task; throws when no loop is running. */
export function getRunningLoop(): EventLoop {
  // EventLoop is the only kind of loop there is.
  return requireRunningLoop() as EventLoop;
}

/** The running loop's tasks that are not done yet. */
export function allTasks(): Set<Task<unknown>> {
  return new Set(getRunningLoop()._pendingTasks());
}

function defaultExceptionHandler(context: ExceptionContext): void {
  let text = context.message;
  if (context.task !== undefined) {
    text += `\ntask: ${String(context.task)}`;
  } else if (context.taskName !== undefined) {
    text += `\ntask: <Task finished name='${context.taskName}'`;
    text += 'exception' in context ? ` exception=${describeError(context.exception)}>` : '>';
  }
  if ('exception' in context) {
    const error = context.exception;
    text += `\n${error instanceof Error && error.stack !== undefined ? error.stack : String(error)}`;
  }
  process.stderr.write(`${text}\n`);
}

/**
 * An asyncio-style event loop over a Selector: runs tasks (generator
 * coroutines), timers, socket operations and signal handlers. Coroutines
 * are generator functions that wait with `yield*`. Most programs call
 * `run(main)`, which makes and closes a loop; inside a task,
 * `getRunningLoop()` is the loop.
 *
 * @example
 * ```ts
 * const loop = new EventLoop();
 * try {
 *   const result = loop.runUntilComplete((function* () {
 *     const [a, b] = socketpair();
 *     a.setBlocking(false); b.setBlocking(false);
 *     yield* loop.sockSendall(a, Buffer.from('hi'));
 *     const data = yield* loop.sockRecv(b, 1024);
 *     a.close(); b.close();
 *     return data.toString(); // 'hi'
 *   })());
 * } finally {
 *   loop.close();
 * }
 * ```
 */
export class EventLoop extends BaseEventLoop {
  #handler: ExceptionHandler | null = null;

  // ---- running -----------------------------------------------------------

  /**
   * Runs the loop, blocking this thread, until `main` is done; returns its
   * result or throws its exception.
   */
  runUntilComplete<T>(main: Awaitable<T>): T {
    return runUntilComplete(this, main);
  }

  /** Runs the loop, blocking this thread, until `stop()` is called. */
  runForever(): void {
    runForever(this);
  }

  /**
   * Runs the loop inside Node's own event loop, without blocking it, until
   * `main` is done. Node's timers, fs and net keep working meanwhile. Needs
   * a backend with a pollable fd (epoll, kqueue): not the poll backend.
   */
  runAsync<T>(main: Awaitable<T>): Promise<T> {
    return runAsync(this, main);
  }

  // ---- fd callbacks (io.ts) -----------------------------------------------

  /**
   * Runs `cb` on the loop whenever `fileobj` is readable (level-triggered:
   * again each iteration until it is read), as asyncio's `add_reader`.
   * Replaces an earlier reader of that fd. Throws if a task's socket
   * operation (sockRecv, sockAccept...) is waiting to read the same fd.
   * A callback that throws goes to the exception handler.
   */
  addReader(fileobj: FileObject, cb: () => void): void {
    this.#addCallback(fileobj, cb, EVENT_READ);
  }

  /** Stops the reader of `fileobj`'s fd; false if it had none. */
  removeReader(fileobj: FileObject): boolean {
    return this.#removeCallback(fileobj, EVENT_READ);
  }

  /** As `addReader`, for writability (asyncio's `add_writer`). */
  addWriter(fileobj: FileObject, cb: () => void): void {
    this.#addCallback(fileobj, cb, EVENT_WRITE);
  }

  /** Stops the writer of `fileobj`'s fd; false if it had none. */
  removeWriter(fileobj: FileObject): boolean {
    return this.#removeCallback(fileobj, EVENT_WRITE);
  }

  #addCallback(fileobj: FileObject, cb: () => void, event: number): void {
    const fd = fileobjToFd(fileobj);
    checkFunction(cb, 'cb');
    this._checkOpen();
    // One owner per direction in io_uring mode too (io.ts checks the selector's).
    const busy = this._uring?.busyWith(fd, event === EVENT_READ) ?? null;
    if (busy !== null) throw fdInUse(fd, busy._taskName, event);
    // A Socket's own close or detach then drops the callback (as it wakes tasks).
    this._io.addCallback(fd, fileobj instanceof Socket ? fileobj : null, event, new Handle(this, cb));
    // Bytes the ring read ahead go to the callback first (io_uring mode).
    if (event === EVENT_READ) this._uring?.readerAdded(fd);
  }

  #removeCallback(fileobj: FileObject, event: number): boolean {
    const fd = fileobjToFd(fileobj);
    if (this.isClosed()) return false;
    return this._io.removeCallback(fd, event);
  }

  // ---- signals -------------------------------------------------------------

  /**
   * Runs `cb` on the loop, as an ordinary callback, whenever `signal`
   * arrives, even while the loop is blocked in select. Replaces an earlier
   * handler for the same signal.
   */
  addSignalHandler(signal: string | number, cb: () => void): void {
    const signo = signalNumber(signal);
    checkFunction(cb, 'cb');
    this._checkOpen();
    this._signals.add(signo, new Handle(this, cb));
  }

  /** Removes the handler (the signal's previous behaviour comes back); false if there was none. */
  removeSignalHandler(signal: string | number): boolean {
    const signo = signalNumber(signal);
    if (this.isClosed()) return false;
    return this._signals.remove(signo);
  }

  // ---- errors --------------------------------------------------------------

  /** Sets the handler for errors nobody else receives; null restores the default (stderr). */
  setExceptionHandler(handler: ExceptionHandler | null): void {
    if (handler !== null && typeof handler !== 'function') {
      throw new TypeError(`handler must be a function or null, got ${describe(handler)}`);
    }
    this.#handler = handler;
  }

  /** The handler set by `setExceptionHandler`, or null for the default. */
  getExceptionHandler(): ExceptionHandler | null {
    return this.#handler;
  }

  /** Passes `context` to the exception handler (the default writes it to stderr). Never throws. */
  callExceptionHandler(context: ExceptionContext): void {
    const handler = this.#handler;
    try {
      if (handler === null) {
        defaultExceptionHandler(context);
        return;
      }
      try {
        handler(this, context);
      } catch (error) {
        defaultExceptionHandler({ message: 'Unhandled error in exception handler', exception: error });
        defaultExceptionHandler(context);
      }
    } catch {
      // stderr itself failed: nowhere left to report to.
    }
  }

  // ---- sockets (sock-ops.ts) -----------------------------------------------

  /** Accepts a connection: a new non-blocking Socket and the peer's address. */
  sockAccept<F extends number>(sock: Socket<F>): Coro<[Socket<F>, Address]> {
    const ring = this._uring;
    if (ring !== null) return new RingAcceptOp(this, ring, this._io, sock) as Coro<[Socket<F>, Address]>;
    return sockAccept(this, this._io, sock);
  }

  /** Receives up to `n` bytes; an empty Buffer means the peer closed (EOF). */
  sockRecv(sock: Socket, n: number): Coro<Buffer> {
    const ring = this._uring;
    if (ring !== null) {
      return streams(ring, sock) ? new StreamRecvOp<Buffer>(this, ring, this._io, sock, n, true)
        : new RingRecvOp<Buffer>(this, ring, this._io, sock, n, true);
    }
    return new RecvOp<Buffer>(this, this._io, sock, n, true);
  }

  /** Receives into `buf`; returns the byte count (0 at EOF). Allocates nothing. */
  sockRecvInto(sock: Socket, buf: Uint8Array): Coro<number> {
    const ring = this._uring;
    if (ring !== null) {
      return streamsInto(ring, sock, buf) ? new StreamRecvOp<number>(this, ring, this._io, sock, buf, false)
        : new RingRecvOp<number>(this, ring, this._io, sock, buf, false);
    }
    return new RecvOp<number>(this, this._io, sock, buf, false);
  }

  /**
   * Sends all of `data`, waiting for room whenever the kernel's buffer is
   * full (and watching for writability only then).
   */
  sockSendall(sock: Socket, data: Uint8Array): Coro<void> {
    const ring = this._uring;
    if (ring !== null) return new RingSendallOp(this, ring, this._io, sock, data);
    return new SendallOp(this, this._io, sock, data);
  }

  /**
   * Connects a non-blocking socket: starts the connect, waits until the
   * socket is writable, then reads the outcome from SO_ERROR. Host names
   * are resolved with getaddrinfo, which blocks; pass IP addresses to avoid it.
   */
  sockConnect(sock: Socket, address: Address): Coro<void> {
    const ring = this._uring;
    if (ring !== null) return new RingConnectOp(this, ring, this._io, sock, address);
    return sockConnect(this, this._io, sock, address);
  }

  // ---- datagrams (sock-dgram.ts) and files (sendfile.ts) --------------------

  /** Receives a datagram of up to `n` bytes (the rest of a longer one is dropped) and its sender. */
  sockRecvfrom(sock: Socket, n: number): Coro<[Buffer, Address]> {
    return new RecvfromOp<Buffer>(this, this._io, sock, n, undefined, true);
  }

  /**
   * Receives a datagram into `buf` (at most `nbytes`, default all of it);
   * returns the byte count and the sender. Allocates no bytes.
   */
  sockRecvfromInto(sock: Socket, buf: Uint8Array, nbytes?: number): Coro<[number, Address]> {
    return new RecvfromOp<number>(this, this._io, sock, buf, nbytes, false);
  }

  /** Sends `data` as one datagram to `address`, waiting for room if need be; returns the count. */
  sockSendto(sock: Socket, data: Uint8Array, address: Address): Coro<number> {
    return new SendtoOp(this, this._io, sock, data, address);
  }

  /**
   * Sends `count` bytes (default: to the end) of the open file `fd` from
   * `offset` (default 0) to a non-blocking stream socket; returns the bytes
   * sent. Uses zero-copy sendfile(2) where the OS has it, else reads and
   * sends. The file's own offset is left where it was.
   */
  sockSendfile(sock: Socket, fd: number, offset = 0, count: number | null = null): Coro<number> {
    return new SendfileOp(this, this._io, sock, fd, offset, count);
  }
}
