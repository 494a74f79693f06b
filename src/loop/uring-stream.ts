// Receiving in the io_uring mode with one multishot request per socket over
// the ring's provided buffers: the request stays armed between reads, and
// each completion names the buffer the kernel filled. What arrives while no
// task reads is queued here, in order, and the next sockRecv/sockRecvInto
// takes it, so a cancelled reader loses nothing (the bytes never were its).
// Bounded: a socket holding MAX_QUEUED bytes nobody reads is disarmed (the
// rest stays in the kernel) and armed again when a reader has emptied it.
import { release } from 'node:os';

import { errno, errorFromErrno } from '../errors.js';
import { EVENT_READ } from '../selector.js';
import { SOCK_STREAM } from '../constants.js';
import { Socket, type Unread } from '../socket.js';
import { checkBytes, checkInt, INT32_MAX } from '../validate.js';
import type { Coro } from './futures.js';
import type { IoWatcher } from './io.js';
import { callerTask, closedWhileWaiting, socketFd } from './sock-ops.js';
import { type LoopCore, PARKED, type Task } from './task.js';
import type { RingFd, RingRequest, Uring } from './uring.js';

const ENOBUFS = errno.ENOBUFS!;
const ECANCELED = errno.ECANCELED!;
const CQE_F_BUFFER = 1;
const CQE_F_MORE = 2;
const BUFFER_SHIFT = 16;
/** Bytes a socket may hold unread before its request is cancelled. */
const MAX_QUEUED = 64 * 1024;
const SMALL_COPY = 128;

let multishotAllowed = true;

/** @internal For the tests: new rings use one request per receive even where multishot works. */
export function setUringMultishot(on: boolean): void {
  multishotAllowed = on;
}

/** Whether a new ring sets up provided buffers: multishot receive needs Linux 6.0. */
export function multishotWanted(): boolean {
  const [major = 0] = release().split('.').map((part) => Number.parseInt(part, 10));
  return multishotAllowed && major >= 6;
}

/**
 * Whether `sock`'s receives go through a RecvStream: stream sockets where the
 * ring has provided buffers. Not datagrams: each read must return one
 * datagram whole, which a fixed-size buffer could cut and a queue would merge.
 */
export function streams(ring: Uring, sock: unknown): boolean {
  return ring.pool !== null && sock instanceof Socket && sock.type === SOCK_STREAM;
}

/**
 * sockRecvInto into a buffer this big skips the provided buffers when nothing
 * is read ahead: one request straight into the caller's buffer, rather than
 * a completion and a copy per 4 KiB (bulk transfers measured much slower so).
 */
const DIRECT_MIN = 16 * 1024;

/** Whether sockRecvInto(sock, buf) reads through `sock`'s RecvStream (else one request into `buf`). */
export function streamsInto(ring: Uring, sock: unknown, buf: unknown): boolean {
  if (!streams(ring, sock)) return false;
  if (!(buf instanceof Uint8Array) || buf.byteLength < DIRECT_MIN) return true;
  const stream = ring.streamOf(sock as Socket);
  return stream !== null && (stream.armed || stream.unread);
}

const PARKED_STEP: IteratorResult<unknown, never> = Object.freeze({ done: false, value: PARKED });

/** A socket's multishot receive and the bytes it brought that nobody took yet. */
export class RecvStream implements RingRequest, Unread {
  /** @internal */ _slot = -1;
  // Queued chunks as [buffer id, start, end] triples from #head on.
  #chunks: number[] = [];
  #head = 0;
  #queued = 0;
  #eof = false;
  #error = 0;
  #cancelling = false;
  #closed = false;
  /** The task's op waiting for bytes, if any. */
  waiter: StreamRecvOp<number | Buffer> | null = null;

  constructor(private readonly ring: Uring, readonly fd: number) {}

  get _taskName(): string {
    return this.waiter?._taskName ?? '?';
  }

  /** Something for a reader now: bytes, end of file, or an error. */
  get ready(): boolean {
    return this.#queued > 0 || this.#eof || this.#error !== 0;
  }

  /** Bytes or an error that the kernel will not give again (the socket's own receives take them first). */
  get unread(): boolean {
    return this.#queued > 0 || this.#error !== 0;
  }

  /** The request is in flight (bytes may still come). */
  get armed(): boolean {
    return this._slot >= 0;
  }

