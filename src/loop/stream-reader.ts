// StreamReader: asyncio's buffered reading (read, readline, readexactly,
// readuntil) over a socket of the loop.
//
// It pulls: the socket is read only when a read needs more than the buffer
// holds, straight from the reading task (no reader task, no callback). So
// the buffer never grows beyond what a waiting read asked for plus one
// recv: asyncio's "stop reading above 2 * limit unless a read waits"
// flow-control rule holds by construction, and a peer that floods is held
// back by its own socket buffer filling up.
import { OSError } from '../errors.js';
import { checkInt, describe, INT32_MAX } from '../validate.js';
import { type EventLoop, getRunningLoop } from './event-loop.js';
import { type Coro, Future } from './futures.js';
import type { Socket } from '../socket.js';

/** The default `limit`: the longest line or `readuntil` chunk, in bytes. */
export const DEFAULT_LIMIT = 64 * 1024;
// One recv's size: asyncio's transports read in chunks of this order.
const READ_SIZE = 64 * 1024;
const EMPTY = Buffer.alloc(0);

/** Thrown by `readexactly`/`readuntil` at EOF before they had enough. */
export class IncompleteReadError extends Error {
  /** What was read before EOF. */
  readonly partial: Buffer;
  /** How many bytes were wanted (null for `readuntil`). */
  readonly expected: number | null;

  constructor(partial: Buffer, expected: number | null) {
    super(`${partial.length} bytes read on a total of ${expected === null ? 'undefined' : expected} expected bytes`);
    this.partial = partial;
    this.expected = expected;
  }
}

/** Thrown by `readuntil`/`readline` when no separator comes within `limit` bytes. */
export class LimitOverrunError extends Error {
  /** How many bytes can be dropped to skip past the overlong part. */
  readonly consumed: number;

  constructor(message: string, consumed: number) {
    super(message);
    this.consumed = consumed;
  }
}
for (const cls of [IncompleteReadError, LimitOverrunError]) {
  Object.defineProperty(cls.prototype, 'name', { value: cls.name, configurable: true, writable: true });
}

/** @internal Where a socket-backed reader gets its bytes. */
export interface ReaderSource {
  readonly loop: EventLoop;
  readonly sock: Socket;
  /** The connection is gone (closed here, or failed): reads see EOF or `lostError`. */
  readonly lost: boolean;
  readonly lostError: unknown;
}

function toBytes(value: unknown, name: string): Buffer {
  if (typeof value === 'string') return Buffer.from(value, 'utf8');
  if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  throw new TypeError(`${name} must be a string, Buffer or Uint8Array, got ${describe(value)}`);
}

/**
 * Reads from a connection (made by `openConnection`/`startServer`), or from
 * data fed with `feedData`/`feedEof` when constructed directly.
 */
export class StreamReader {
  readonly #limit: number;
  // The unread bytes: a list of chunks, merged only when a search needs it.
  #chunks: Buffer[] = [];
  #size = 0;
  #eof = false;
  #exception: unknown = null;
  #waiting: string | null = null;
  #feedWaiter: Future<void> | null = null;
  /** @internal */ _source: ReaderSource | null = null;

  /** `limit`: the longest line (or `readuntil` chunk) accepted, default 64 KiB. */
  constructor(options?: { limit?: number }) {
    this.#limit = options?.limit === undefined ? DEFAULT_LIMIT : checkInt(options.limit, 'options.limit', 1, INT32_MAX);
  }

  /** The exception set on it (the connection's failure), or null. */
  exception(): unknown {
    return this.#exception;
  }

  /** Makes every later read throw `error` (and wakes a waiting one). */
  setException(error: unknown): void {
    this.#exception = error;
    this.#wakeFeedWaiter();
  }

