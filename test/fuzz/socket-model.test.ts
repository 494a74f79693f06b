// Property-based test of Socket against a model of a connected AF_UNIX
// stream pair: random sequences of send, sendall, recv, recvInto, shutdown,
// close, option calls and hostile arguments on either end. The model keeps
// the bytes in flight each way and the state of each end, and says what
// every call must return or throw (API.md: BlockingIOError when nothing is
// there, an empty Buffer at EOF, BrokenPipeError or ConnectionResetError
// when the peer is gone, OSError EBADF once closed, TypeError/RangeError for
// bad arguments), and the bytes received must be exactly the bytes sent, in
// order.
//
// Same knobs as selector-model.test.ts: FUZZ_SEED, FUZZ_RUNS (default 200).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import {
  BlockingIOError, BrokenPipeError, ConnectionResetError, OSError, SHUT_RD, SHUT_RDWR, SHUT_WR,
  SO_RCVBUF, SO_TYPE, SOCK_STREAM, SOL_SOCKET, socketpair, type Socket,
} from '../../src/index.js';

const SEED = Number(process.env.FUZZ_SEED ?? 0x5e1ec7);
const RUNS = Number(process.env.FUZZ_RUNS ?? 200);
const TIMEOUT_MS = Math.max(60_000, RUNS * 50);

interface End {
  sock: Socket;
  closed: boolean;
  shutRd: boolean;
  shutWr: boolean;
  inbox: number[];     // bytes sent to this end, not read yet
  reset: boolean;      // the peer closed with bytes of ours unread: the next empty read is ECONNRESET
}

type Outcome = { ok: unknown } | { error: unknown };
function attempt(fn: () => unknown): Outcome {
  try {
    return { ok: fn() };
  } catch (error) {
    return { error };
  }
}

const closedError = (e: unknown) => e instanceof OSError && e.code === 'EBADF';
const argError = (e: unknown) => e instanceof TypeError || e instanceof RangeError;

type Op =
  | { op: 'send' | 'sendall'; end: number; bytes: Uint8Array }
  | { op: 'recv'; end: number; size: number }
  | { op: 'recvInto'; end: number; size: number; nbytes: number }
  | { op: 'shutdown'; end: number; how: number }
  | { op: 'close'; end: number }
  | { op: 'option'; end: number; which: number }
  | { op: 'hostile'; end: number; which: number };

// Calls with a bad argument, each with the error class the contract gives it.
const HOSTILE: Array<[string, (s: Socket) => unknown, 'TypeError' | 'RangeError']> = [
  ['send string', (s) => s.send('abc' as never), 'TypeError'],
  ['send null', (s) => s.send(null as never), 'TypeError'],
  ['send Uint16Array', (s) => s.send(new Uint16Array(2) as never), 'TypeError'],
  ['send flags -1', (s) => s.send(Buffer.from('x'), -1), 'RangeError'],
  ['sendall DataView', (s) => s.sendall(new DataView(new ArrayBuffer(2)) as never), 'TypeError'],
  ['recv -1', (s) => s.recv(-1), 'RangeError'],
  ['recv 1.5', (s) => s.recv(1.5), 'RangeError'],
  ['recv 2**31', (s) => s.recv(2 ** 31), 'RangeError'],
  ['recv NaN', (s) => s.recv(NaN), 'RangeError'],
  ['recv "1"', (s) => s.recv('1' as never), 'TypeError'],
  ['recv flags 1.5', (s) => s.recv(1, 1.5), 'RangeError'],
  ['recvInto array', (s) => s.recvInto([0, 0] as never), 'TypeError'],
  ['recvInto nbytes > length', (s) => s.recvInto(new Uint8Array(4), 5), 'RangeError'],
  ['recvInto nbytes -1', (s) => s.recvInto(new Uint8Array(4), -1), 'RangeError'],
  ['shutdown 3', (s) => s.shutdown(3), 'RangeError'],
  ['shutdown "1"', (s) => s.shutdown('1' as never), 'TypeError'],
  ['setsockopt string', (s) => s.setsockopt(SOL_SOCKET, SO_RCVBUF, 'x' as never), 'TypeError'],
  ['setsockopt 2**31', (s) => s.setsockopt(SOL_SOCKET, SO_RCVBUF, 2 ** 31), 'RangeError'],
  ['getsockopt buflen 1025', (s) => s.getsockopt(SOL_SOCKET, SO_TYPE, 1025), 'RangeError'],
  ['getsockopt level -1', (s) => s.getsockopt(-1, SO_TYPE), 'RangeError'],
  ['setBlocking 1', (s) => s.setBlocking(1 as never), 'TypeError'],
];

