// loop.sockSendfile(), asyncio's sock_sendfile: a file's bytes to a stream
// socket with sendfile(2), so they never pass through JS; where the OS has
// no sendfile, or refuses it for this pair of fds (a pipe or a socket as
// the "file", a non-regular file), the same bytes go by pread and send.
// Both paths read at an explicit position, so the file's own offset is left
// alone, and both count only what the kernel took: a cancelled send loses
// nothing and repeats nothing (the next attempt starts at offset + sent).
import { SOCK_STREAM } from '../constants.js';
import { errno, errorFromErrno } from '../errors.js';
import { tryPread, trySend, trySendfile } from '../loop-interface.js';
import { EVENT_WRITE } from '../selector.js';
import type { Socket } from '../socket.js';
import { checkFd, checkInt, describe } from '../validate.js';
import type { IoWatcher } from './io.js';
import { requireNonBlocking, SockOp, socketFd } from './sock-ops.js';
import type { LoopCore } from './task.js';

const EAGAIN = errno.EAGAIN!;

// What sendfile says when it cannot serve this pair of fds, rather than
// failing: then read and send instead (asyncio's SendfileNotAvailableError).
const NOT_AVAILABLE = new Set(
  ['EINVAL', 'ENOSYS', 'ENOTSUP', 'EOPNOTSUPP', 'ENOTSOCK', 'ESPIPE']
    .map((name) => errno[name]).filter((n): n is number => n !== undefined),
);

// The read-and-send path's chunk: big enough that a system call moves a
// useful amount, small enough not to matter per operation.
const CHUNK_SIZE = 256 * 1024;

let forceFallback = false;

/** @internal For tests: take the read-and-send path even where sendfile(2) works. */
export function setSendfileFallback(force: boolean): void {
  forceFallback = force;
}

/** sockSendfile: up to `count` bytes of file `fd` from `offset`, waiting for room as needed. */
export class SendfileOp extends SockOp<number> {
  #file = -1;
  #position = 0;
  #remaining = Infinity;
  #sent = 0;
  #fallback = forceFallback;
  // Read from the file, not yet taken by the socket: [start, end) of chunk.
  #chunk: Buffer | null = null;
  #start = 0;
  #end = 0;

  constructor(loop: LoopCore, io: IoWatcher, sock: Socket, private readonly fileFd: unknown,
    private readonly offset: unknown, private readonly count: unknown) {
    super(loop, io, sock, 'sendfile');
  }

  protected start(): number {
    this.#file = checkFd(this.fileFd, 'fd');
    this.#position = checkInt(this.offset, 'offset', 0, Number.MAX_SAFE_INTEGER);
    if (this.count !== null && this.count !== undefined) {
      this.#remaining = checkInt(this.count, 'count', 1, Number.MAX_SAFE_INTEGER);
    }
    const fd = socketFd(this.sock, 'sendfile');
    if (this.sock.type !== SOCK_STREAM) {
      throw new TypeError(`sockSendfile() needs a SOCK_STREAM socket, got type ${describe(this.sock.type)}`);
    }
    // sendfile has no per-call "don't wait" flag (as accept and connect).
    requireNonBlocking(fd, 'sockSendfile');
    return fd;
  }

  protected attempt(): boolean {
    while (this.#remaining > 0) {
      const sent = this.#fallback ? this.#readAndSend() : this.#sendfile();
      if (sent === 0) break; // end of file
      if (sent < 0) {
        // The kernel's buffer is full: watch for room only now.
        this.park(EVENT_WRITE, 'sockSendfile');
        return false;
      }
      this.#position += sent;
      this.#remaining -= sent;
      this.#sent += sent;
    }
    this.result = this.#sent;
    return true;
  }

  // One sendfile(2): the count (0 at end of file), or -1 for "would block".
  #sendfile(): number {
    for (;;) {
      if (this.#fallback) return this.#readAndSend();
      const n = trySendfile(this.fd, this.#file, this.#position, Math.min(this.#remaining, Number.MAX_SAFE_INTEGER));
      if (n >= 0) return n;
      if (n === -EAGAIN) return -1;
      if (!NOT_AVAILABLE.has(-n)) throw errorFromErrno(-n, 'sendfile');
      this.#fallback = true;
    }
  }

  // One send of what was read (reading the next chunk first when none is
  // left): the count (0 at end of file), or -1 for "would block".
  #readAndSend(): number {
    const chunk = (this.#chunk ??= Buffer.allocUnsafe(CHUNK_SIZE));
    if (this.#start === this.#end) {
      const got = tryPread(this.#file, chunk, 0, Math.min(CHUNK_SIZE, this.#remaining), this.#position);
      if (got < 0) throw errorFromErrno(-got, 'pread');
      if (got === 0) return 0;
      this.#start = 0;
      this.#end = got;
    }
    const n = trySend(this.fd, chunk, this.#start, this.#end - this.#start);
    if (n === -EAGAIN) return -1;
    if (n < 0) throw errorFromErrno(-n, 'send');
    this.#start += n;
    return n;
  }
}
