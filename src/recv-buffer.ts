// The buffers recv() reads into (Socket.recv and the loop's sockRecv): small
// reads go into one shared scratch and are copied out at their exact size,
// so a recv(65536) that gets 10 bytes neither allocates nor pins 64 KiB.
// The read and the copy happen with no pause between them, so one scratch
// serves every caller on the thread.

const SCRATCH_SIZE = 65536;
let scratch: Buffer | null = null;

/** A buffer to read up to `n` bytes into: the shared scratch, or a new one past its size. */
export function recvBuffer(n: number): Buffer {
  return n <= SCRATCH_SIZE ? (scratch ??= Buffer.allocUnsafeSlow(SCRATCH_SIZE)) : Buffer.allocUnsafe(n);
}

/**
 * The `got` bytes read into `buf` (from `recvBuffer(n)`) as a Buffer the
 * caller keeps: a copy out of the scratch, or out of a big buffer mostly
 * left empty; else the buffer itself, trimmed.
 */
export function takeReceived(buf: Buffer, got: number, n: number): Buffer {
  if (buf === scratch || got < n / 2) {
    const out = Buffer.allocUnsafe(got);
    buf.copy(out, 0, 0, got);
    return out;
  }
  return buf.subarray(0, got);
}
