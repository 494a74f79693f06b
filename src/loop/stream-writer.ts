// StreamWriter and the transport under it: asyncio's buffered writing with
// flow control. write() sends at once when nothing is queued (the usual
// case costs one send(2) and no copy); what the kernel does not take is
// copied into a queue that a flusher task sends with sockSendall. drain()
// waits while more than HIGH_WATER bytes are queued, until at most
// LOW_WATER are, so a peer that does not read holds the writer back.
import { SHUT_WR } from '../constants.js';
import { ConnectionResetError, errno, errorFromErrno } from '../errors.js';
import { trySend } from '../loop-interface.js';
import type { Socket } from '../socket.js';
import { describe } from '../validate.js';
import type { EventLoop } from './event-loop.js';
import { CancelledError, type Coro, Future } from './futures.js';
import type { Task } from './task.js';
import type { ReaderSource, StreamReader } from './stream-reader.js';

const EAGAIN = errno.EAGAIN!;
const ECONNRESET = errno.ECONNRESET!;

/** drain() waits while more than this many bytes are queued (asyncio's 64 KiB)... */
export const HIGH_WATER = 64 * 1024;
/** ...until no more than this many are (asyncio's 16 KiB). */
export const LOW_WATER = 16 * 1024;
// The most the flusher hands to one sockSendall, so the queued count (and
// drain) follows the kernel in steps of this size.
const SEND_CHUNK = 64 * 1024;

/** @internal One connection: the socket, the write queue, and how it ends. */
export class StreamTransport implements ReaderSource {
  readonly #chunks: Buffer[] = [];
  /** Bytes written but not yet handed to the kernel. */
  buffered = 0;
  #flusher: Task<void> | null = null;
  #paused = false;
  #drainWaiters: Future<void>[] = [];
  closing = false;
  #eofRequested = false;
  lost = false;
  lostError: unknown = null;
  readonly #closed: Future<void>;
  readonly #extra: Record<string, unknown>;
  reader: StreamReader | null = null;
  /** Called once when the socket is closed (the server counts its clients). */
  onLost: (() => void) | null = null;

  constructor(readonly loop: EventLoop, readonly sock: Socket) {
    this.#closed = new Future<void>(loop);
    this.#extra = { socket: sock };
    for (const [name, get] of [['sockname', () => sock.getsockname()], ['peername', () => sock.getpeername()]] as const) {
      try {
        this.#extra[name] = get();
      } catch {
        // Not connected (any more): asyncio leaves it out too.
      }
    }
  }

  getExtraInfo(name: string, fallback?: unknown): unknown {
    return name in this.#extra ? this.#extra[name] : fallback;
  }

