// The socket operations of the io_uring mode: sockAccept, sockConnect,
// sockRecv, sockRecvInto and sockSendall as ring requests. Each queues its
// request and parks its task; the next iteration's enter submits it along
// with everything else, and the completion wakes the task with the result.
// The state machine they share, and how cancellation keeps every byte, is
// in uring-op.ts.
import { SO_ERROR, SOL_SOCKET } from '../constants.js';
import { errno, errorFromErrno } from '../errors.js';
import { closeFd } from '../loop-interface.js';
import { type Address, resolveAddress, Socket } from '../socket.js';
import { checkBytes, checkInt, INT32_MAX } from '../validate.js';
import type { IoWatcher } from './io.js';
import { requireNonBlocking, socketFd } from './sock-ops.js';
import type { LoopCore } from './task.js';
import { OP_ACCEPT, OP_CONNECT, OP_RECV, OP_SEND, type Uring } from './uring.js';
import { RingOp } from './uring-op.js';

const EAGAIN = errno.EAGAIN!;
const EINPROGRESS = errno.EINPROGRESS!;
const EALREADY = errno.EALREADY!;
const EINTR = errno.EINTR!;

const EMPTY = new Uint8Array(0);
// sockRecv's per-socket buffer is at most this big; larger reads get their own.
const SCRATCH_MAX = 65536;

/** sockRecv (copy: up to n bytes in a Buffer of their own) and sockRecvInto (into the caller's buffer). */
export class RingRecvOp<T extends number | Buffer> extends RingOp<T> {
  #buf: Uint8Array = EMPTY;
  #length = 0;

  constructor(loop: LoopCore, ring: Uring, io: IoWatcher, sock: Socket, private readonly arg: unknown,
    private readonly copy: boolean) {
    super(loop, ring, io, sock, 'recv', copy ? 'sockRecv' : 'sockRecvInto', true);
  }

  protected validate(): void {
    if (this.copy) this.#length = checkInt(this.arg, 'n', 0, INT32_MAX);
    else this.#length = (this.#buf = checkBytes(this.arg, 'buf')).byteLength;
  }