const END = fc.integer({ min: 0, max: 1 });
const OP: fc.Arbitrary<Op> = fc.oneof(
  { weight: 8, arbitrary: fc.record({ op: fc.constantFrom('send' as const, 'sendall' as const), end: END,
    bytes: fc.uint8Array({ minLength: 0, maxLength: 300 }) }) },
  { weight: 6, arbitrary: fc.record({ op: fc.constant('recv' as const), end: END, size: fc.integer({ min: 1, max: 400 }) }) },
  { weight: 4, arbitrary: fc.record({ op: fc.constant('recvInto' as const), end: END, size: fc.integer({ min: 1, max: 400 }),
    nbytes: fc.integer({ min: 0, max: 400 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('shutdown' as const), end: END, how: fc.constantFrom(SHUT_RD, SHUT_WR, SHUT_RDWR) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('close' as const), end: END }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('option' as const), end: END, which: fc.nat({ max: 2 }) }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('hostile' as const), end: END, which: fc.nat({ max: HOSTILE.length - 1 }) }) },
);

/** What an empty read gives: EOF (''), the reset error once, or EAGAIN. */
function emptyRead(me: End, peer: End): 'eof' | 'reset' | 'again' {
  if (me.reset) return 'reset';
  if (me.shutRd || peer.shutWr || peer.closed) return 'eof';
  return 'again';
}

/** Checks a read's outcome against the model; returns the bytes read. */
function checkRead(what: string, out: Outcome, me: End, peer: End, max: number): number[] | null {
  if (me.closed) {
    expect(closedError((out as { error: unknown }).error), `${what}: EBADF on a closed socket`).toBe(true);
    return null;
  }
  if (me.inbox.length > 0 && max > 0) {
    if ('error' in out) throw new Error(`${what}: expected data, got ${String(out.error)}`);
    return [];
  }
  const expected = max === 0 && me.inbox.length > 0 ? 'zero' : emptyRead(me, peer);
  if (expected === 'again') {
    expect((out as { error: unknown }).error, `${what}: nothing to read`).toBeInstanceOf(BlockingIOError);
  } else if (expected === 'reset') {
    expect((out as { error: unknown }).error, `${what}: peer closed with our bytes unread`).toBeInstanceOf(ConnectionResetError);
    me.reset = false;
  } else if ('error' in out) {
    // A zero-byte read, or EOF: nothing may be lost either way.
    if (!(out.error instanceof BlockingIOError) || expected !== 'zero') throw new Error(`${what}: expected EOF, got ${String(out.error)}`);
  }
  return null;
}