  write(data: Uint8Array): void {
    if (this.#eofRequested) throw new Error('Cannot call write() after writeEof()');
    // After close() or a lost connection, writes go nowhere (as in asyncio).
    if (this.closing || this.lost || data.byteLength === 0) return;
    let rest = data;
    if (this.buffered === 0) {
      const sent = trySend(this.sock.fileno(), data, 0, data.byteLength);
      if (sent === data.byteLength) return;
      if (sent >= 0) {
        rest = data.subarray(sent);
      } else if (sent !== -EAGAIN) {
        this.#fail(errorFromErrno(-sent, 'send'));
        return;
      }
    }
    // Copied: the caller may reuse its buffer as soon as write() returns.
    this.#chunks.push(Buffer.from(rest));
    this.buffered += rest.byteLength;
    if (this.buffered > HIGH_WATER) this.#paused = true;
    this.#flusher ??= this.loop.createTask(this.#flush(), { name: 'StreamWriter flush' });
  }

  *drain(): Coro<void> {
    const error = this.reader?.exception();
    if (error !== null && error !== undefined) throw error;
    if (this.closing || this.lost) yield; // as asyncio: let the close progress first
    for (;;) {
      if (this.lost) {
        if (this.lostError !== null) throw this.lostError;
        throw new ConnectionResetError(ECONNRESET, 'Connection lost');
      }
      if (!this.#paused) return;
      const fut = new Future<void>(this.loop);
      this.#drainWaiters.push(fut);
      try {
        yield* fut;
      } finally {
        const i = this.#drainWaiters.indexOf(fut);
        if (i >= 0) this.#drainWaiters.splice(i, 1);
      }
    }
  }

  writeEof(): void {
    if (this.closing || this.#eofRequested) return;
    this.#eofRequested = true;
    if (this.buffered === 0 && !this.lost) this.#shutdownWrite();
  }

  /** Closes once the queue is sent. */
  close(): void {
    if (this.closing) return;
    this.closing = true;
    if (this.#flusher === null) this.#closeSocket(null);
  }

  /** Closes now, dropping what is queued. */
  abort(): void {
    this.closing = true;
    this.#closeSocket(null);
  }

  *waitClosed(): Coro<void> {
    yield* this.#closed;
    if (this.lostError !== null) throw this.lostError;
  }

  *#flush(): Coro<void> {
    try {
      while (this.#chunks.length > 0 && !this.lost) {
        let chunk = this.#chunks[0]!;
        let count = 1;
        if (chunk.length < SEND_CHUNK && this.#chunks.length > 1) {
          // Coalesce small writes into one send.
          let size = chunk.length;
          while (count < this.#chunks.length && size + this.#chunks[count]!.length <= SEND_CHUNK) {
            size += this.#chunks[count]!.length;
            count++;
          }
          if (count > 1) chunk = Buffer.concat(this.#chunks.slice(0, count), size);
        }
        if (chunk.length > SEND_CHUNK) {
          this.#chunks[0] = chunk.subarray(SEND_CHUNK);
          chunk = chunk.subarray(0, SEND_CHUNK);
          count = 0;
        }
        yield* this.loop.sockSendall(this.sock, chunk);
        this.#chunks.splice(0, count);
        this.buffered -= chunk.length;
        if (this.#paused && this.buffered <= LOW_WATER) {
          this.#paused = false;
          this.#wakeDrainers();
        }
      }
      this.#flusher = null;
      if (this.lost) return;
      if (this.#eofRequested) this.#shutdownWrite();
      if (this.closing) this.#closeSocket(null);
    } catch (error) {
      this.#flusher = null;
      if (error instanceof CancelledError) {
        // The loop is shutting down: drop the connection and end cancelled.
        this.#closeSocket(null);
        throw error;
      }
      if (!this.lost) this.#fail(error);
    }
  }

  #shutdownWrite(): void {
    try {
      this.sock.shutdown(SHUT_WR);
    } catch (error) {
      this.#fail(error);
    }
  }

  // The connection failed: drop the queue, close, make reads and drain throw.
  #fail(error: unknown): void {
    this.reader?.setException(error);
    this.#closeSocket(error);
  }

  #closeSocket(error: unknown): void {
    if (this.lost) return;
    this.lost = true;
    this.lostError = error;
    this.#chunks.length = 0;
    this.buffered = 0;
    this.#paused = false;
    try {
      this.sock.close();
    } catch {
      // Already gone; nothing left to release.
    }
    this.#flusher?.cancel();
    this.#flusher = null;
    this.#wakeDrainers();
    this.#closed._setResult(undefined);
    const onLost = this.onLost;
    this.onLost = null;
    onLost?.();
  }

  #wakeDrainers(): void {
    for (const fut of this.#drainWaiters) if (!fut.done()) fut._setResult(undefined);
  }
}

/**
 * Writes to a connection (made by `openConnection`/`startServer`).
 * `write()` never waits; `yield* writer.drain()` after writing lets the
 * peer catch up when it is slow (asyncio's flow control).
 */
export class StreamWriter {
  readonly #transport: StreamTransport;
  readonly #reader: StreamReader | null;

  /** @internal Made by `openConnection`/`startServer`. */
  constructor(transport: StreamTransport, reader: StreamReader | null) {
    this.#transport = transport;
    this.#reader = reader;
  }

  /** Queues `data` (a string is sent as UTF-8); sends at once what the kernel takes. */
  write(data: Uint8Array | string): void {
    if (typeof data === 'string') data = Buffer.from(data, 'utf8');
    else if (!(data instanceof Uint8Array)) throw new TypeError(`data must be a string, Buffer or Uint8Array, got ${describe(data)}`);
    this.#transport.write(data);
  }

  /** Writes each buffer in turn. */
  writelines(data: Iterable<Uint8Array>): void {
    for (const chunk of data) this.write(chunk);
  }

  /**
   * Waits while more than 64 KiB is queued, until at most 16 KiB is. Throws
   * the connection's error if it failed, ConnectionResetError once closed.
   */
  drain(): Coro<void> {
    return this.#transport.drain();
  }

  /** True: stream sockets can half-close. */
  canWriteEof(): boolean {
    return true;
  }

  /** Sends EOF (shutdown SHUT_WR) once the queue is sent; the peer can still send. */
  writeEof(): void {
    this.#transport.writeEof();
  }

  /** Closes the connection once what is queued is sent. */
  close(): void {
    this.#transport.close();
  }

  /** True once `close()` was called or the connection was lost. */
  isClosing(): boolean {
    return this.#transport.closing || this.#transport.lost;
  }

  /** Waits until the socket is closed; throws the error that ended the connection, if one did. */
  waitClosed(): Coro<void> {
    return this.#transport.waitClosed();
  }

  /** 'peername', 'sockname' (addresses) or 'socket' (the Socket; leave its I/O to the stream). */
  getExtraInfo(name: 'peername' | 'sockname' | 'socket', fallback?: unknown): unknown {
    return this.#transport.getExtraInfo(name, fallback);
  }

  /** Bytes queued and not yet sent. */
  get bufferedSize(): number {
    return this.#transport.buffered;
  }

  /** The reader of the same connection. */
  get reader(): StreamReader | null {
    return this.#reader;
  }

  /** @internal */
  get _transport(): StreamTransport {
    return this.#transport;
  }
}
