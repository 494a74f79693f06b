// The loop's datagram operations, asyncio's sock_recvfrom,
// sock_recvfrom_into and sock_sendto: try the system call first, park the
// task on EAGAIN. The fd's registration outlives each wait (see io.ts), so a
// server that receives and answers in turn makes no epoll_ctl call in its
// steady state. Unlike sockRecv, a read that came back short says nothing
// about what is left (datagrams have their own sizes), so every receive
// tries the system call first.
import { errno, errorFromErrno } from '../errors.js';
import { resolveAddress, tryRecvFrom, trySendTo } from '../loop-interface.js';
import type { NativeAddress, Sockaddr } from '../native.js';
import { EVENT_READ, EVENT_WRITE } from '../selector.js';
import type { Address, Socket } from '../socket.js';
import { checkBytes, checkInt, INT32_MAX } from '../validate.js';
import type { IoWatcher } from './io.js';
import { recvBuffer, takeReceived } from '../recv-buffer.js';
import { SockOp, socketFd } from './sock-ops.js';
import type { LoopCore } from './task.js';

const EAGAIN = errno.EAGAIN!;

function toAddress(value: NativeAddress): Address {
  return value === null ? '' : value;
}

/**
 * sockRecvfrom (a Buffer of its own, read via the shared scratch) and
 * sockRecvfromInto (into the caller's buffer; allocates no bytes).
 */
export class RecvfromOp<T extends Buffer | number> extends SockOp<[T, Address]> {
  #buf: Uint8Array = Buffer.alloc(0);
  #length = 0;

  /** `copy`: sockRecvfrom with `arg` the size; else sockRecvfromInto with `arg` the buffer and `nbytes`. */
  constructor(loop: LoopCore, io: IoWatcher, sock: Socket, private readonly arg: unknown,
    private readonly nbytes: unknown, private readonly copy: boolean) {
    super(loop, io, sock, 'recvfrom');
  }

  protected start(): number {
    if (this.copy) {
      this.#length = checkInt(this.arg, 'n', 0, INT32_MAX);
    } else {
      const buf = checkBytes(this.arg, 'buf');
      const nbytes = this.nbytes === undefined ? 0 : checkInt(this.nbytes, 'nbytes', 0, INT32_MAX);
      if (nbytes > buf.byteLength) {
        throw new RangeError(`nbytes (${nbytes}) is larger than buf (${buf.byteLength} bytes)`);
      }
      this.#buf = buf;
      this.#length = nbytes === 0 ? buf.byteLength : nbytes;
    }
    return socketFd(this.sock, 'recvfrom');
  }

  protected attempt(): boolean {
    // Taken here, not in start(): the scratch is shared, and only the span
    // from the read to the copy-out is ours.
    if (this.copy) this.#buf = recvBuffer(this.#length);
    const out = tryRecvFrom(this.fd, this.#buf, 0, this.#length);
    if (typeof out !== 'number') {
      const got = out[0];
      const data = this.copy ? takeReceived(this.#buf as Buffer, got, this.#length) : got;
      this.result = [data as T, toAddress(out[1])];
      return true;
    }
    if (out !== -EAGAIN) throw errorFromErrno(-out, 'recvfrom');
    this.park(EVENT_READ, this.copy ? 'sockRecvfrom' : 'sockRecvfromInto');
    return false;
  }
}

/** sockSendto: one datagram, waiting for room in the kernel's buffer if need be. */
export class SendtoOp extends SockOp<number> {
  #data: Uint8Array = Buffer.alloc(0);
  #to: Sockaddr | null = null;

  constructor(loop: LoopCore, io: IoWatcher, sock: Socket, private readonly arg: unknown,
    private readonly address: unknown) {
    super(loop, io, sock, 'sendto');
  }

  protected start(): number {
    const fd = socketFd(this.sock, 'sendto');
    this.#data = checkBytes(this.arg, 'data');
    // Resolved once: a wait for room does not look the name up again.
    this.#to = resolveAddress(this.sock.family, this.sock.type, this.address);
    return fd;
  }

  protected attempt(): boolean {
    const sent = trySendTo(this.fd, this.#data, 0, this.#data.byteLength, this.#to!);
    if (sent >= 0) {
      this.result = sent;
      return true;
    }
    if (sent !== -EAGAIN) throw errorFromErrno(-sent, 'sendto');
    this.park(EVENT_WRITE, 'sockSendto');
    return false;
  }
}