function runSequence(ops: Op[]): void {
  const socks = socketpair();
  const ends: End[] = socks.map((sock) => {
    sock.setBlocking(false);
    return { sock, closed: false, shutRd: false, shutWr: false, inbox: [], reset: false };
  });
  try {
    for (const [step, o] of ops.entries()) {
      const what = `step ${step}: ${JSON.stringify(o, (_, v) => (v instanceof Uint8Array ? `<${v.length} bytes>` : v))}`;
      const me = ends[o.end]!;
      const peer = ends[1 - o.end]!;
      switch (o.op) {
        case 'send':
        case 'sendall': {
          const out = attempt(() => (o.op === 'send' ? me.sock.send(o.bytes) : me.sock.sendall(o.bytes)));
          if (me.closed) {
            expect(closedError((out as { error: unknown }).error), what).toBe(true);
          } else if (o.bytes.length === 0 && o.op === 'sendall') {
            expect(out, `${what}: nothing to send, no system call`).toEqual({ ok: undefined });
          } else if (me.shutWr || peer.closed || peer.shutRd) {
            // Linux AF_UNIX: EPIPE for a shut or gone peer, never SIGPIPE.
            const e = (out as { error: unknown }).error;
            expect(e instanceof BrokenPipeError || e instanceof ConnectionResetError, `${what}: got ${String(e)}`).toBe(true);
          } else {
            if ('error' in out) throw new Error(`${what}: ${String(out.error)}`);
            expect(out.ok, what).toBe(o.op === 'send' ? o.bytes.length : undefined);
            peer.inbox.push(...o.bytes);
          }
          break;
        }
        case 'recv': {
          const out = attempt(() => me.sock.recv(o.size));
          checkRead(what, out, me, peer, o.size);
          if ('ok' in out && !me.closed) {
            const got = [...(out.ok as Buffer)];
            expect(got.length, what).toBeLessThanOrEqual(o.size);
            if (me.inbox.length > 0) expect(got.length, `${what}: data waiting`).toBeGreaterThan(0);
            expect(got, `${what}: the bytes, in order`).toEqual(me.inbox.slice(0, got.length));
            me.inbox.splice(0, got.length);
          }
          break;
        }
        case 'recvInto': {
          const buf = new Uint8Array(o.size).fill(0xee);
          const nbytes = Math.min(o.nbytes, o.size);
          const max = nbytes === 0 ? o.size : nbytes;
          const out = attempt(() => me.sock.recvInto(buf, nbytes));
          checkRead(what, out, me, peer, max);
          if ('ok' in out && !me.closed) {
            const n = out.ok as number;
            expect(n, what).toBeLessThanOrEqual(max);
            if (me.inbox.length > 0) expect(n, `${what}: data waiting`).toBeGreaterThan(0);
            expect([...buf.subarray(0, n)], what).toEqual(me.inbox.slice(0, n));
            expect(buf.subarray(n).every((b) => b === 0xee), `${what}: nothing written past the count`).toBe(true);
            me.inbox.splice(0, n);
          }
          break;
        }
        case 'shutdown': {
          const out = attempt(() => me.sock.shutdown(o.how));
          if (me.closed) {
            expect(closedError((out as { error: unknown }).error), what).toBe(true);
          } else {
            if ('error' in out) throw new Error(`${what}: ${String(out.error)}`);
            if (o.how !== SHUT_WR) me.shutRd = true;
            if (o.how !== SHUT_RD) me.shutWr = true;
          }
          break;
        }
        case 'close': {
          me.sock.close(); // idempotent
          expect(me.sock.fileno(), what).toBe(-1);
          if (!me.closed && me.inbox.length > 0 && !peer.closed) peer.reset = true; // Linux AF_UNIX
          me.closed = true;
          me.inbox = [];
          break;
        }
        case 'option': {
          const out = attempt(() => [
            () => me.sock.getsockopt(SOL_SOCKET, SO_TYPE),
            () => me.sock.getBlocking(),
            () => me.sock.setBlocking(false),
          ][o.which]!());
          if (me.closed) expect(closedError((out as { error: unknown }).error), what).toBe(true);
          else expect(out, what).toEqual({ ok: [SOCK_STREAM, false, undefined][o.which] });
          break;
        }
        case 'hostile': {
          const [name, call, cls] = HOSTILE[o.which]!;
          const out = attempt(() => call(me.sock));
          const e = (out as { error: unknown }).error;
          if ('ok' in out) throw new Error(`${what} (${name}): expected ${cls}, it succeeded`);
          // On a closed socket either complaint is right: EBADF or the argument.
          if (me.closed && closedError(e)) break;
          expect(argError(e), `${what} (${name}): got ${String(e)}`).toBe(true);
          expect((e as Error).name, `${what} (${name})`).toBe(cls);
          break;
        }
      }
    }
  } finally {
    for (const end of ends) end.sock.close();
  }
}

describe('Socket (AF_UNIX stream pair) against the model', () => {
  it(`agrees with the model over ${RUNS} random call sequences (seed ${SEED})`, () => {
    fc.assert(fc.property(fc.array(OP, { minLength: 1, maxLength: 80, size: 'max' }), runSequence),
      { seed: SEED, numRuns: RUNS });
  }, TIMEOUT_MS);
});