  /**
   * An fd callback (addReader) takes the socket over: stop reading ahead.
   * What came already stays queued for the socket's own receives.
   */
  disarm(): void {
    if (this._slot >= 0 && !this.#cancelling) {
      this.#cancelling = true;
      this.ring.cancelSlot(this._slot);
    }
  }

  /** Arms the request if it is not (a reader waits for bytes). */
  arm(): void {
    if (this._slot < 0 && !this.#closed) {
      this.#cancelling = false;
      this.ring.armStream(this);
    }
  }

  /**
   * Copies up to `length` queued bytes into `out` at 0 (a fresh Buffer when
   * `out` is null) and gives spent buffers back (not when `peek`); at end of
   * file, 0 bytes; a recorded error is thrown once.
   */
  take(out: Uint8Array | null, length: number, peek = false): number | Buffer {
    if (this.#queued === 0) {
      if (this.#error !== 0) {
        const err = this.#error;
        this.#error = 0;
        throw errorFromErrno(err, 'recv');
      }
      return out === null ? Buffer.alloc(0) : 0;
    }
    const n = Math.min(length, this.#queued);
    const target = out ?? Buffer.allocUnsafe(n);
    const pool = this.ring.pool!;
    const chunks = this.#chunks;
    let got = 0;
    let at = this.#head;
    while (got < n) {
      const bid = chunks[at]!;
      const start = chunks[at + 1]!;
      const end = chunks[at + 2]!;
      const base = bid * this.ring.bufferSize;
      const step = Math.min(end - start, n - got);
      if (step <= SMALL_COPY) {
        // A loop beats making a subarray for a few bytes.
        for (let i = 0, from = base + start; i < step; i++) target[got + i] = pool[from + i]!;
      } else {
        target.set(pool.subarray(base + start, base + start + step), got);
      }
      got += step;
      if (peek) {
        at += 3;
      } else if (start + step === end) {
        this.ring.returnBuffer(bid);
        this.#head = at += 3;
      } else {
        chunks[at + 1] = start + step;
      }
    }
    if (peek) return out === null ? target as Buffer : n;
    this.#queued -= n;
    if (this.#head === chunks.length) {
      chunks.length = 0;
      this.#head = 0;
    }
    return out === null ? target as Buffer : n;
  }

  /** @internal A completion: a filled buffer, end of file, or the request's end. */
  _complete(res: number, flags: number): void {
    if ((flags & CQE_F_BUFFER) !== 0) {
      const bid = flags >>> BUFFER_SHIFT;
      this.ring.buffersHeld++;
      if (res > 0 && !this.#closed) {
        this.#chunks.push(bid, 0, res);
        this.#queued += res;
        if (this.#queued >= MAX_QUEUED && this._slot >= 0 && !this.#cancelling) {
          // Nobody reads fast enough: leave the rest in the kernel.
          this.#cancelling = true;
          this.ring.cancelSlot(this._slot);
        }
      } else {
        this.ring.returnBuffer(bid);
      }
    } else if (res === 0) {
      this.#eof = true;
    } else if (res < 0 && res !== -ECANCELED && res !== -ENOBUFS) {
      this.#error = -res;
    }
    if ((flags & CQE_F_MORE) === 0) {
      this._slot = -1;
      // Out of provided buffers: armed again when one comes back.
      if (res === -ENOBUFS && !this.#closed) this.ring.starved(this);
    }
    const waiter = this.waiter;
    if (waiter !== null && this.ready) {
      this.waiter = null;
      waiter._wakeUp();
    } else if (waiter !== null && this._slot < 0 && res !== -ENOBUFS) {
      this.arm();
    }
  }

  /** @internal The socket is going: cancel, give every buffer back, wake the reader with an error. */
  _socketClosed(): void {
    this.#closed = true;
    if (this._slot >= 0 && !this.#cancelling) {
      this.#cancelling = true;
      this.ring.cancelSlot(this._slot);
    }
    const chunks = this.#chunks;
    for (let at = this.#head; at < chunks.length; at += 3) this.ring.returnBuffer(chunks[at]!);
    chunks.length = 0;
    this.#head = 0;
    this.#queued = 0;
    const waiter = this.waiter;
    this.waiter = null;
    waiter?._wakeUp();
  }

  /** What is still unread, copied out of the ring's buffers (for after the ring is gone). */
  leftover(): Leftover {
    return new Leftover(this.#queued > 0 ? this.take(null, this.#queued) as Buffer : Buffer.alloc(0), this.#error);
  }

  /** The loop's ring closed: the kernel dropped the request and the buffers with it. */
  dropped(): void {
    this.#closed = true;
    this._slot = -1;
  }

  /** @internal Unused: the stream itself never parks a task. */
  _unpark(): void {}
}

/** Bytes read ahead that outlived their loop: the socket's own receives take them. */
class Leftover implements Unread {
  #offset = 0;
  constructor(private readonly bytes: Buffer, private error: number) {}

  get unread(): boolean {
    return this.#offset < this.bytes.length || this.error !== 0;
  }

  take(out: Uint8Array | null, length: number, peek: boolean): number | Buffer {
    if (this.#offset === this.bytes.length) {
      const err = this.error;
      this.error = 0;
      throw errorFromErrno(err, 'recv');
    }
    const part = this.bytes.subarray(this.#offset, this.#offset + length);
    if (!peek) this.#offset += part.length;
    if (out === null) return Buffer.from(part);
    out.set(part);
    return part.length;
  }

  /** Held strongly by the socket: the same shape as the open loop's WeakRef. */
  deref(): this {
    return this;
  }
}

/** sockRecv / sockRecvInto over a socket's RecvStream. */
export class StreamRecvOp<T extends number | Buffer> implements Coro<T> {
  #task: Task<unknown> | null = null;
  #stream: RecvStream | null = null;
  #state: RingFd | null = null;
  #fd = -1;
  #buf: Uint8Array | null = null;
  #length = 0;
  #done = false;

  constructor(private readonly loop: LoopCore, private readonly ring: Uring, private readonly io: IoWatcher,
    private readonly sock: Socket, private readonly arg: unknown, private readonly copy: boolean) {}

  get _taskName(): string {
    return this.#task?.name ?? '?';
  }

  next(): IteratorResult<unknown, T> {
    if (this.#done) return { done: true, value: undefined as unknown as T };
    let stream = this.#stream;
    if (stream === null) {
      if (this.copy) this.#length = checkInt(this.arg, 'n', 0, INT32_MAX);
      else this.#length = (this.#buf = checkBytes(this.arg, 'buf')).byteLength;
      this.#fd = socketFd(this.sock, 'recv');
      this.#task = callerTask(this.loop, this.copy ? 'sockRecv' : 'sockRecvInto');
      this.io.checkNoCallback(this.#fd, EVENT_READ);
      const state = this.#state = this.ring.fdState(this.sock, this.#fd);
      stream = this.#stream = state.stream ??= new RecvStream(this.ring, this.#fd);
      this.sock._unread = new WeakRef(stream);
      if (stream.waiter !== null || state.reader !== null) {
        throw new Error(`fd ${this.#fd} already has a task waiting to read; two tasks reading one socket at once would race`);
      }
    } else if (this.#state!.closed || this.sock.fileno() !== this.#fd) {
      this.#done = true;
      throw closedWhileWaiting('recv');
    }
    if (this.#length === 0 || stream.ready) {
      this.#done = true;
      const value = stream.take(this.#buf, this.#length) as T;
      // A big buffer: read straight into it from now on (streamsInto).
      if (!this.copy && this.#length >= DIRECT_MIN) stream.disarm();
      return { done: true, value };
    }
    stream.arm();
    stream.waiter = this as StreamRecvOp<number | Buffer>;
    this.#task!._waitingOn = this;
    this.ring.waiting++;
    return PARKED_STEP;
  }

  /** @internal Bytes came (or the socket closed): the task takes them at its next step. */
  _wakeUp(): void {
    this.ring.waiting--;
    this.#task!._wake(this);
  }

  /** @internal The task is cancelled: the bytes stay queued for the next reader. */
  _unpark(_task: Task<unknown>): void {
    this.#leave();
  }

  #leave(): void {
    const stream = this.#stream;
    if (stream !== null && stream.waiter === this) {
      stream.waiter = null;
      this.ring.waiting--;
    }
    this.#done = true;
  }

  throw(error: unknown): IteratorResult<unknown, T> {
    this.#leave();
    throw error;
  }

  return(value?: T): IteratorResult<unknown, T> {
    this.#leave();
    return { done: true, value: value as T };
  }

  [Symbol.iterator](): this {
    return this;
  }

  [Symbol.dispose](): void {
    this.#leave();
  }
}