  protected override takeLeftover(): boolean {
    const state = this.state!;
    const stash = state.stash;
    if (stash === null) return false;
    const n = Math.min(stash.length, this.#length);
    if (this.copy) {
      this.result = Buffer.from(stash.subarray(0, n)) as T;
    } else {
      this.#buf.set(stash.subarray(0, n));
      this.result = n as T;
    }
    state.stash = n === stash.length ? null : stash.subarray(n);
    return true;
  }

  protected issue(): void {
    const state = this.state!;
    if (this.copy && this.#buf === EMPTY) {
      const n = this.#length;
      if (n <= SCRATCH_MAX) {
        // Reused by this socket's next reads: one reader at a time, and the
        // bytes are copied out before the task sees them.
        if (state.scratch === null || state.scratch.length < n) state.scratch = Buffer.allocUnsafeSlow(Math.max(n, 1024));
        this.#buf = state.scratch;
      } else {
        this.#buf = Buffer.allocUnsafe(n);
      }
    }
    this.submit(OP_RECV, this.#buf, 0, this.#length, state.drained ? 1 : 0);
  }

  protected finish(res: number): boolean {
    if (res < 0) {
      if (res === -EAGAIN) {
        this.parkOnFd();
        return false;
      }
      throw errorFromErrno(-res, 'recv');
    }
    this.state!.drained = res > 0 && res < this.#length;
    this.result = (this.copy ? this.#copyOut(res) : res) as T;
    return true;
  }

  protected override salvage(res: number): void {
    const state = this.state!;
    if (res <= 0 || state.closed) return;
    const got = Buffer.from(this.#buf.subarray(0, res));
    state.stash = state.stash === null ? got : Buffer.concat([state.stash, got]);
  }

  #copyOut(got: number): Buffer {
    const buf = this.#buf as Buffer;
    if (buf === this.state!.scratch || got < this.#length / 2) {
      const out = Buffer.allocUnsafe(got);
      buf.copy(out, 0, 0, got);
      return out;
    }
    return buf.subarray(0, got);
  }
}

/** sockSendall: sends everything, asking again after a partial send. */
export class RingSendallOp extends RingOp<void> {
  #data: Uint8Array = EMPTY;
  #offset = 0;

  constructor(loop: LoopCore, ring: Uring, io: IoWatcher, sock: Socket, private readonly arg: unknown) {
    super(loop, ring, io, sock, 'send', 'sockSendall', false);
  }

  protected validate(): void {
    this.#data = checkBytes(this.arg, 'data');
  }

  protected override takeLeftover(): boolean {
    return this.#data.byteLength === 0;
  }

  protected issue(): void {
    this.submit(OP_SEND, this.#data, this.#offset, this.#data.byteLength - this.#offset, 0);
  }

  protected finish(res: number): boolean {
    if (res < 0) {
      if (res === -EAGAIN) {
        this.parkOnFd();
        return false;
      }
      throw errorFromErrno(-res, 'send');
    }
    this.#offset += res;
    if (this.#offset < this.#data.byteLength) {
      this.issue();
      return false;
    }
    return true;
  }
}

/** sockAccept: a new non-blocking Socket (made so by the kernel) and the peer's address. */
export class RingAcceptOp extends RingOp<[Socket, Address]> {
  constructor(loop: LoopCore, ring: Uring, io: IoWatcher, sock: Socket) {
    super(loop, ring, io, sock, 'accept', 'sockAccept', true);
  }

  protected validate(): void {
    requireNonBlocking(socketFd(this.sock, 'accept'), 'sockAccept');
  }

  protected override takeLeftover(): boolean {
    const accepted = this.state!.accepted;
    if (accepted === null || accepted.length === 0) return false;
    this.result = this.#wrap(accepted.shift()!);
    return true;
  }

  protected issue(): void {
    this.submit(OP_ACCEPT, null, 0, 0, 0);
  }

  protected finish(res: number): boolean {
    if (res < 0) {
      if (res === -EAGAIN) {
        this.parkOnFd();
        return false;
      }
      throw errorFromErrno(-res, 'accept');
    }
    this.result = this.#wrap(res);
    return true;
  }

  protected override salvage(res: number): void {
    if (res < 0) return;
    const state = this.state!;
    if (state.closed) closeFd(res);
    else (state.accepted ??= []).push(res);
  }

  #wrap(fd: number): [Socket, Address] {
    const conn = new Socket(this.sock.family, this.sock.type, this.sock.proto, fd);
    let address: Address = '';
    try {
      address = conn.getpeername();
    } catch {
      // The peer is already gone (ENOTCONN): its address is lost with it.
    }
    return [conn, address];
  }
}

/** sockConnect: the ring waits for the handshake; a kernel that says EINPROGRESS gets the readiness path. */
export class RingConnectOp extends RingOp<void> {
  #address: Buffer = Buffer.alloc(0);

  constructor(loop: LoopCore, ring: Uring, io: IoWatcher, sock: Socket, private readonly arg: Address) {
    super(loop, ring, io, sock, 'connect', 'sockConnect', false);
  }

  protected validate(): void {
    const fd = socketFd(this.sock, 'connect');
    requireNonBlocking(fd, 'sockConnect');
    this.#address = resolveAddress(this.sock.family, this.sock.type, this.arg);
  }

  protected issue(): void {
    this.submit(OP_CONNECT, this.#address, 0, 0, 0);
  }

  protected finish(res: number): boolean {
    if (res === -EINPROGRESS || res === -EAGAIN || res === -EALREADY || res === -EINTR) {
      this.parkOnFd();
      return false;
    }
    if (res < 0) throw errorFromErrno(-res, 'connect');
    return true;
  }

  protected override ready(): boolean {
    const outcome = this.sock.getsockopt(SOL_SOCKET, SO_ERROR) as number;
    if (outcome === 0) return true;
    if (outcome === EINPROGRESS || outcome === EAGAIN || outcome === EINTR) {
      this.parkOnFd();
      return false;
    }
    throw errorFromErrno(outcome, 'connect');
  }
}