  /** Adds bytes to the buffer (a reader made without a connection). */
  feedData(data: Uint8Array | string): void {
    if (this.#eof) throw new Error('feedData() after feedEof()');
    const bytes = toBytes(data, 'data');
    if (bytes.length === 0) return;
    this.#append(Buffer.from(bytes));
    this.#wakeFeedWaiter();
  }

  /** Marks the end of the data. */
  feedEof(): void {
    this.#eof = true;
    this.#wakeFeedWaiter();
  }

  /** @internal Bytes buffered and not yet read (for tests of flow control). */
  get _buffered(): number {
    return this.#size;
  }

  /** True once EOF was seen and the buffer is empty. */
  atEof(): boolean {
    return this.#eof && this.#size === 0;
  }

  /**
   * Reads up to `n` bytes (at least one unless at EOF, where it returns an
   * empty Buffer). With `n` omitted or negative, reads everything to EOF.
   */
  *read(n = -1): Coro<Buffer> {
    if (typeof n !== 'number' || !Number.isInteger(n)) throw new TypeError(`n must be an integer, got ${describe(n)}`);
    this.#throwIfFailed();
    if (n === 0) return EMPTY;
    if (n < 0) {
      while (!this.#eof) yield* this.#fill('read', READ_SIZE);
      return this.#take(this.#size);
    }
    if (this.#size === 0 && !this.#eof) {
      const direct = yield* this.#fill('read', Math.min(n, READ_SIZE), true);
      if (direct !== null) return direct;
    }
    return this.#take(Math.min(n, this.#size));
  }

  /**
   * Reads one line, through its `\n`; at EOF, what is left (possibly empty).
   * A line longer than `limit` is dropped and throws RangeError (asyncio's ValueError).
   */
  *readline(): Coro<Buffer> {
    try {
      return yield* this.readuntil('\n');
    } catch (error) {
      if (error instanceof IncompleteReadError) return error.partial;
      if (error instanceof LimitOverrunError) {
        // Drop the overlong line (through its separator if it came).
        const merged = this.#merged();
        if (merged[error.consumed] === 0x0a) this.#take(error.consumed + 1);
        else this.#take(this.#size);
        throw new RangeError(error.message);
      }
      throw error;
    }
  }

  /** Reads exactly `n` bytes; throws IncompleteReadError (with what came) at an early EOF. */
  *readexactly(n: number): Coro<Buffer> {
    checkInt(n, 'n', 0, Number.MAX_SAFE_INTEGER);
    this.#throwIfFailed();
    while (this.#size < n) {
      if (this.#eof) throw new IncompleteReadError(this.#take(this.#size), n);
      yield* this.#fill('readexactly', Math.min(n - this.#size, READ_SIZE));
    }
    return this.#take(n);
  }

  /**
   * Reads through `separator` (default `\n`) and returns it all, separator
   * included. Throws IncompleteReadError at EOF without it (the data stays
   * consumed, in `partial`), LimitOverrunError when it is not within `limit`
   * bytes (the data stays in the buffer).
   */
  *readuntil(separator: Uint8Array | string = '\n'): Coro<Buffer> {
    const sep = toBytes(separator, 'separator');
    if (sep.length === 0) throw new RangeError('separator must be at least one byte');
    this.#throwIfFailed();
    let offset = 0;
    let found = -1;
    for (;;) {
      if (this.#size - offset >= sep.length) {
        found = this.#merged().indexOf(sep, offset);
        if (found !== -1) break;
        offset = this.#size + 1 - sep.length;
        if (offset > this.#limit) {
          throw new LimitOverrunError('Separator is not found, and chunk exceed the limit', offset);
        }
      }
      if (this.#eof) throw new IncompleteReadError(this.#take(this.#size), null);
      yield* this.#fill('readuntil', READ_SIZE);
    }
    if (found > this.#limit) throw new LimitOverrunError('Separator is found, but chunk is longer than limit', found);
    return this.#take(found + sep.length);
  }

  // Waits for more bytes (or EOF). With `direct`, a recv made into an empty
  // buffer is handed back instead of buffered (read(n)'s fast path).
  *#fill(what: string, size: number, direct = false): Coro<Buffer | null> {
    if (this.#waiting !== null) {
      throw new Error(`${what}() called while another task is already waiting for incoming data (in ${this.#waiting}())`);
    }
    this.#waiting = what;
    try {
      const source = this._source;
      if (source === null) {
        const fut = new Future<void>(getRunningLoop());
        this.#feedWaiter = fut;
        yield* fut;
        this.#throwIfFailed();
        return null;
      }
      if (source.lost) return this.#lost(source);
      let data: Buffer;
      try {
        data = yield* source.loop.sockRecv(source.sock, size);
      } catch (error) {
        // Closed here while we waited (writer.close()): EOF, as in asyncio.
        if (source.lost) return this.#lost(source);
        if (error instanceof OSError) this.#exception = error;
        throw error;
      }
      if (data.length === 0) {
        this.#eof = true;
      } else if (direct && this.#size === 0) {
        return data;
      } else {
        this.#append(data);
      }
      return null;
    } finally {
      this.#waiting = null;
      this.#feedWaiter = null;
    }
  }

  #lost(source: ReaderSource): null {
    if (source.lostError !== null && source.lostError !== undefined) {
      this.#exception = source.lostError;
      throw source.lostError;
    }
    this.#eof = true;
    return null;
  }

  #throwIfFailed(): void {
    if (this.#exception !== null) throw this.#exception;
  }

  #wakeFeedWaiter(): void {
    const fut = this.#feedWaiter;
    if (fut !== null && !fut.done()) fut._setResult(undefined);
  }

  #append(data: Buffer): void {
    this.#chunks.push(data);
    this.#size += data.length;
  }

  #merged(): Buffer {
    if (this.#chunks.length > 1) this.#chunks = [Buffer.concat(this.#chunks, this.#size)];
    return this.#chunks[0] ?? EMPTY;
  }

  // Removes and returns the first n bytes.
  #take(n: number): Buffer {
    if (n === 0) return EMPTY;
    const first = this.#chunks[0]!;
    let out: Buffer;
    if (first.length >= n) {
      out = first.subarray(0, n);
      if (first.length === n) this.#chunks.shift();
      else this.#chunks[0] = first.subarray(n);
    } else {
      out = Buffer.allocUnsafe(n);
      let filled = 0;
      while (filled < n) {
        const chunk = this.#chunks[0]!;
        const part = Math.min(chunk.length, n - filled);
        chunk.copy(out, filled, 0, part);
        filled += part;
        if (part === chunk.length) this.#chunks.shift();
        else this.#chunks[0] = chunk.subarray(part);
      }
    }
    this.#size -= n;
    return out;
  }
}
