// The raw addon under hostile arguments. src/ checks arguments for users;
// the native functions check them again so that a direct caller can never
// make them touch memory outside a buffer, read a detached one, or crash
// the process. Each call here must throw a TypeError or RangeError, or
// return a negative errno; run under scripts/sanitize.sh, ASan and UBSan
// also prove that nothing out of bounds was touched on the way.
import { afterEach, describe, expect, it } from 'vitest';

import { native } from '../src/native.js';

const calls = native.socket;
const C = native.constants as Record<string, number>;
const errnoOf = (name: string): number =>
  Number(Object.entries(native.errnoNames).find(([, n]) => n === name)![0]);
const EBADF = errnoOf('EBADF');
const EINVAL = errnoOf('EINVAL');
const ENAMETOOLONG = errnoOf('ENAMETOOLONG');

// An fd number no process has open (RLIMIT_NOFILE is far below it).
const HUGE_FD = 2 ** 31 - 1;

// Everything opened here is closed after each test, pass or fail.
const fds: number[] = [];
afterEach(() => {
  for (const fd of fds.splice(0)) calls.close(fd);
});

/** A non-blocking AF_UNIX pair (so a hostile recv can never block the test). */
function pair(type = C.SOCK_STREAM!): [number, number] {
  const out = calls.socketpair(C.AF_UNIX!, type, 0);
  if (typeof out === 'number') throw new Error(`socketpair: ${out}`);
  fds.push(...out);
  for (const fd of out) expect(calls.setBlocking(fd, false)).toBe(0);
  return out;
}

function detached(n = 16): Uint8Array {
  const bytes = new Uint8Array(n);
  structuredClone(bytes, { transfer: [bytes.buffer] });
  expect(bytes.byteLength).toBe(0);
  return bytes;
}

/** Values that are not a 32-bit integer in any way. */
const NOT_INT32: unknown[] = [undefined, null, NaN, Infinity, -Infinity, 0.5, -0.5, 2 ** 31, -(2 ** 31) - 1,
  2 ** 53, 1e308, '3', '', true, {}, [], [3], () => 3, Symbol('s'), 10n, new Uint8Array(1),
  { valueOf: () => 3 }];

function outcome(fn: () => unknown): 'TypeError' | 'RangeError' | number | 'value' {
  try {
    const r = fn();
    return typeof r === 'number' ? r : 'value';
  } catch (error) {
    if (error instanceof TypeError) return 'TypeError';
    if (error instanceof RangeError) return 'RangeError';
    throw error;
  }
}

describe('native integer arguments', () => {
  // Every fd-taking call, with the fd as the hostile argument.
  const byFd: Record<string, (fd: unknown) => unknown> = {
    close: (fd) => calls.close(fd as number),
    setBlocking: (fd) => calls.setBlocking(fd as number, true),
    getBlocking: (fd) => calls.getBlocking(fd as number),
    listen: (fd) => calls.listen(fd as number, 1),
    accept: (fd) => calls.accept(fd as number),
    shutdown: (fd) => calls.shutdown(fd as number, 2),
    getsockname: (fd) => calls.getsockname(fd as number),
    getpeername: (fd) => calls.getpeername(fd as number),
    getsockopt: (fd) => calls.getsockopt(fd as number, C.SOL_SOCKET!, C.SO_TYPE!, 4),
    setsockopt: (fd) => calls.setsockopt(fd as number, C.SOL_SOCKET!, C.SO_KEEPALIVE!, new Uint8Array(4)),
    recvInto: (fd) => calls.recvInto(fd as number, new Uint8Array(4), 0, 4, 0),
    recvFrom: (fd) => calls.recvFrom(fd as number, new Uint8Array(4), 0, 4, 0),
    send: (fd) => calls.send(fd as number, new Uint8Array(4), 0, 4, 0),
    waitFd: (fd) => calls.waitFd(fd as number, 3, 0),
  };

  it('every fd argument that is not a 32-bit integer throws TypeError, without calling valueOf', () => {
    let called = false;
    const sneaky = { valueOf: () => { called = true; return 0; } };
    for (const [name, call] of Object.entries(byFd)) {
      for (const v of [...NOT_INT32, sneaky]) {
        expect(outcome(() => call(v)), `${name}(${String(v)})`).toBe('TypeError');
      }
    }
    expect(called).toBe(false);
  });

  it('an fd that is not open gives -EBADF (negative, or far above any open fd)', () => {
    for (const [name, call] of Object.entries(byFd)) {
      for (const fd of [-1, -(2 ** 31), HUGE_FD]) {
        expect(outcome(() => call(fd)), `${name}(${fd})`).toBe(-EBADF);
      }
    }
  });

  it('the other integer arguments are checked the same way', () => {
    const [a] = pair();
    const buf = new Uint8Array(8);
    const others: Array<(v: unknown) => unknown> = [
      (v) => calls.socket(v as number, C.SOCK_STREAM!, 0),
      (v) => calls.socket(C.AF_UNIX!, v as number, 0),
      (v) => calls.socketpair(C.AF_UNIX!, C.SOCK_STREAM!, v as number),
      (v) => calls.listen(a, v as number),
      (v) => calls.shutdown(a, v as number),
      (v) => calls.recvInto(a, buf, 0, 8, v as number),
      (v) => calls.send(a, buf, 0, 8, v as number),
      (v) => calls.getsockopt(a, v as number, C.SO_TYPE!, 4),
      (v) => calls.getsockopt(a, C.SOL_SOCKET!, v as number, 4),
      (v) => calls.getsockopt(a, C.SOL_SOCKET!, C.SO_TYPE!, v as number),
      (v) => calls.setsockopt(a, v as number, C.SO_KEEPALIVE!, new Uint8Array(4)),
      (v) => calls.waitFd(a, v as number, 0),
      (v) => calls.getaddrinfo('127.0.0.1', v as number, C.AF_INET!, C.SOCK_STREAM!, false),
      (v) => native.strerror(v as number),
    ];
    for (const call of others) {
      for (const v of NOT_INT32) expect(outcome(() => call(v))).toBe('TypeError');
    }
  });

  it('a kernel-refused integer is a negative errno, never a crash', () => {
    const [a] = pair();
    expect(calls.socket(-1, C.SOCK_STREAM!, 0)).toBeLessThan(0);
    expect(calls.socket(C.AF_UNIX!, 2 ** 31 - 1, 0)).toBeLessThan(0);
    expect(calls.socketpair(C.AF_INET!, C.SOCK_STREAM!, 0)).toBeLessThan(0); // AF_INET has no pairs
    expect(calls.shutdown(a, 99)).toBe(-EINVAL);
    expect(calls.shutdown(a, -5)).toBe(-EINVAL);
    expect(calls.listen(a, -(2 ** 31))).toBeLessThan(0); // a connected pair cannot listen
    expect(calls.getsockopt(a, -1, -1, 4)).toBeLessThan(0);
    expect(calls.setsockopt(a, -1, -1, new Uint8Array(4))).toBeLessThan(0);
    expect(calls.recvInto(a, new Uint8Array(4), 0, 4, -1)).toBeLessThan(0); // every flag bit set
    expect(typeof native.strerror(-(2 ** 31))).toBe('string');
    expect(typeof native.strerror(2 ** 31 - 1)).toBe('string');
  });

  it('getsockopt buflen must lie within 0..1024, and the result is trimmed to what the kernel wrote', () => {
    const [a] = pair();
    for (const bad of [-1, 1025, 2 ** 31 - 1, -(2 ** 31)]) {
      expect(outcome(() => calls.getsockopt(a, C.SOL_SOCKET!, C.SO_TYPE!, bad)), String(bad)).toBe('RangeError');
    }
    expect(calls.getsockopt(a, C.SOL_SOCKET!, C.SO_TYPE!, 0)).toEqual(Buffer.alloc(0));
    expect((calls.getsockopt(a, C.SOL_SOCKET!, C.SO_TYPE!, 1024) as Buffer).length).toBe(4);
    expect((calls.getsockopt(a, C.SOL_SOCKET!, C.SO_TYPE!, 2) as Buffer).length).toBeLessThanOrEqual(2);
  });

  it('waitFd: a negative fd is EBADF and a NaN timeout polls, rather than sleeping for ever', () => {
    const [a] = pair();
    expect(calls.waitFd(-1, 1, -1)).toBe(-EBADF);
    expect(calls.waitFd(HUGE_FD, 1, -1)).toBe(-EBADF);
    expect(calls.waitFd(a, 1, NaN)).toBe(0); // nothing to read: returns at once
    expect(calls.waitFd(a, 2, 1e308)).toBe(2); // writable now; the huge timeout is clamped
    expect(calls.waitFd(a, 0, 0)).toBe(0);
    expect(calls.waitFd(a, -1, 0)).toBe(2); // extra bits are ignored
  });
});

describe('native byte ranges (buffer, offset, length)', () => {
  const sliceCalls = (fd: number): Record<string, (buf: unknown, offset: unknown, length: unknown) => unknown> => ({
    recvInto: (b, o, l) => calls.recvInto(fd, b as Uint8Array, o as number, l as number, 0),
    recvFrom: (b, o, l) => calls.recvFrom(fd, b as Uint8Array, o as number, l as number, 0),
    send: (b, o, l) => calls.send(fd, b as Uint8Array, o as number, l as number, 0),
    sendTo: (b, o, l) => calls.sendTo(fd, b as Uint8Array, o as number, l as number, 0,
      calls.unixAddress(Buffer.from('\0ns-bounds-none')) as Buffer),
  });

  it('refuses anything but a Uint8Array (or Int8Array, Uint8ClampedArray) as the buffer', () => {
    const [a] = pair(C.SOCK_DGRAM);
    const notBytes: unknown[] = [undefined, null, 5, 'abcd', [1, 2, 3, 4], {}, { length: 4 }, new ArrayBuffer(4),
      new SharedArrayBuffer(4), new DataView(new ArrayBuffer(4)), new Uint16Array(4), new Int32Array(4),
      new Float64Array(4), new BigInt64Array(4)];
    for (const [name, call] of Object.entries(sliceCalls(a))) {
      for (const b of notBytes) expect(outcome(() => call(b, 0, 0)), `${name}(${String(b)})`).toBe('TypeError');
    }
  });

  it('refuses every offset/length pair that leaves the buffer, including overflowing sums', () => {
    const [a] = pair(C.SOCK_DGRAM);
    const buf = new Uint8Array(8);
    const bad: Array<[unknown, unknown]> = [
      [0, 9], [8, 1], [9, 0], [-1, 1], [1, -1], [0, -0.5], [0.5, 1], [1, 0.5], [NaN, 0], [0, NaN],
      [Infinity, 0], [0, Infinity], [-Infinity, Infinity], [2 ** 53, 0], [0, 2 ** 53], [2 ** 64, -(2 ** 64)],
      [Number.MAX_VALUE, -Number.MAX_VALUE], [4, 2 ** 53 - 3], [2 ** 32, 0], [0, 2 ** 32 + 1],
    ];
    for (const [name, call] of Object.entries(sliceCalls(a))) {
      for (const [o, l] of bad) expect(outcome(() => call(buf, o, l)), `${name}(${o}, ${l})`).toBe('RangeError');
      for (const [o, l] of [['0', 1], [0, '1'], [undefined, 1], [0, undefined], [null, 0], [0n, 1]]) {
        expect(['TypeError', 'RangeError']).toContain(outcome(() => call(buf, o, l)));
      }
    }
  });

  it('never calls valueOf on an offset or length (which could detach the buffer mid-call)', () => {
    const [a] = pair();
    const buf = new Uint8Array(8);
    let called = false;
    const detaching = { valueOf: () => { called = true; structuredClone(buf, { transfer: [buf.buffer] }); return 0; } };
    for (const call of Object.values(sliceCalls(a))) {
      expect(['TypeError', 'RangeError']).toContain(outcome(() => call(buf, detaching, 4)));
      expect(['TypeError', 'RangeError']).toContain(outcome(() => call(buf, 0, detaching)));
    }
    expect(called).toBe(false);
    expect(buf.byteLength).toBe(8);
  });

  it('sends and receives exactly the slice asked for, at the very end of a subarray too', () => {
    const [a, b] = pair();
    const backing = Buffer.from('0123456789abcdef');
    const view = backing.subarray(4, 12); // '456789ab'
    expect(calls.send(a, view, 5, 3, 0)).toBe(3); // '9ab', ending exactly at the view's end
    expect(outcome(() => calls.send(a, view, 5, 4, 0))).toBe('RangeError'); // one past it
    const into = Buffer.alloc(16, '.');
    const window = into.subarray(4, 12);
    expect(calls.recvInto(b, window, 6, 2, 0)).toBe(2); // only 2 of the 3 bytes fit the range
    expect(into.toString()).toBe('..........9a....');
    expect(calls.recvInto(b, window, 8, 0, 0)).toBe(0); // an empty range at the end is fine
  });

  it('a detached buffer is an empty one: zero bytes work, one byte is a RangeError', () => {
    const [a, b] = pair();
    const gone = detached();
    expect(calls.send(a, gone, 0, 0, 0)).toBe(0);
    for (const [name, call] of Object.entries(sliceCalls(b))) {
      expect(outcome(() => call(gone, 0, 1)), name).toBe('RangeError');
      expect(outcome(() => call(gone, 16, 0)), name).toBe('RangeError');
    }
    expect(calls.recvInto(b, gone, 0, 0, 0)).toBeLessThanOrEqual(0); // 0, or -EAGAIN: nothing to read
  });

  it('works on a SharedArrayBuffer-backed Uint8Array', () => {
    const [a, b] = pair();
    const shared = new Uint8Array(new SharedArrayBuffer(8));
    shared.set([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(calls.send(a, shared, 2, 4, 0)).toBe(4);
    const into = new Uint8Array(new SharedArrayBuffer(8));
    expect(calls.recvInto(b, into, 4, 4, 0)).toBe(4);
    expect([...into]).toEqual([0, 0, 0, 0, 3, 4, 5, 6]);
  });

  it('a view on a shrunk resizable ArrayBuffer is out of bounds: empty, never stale memory', () => {
    const Resizable = ArrayBuffer as unknown as new (n: number, o: { maxByteLength: number }) => ArrayBuffer & {
      resize(n: number): void;
    };
    const rab = new Resizable(16, { maxByteLength: 64 });
    const fixed = new Uint8Array(rab, 8, 8);
    const tracking = new Uint8Array(rab);
    rab.resize(4);
    const [a] = pair();
    expect(fixed.length).toBe(0);
    expect(calls.send(a, fixed, 0, 0, 0)).toBe(0);
    expect(outcome(() => calls.send(a, fixed, 0, 1, 0))).toBe('RangeError');
    expect(outcome(() => calls.send(a, tracking, 0, 5, 0))).toBe('RangeError');
    expect(calls.send(a, tracking, 0, 4, 0)).toBe(4);
  });
});

describe('native sockaddr and path buffers', () => {
  const addrCalls = (fd: number): Record<string, (addr: unknown) => unknown> => ({
    bind: (s) => calls.bind(fd, s as Buffer),
    connect: (s) => calls.connect(fd, s as Buffer),
    sendTo: (s) => calls.sendTo(fd, new Uint8Array(1), 0, 1, 0, s as Buffer),
  });

  it('refuses a sockaddr that is not bytes (a DataView used to abort the process)', () => {
    const [a] = pair(C.SOCK_DGRAM);
    const notBytes: unknown[] = [undefined, null, 'x', 5, {}, [2, 0], new ArrayBuffer(16),
      new DataView(new ArrayBuffer(16)), new Float64Array(2), new Uint16Array(8)];
    for (const [name, call] of Object.entries(addrCalls(a))) {
      for (const s of notBytes) expect(outcome(() => call(s)), `${name}(${String(s)})`).toBe('TypeError');
    }
  });

  it('refuses a sockaddr whose size no kernel address has, and returns an errno for garbage of a plausible size', () => {
    const [a] = pair(C.SOCK_DGRAM);
    for (const [name, call] of Object.entries(addrCalls(a))) {
      for (const size of [0, 1, 129, 4096]) {
        expect(outcome(() => call(Buffer.alloc(size))), `${name}(${size} bytes)`).toBe('RangeError');
      }
      expect(outcome(() => call(detached()))).toBe('RangeError');
      for (const family of [0, 0xffff, C.AF_INET!, C.AF_INET6!]) {
        const garbage = Buffer.alloc(16, 0xa5);
        garbage.writeUInt16LE(family, 0); // sa_family_t is host-endian; x86 and arm64 are little
        // An errno; or 0 for connect(AF_UNSPEC), which just dissolves a datagram association.
        expect(call(garbage), `${name}(family ${family})`).toBeLessThanOrEqual(family === 0 && name === 'connect' ? 0 : -1);
      }
    }
  });

  it('unixAddress: bytes only, an empty path works, and the length limit holds for both kinds of name', () => {
    for (const bad of [undefined, 'path', new DataView(new ArrayBuffer(4)), new Uint16Array(2), new ArrayBuffer(4)]) {
      expect(outcome(() => calls.unixAddress(bad as unknown as Buffer)), String(bad)).toBe('TypeError');
    }
    const empty = calls.unixAddress(Buffer.alloc(0));
    expect(Buffer.isBuffer(empty) && empty.length).toBe(2); // just sun_family
    expect(Buffer.isBuffer(calls.unixAddress(detached() as Buffer))).toBe(true);
    expect(Buffer.isBuffer(calls.unixAddress(Buffer.alloc(107, 'a')))).toBe(true);
    expect(calls.unixAddress(Buffer.alloc(108, 'a'))).toBe(-ENAMETOOLONG); // no room for the NUL
    const abstract = Buffer.alloc(108, 'a');
    abstract[0] = 0;
    expect((calls.unixAddress(abstract) as Buffer).length).toBe(110); // abstract: no NUL needed
    expect(calls.unixAddress(Buffer.concat([abstract, Buffer.from('a')]))).toBe(-ENAMETOOLONG);
    expect(calls.unixAddress(Buffer.alloc(1 << 20, 'a'))).toBe(-ENAMETOOLONG);
  });

  it('setsockopt takes its value as bytes of any length; a DataView is a TypeError', () => {
    const [a] = pair();
    for (const bad of [undefined, 1, [1], new DataView(new ArrayBuffer(4)), new Int32Array([1]), new ArrayBuffer(4)]) {
      expect(outcome(() => calls.setsockopt(a, C.SOL_SOCKET!, C.SO_KEEPALIVE!, bad as unknown as Uint8Array)), String(bad)).toBe('TypeError');
    }
    expect(calls.setsockopt(a, C.SOL_SOCKET!, C.SO_RCVBUF!, new Uint8Array(0))).toBe(-EINVAL);
    expect(calls.setsockopt(a, C.SOL_SOCKET!, C.SO_RCVBUF!, detached())).toBe(-EINVAL);
    expect(calls.setsockopt(a, C.SOL_SOCKET!, C.SO_RCVBUF!, new Uint8Array(1 << 16))).toBe(0); // reads only an int
  });

  it('getaddrinfo: a host that is not a string is a TypeError; odd values come back as a resolver failure', () => {
    for (const bad of [undefined, null, 5, {}, Buffer.from('127.0.0.1')]) {
      expect(outcome(() => calls.getaddrinfo(bad as string, 80, C.AF_INET!, C.SOCK_STREAM!, false))).toBe('TypeError');
    }
    const badFamily = calls.getaddrinfo('127.0.0.1', 80, 12345, C.SOCK_STREAM!, false);
    expect(badFamily).toMatchObject({ code: expect.stringMatching(/^EAI_/), message: expect.any(String) });
    expect(calls.getaddrinfo('127.0.0.1', -1, C.AF_INET!, C.SOCK_STREAM!, false)).not.toBeNull();
    expect(Array.isArray(calls.getaddrinfo('', 0, C.AF_INET!, C.SOCK_STREAM!, true))).toBe(true);
    expect(calls.getaddrinfo('x'.repeat(100_000), 80, C.AF_INET!, C.SOCK_STREAM!, false)).not.toBeNull();
  });
});

describe('NativeSelector under hostile arguments', () => {
  const backends = native.backends;
  const opened: Array<{ close(): void }> = [];
  afterEach(() => {
    for (const s of opened.splice(0)) s.close();
  });
  const make = (backend: string) => {
    const sel = new native.NativeSelector(backend);
    opened.push(sel);
    return sel;
  };

  it('the constructor wants a known backend name', () => {
    for (const bad of [undefined, null, 5, {}, Symbol('epoll')]) {
      expect(() => new native.NativeSelector(bad as string)).toThrow(TypeError);
    }
    expect(() => new native.NativeSelector('select')).toThrow(RangeError);
    for (const name of ['epoll', 'kqueue', 'poll'].filter((b) => !backends.includes(b))) {
      expect(() => new native.NativeSelector(name)).toThrow(/Function not implemented|not/);
    }
  });

  it('methods called on something that is not a selector throw TypeError', () => {
    const proto = native.NativeSelector.prototype as unknown as Record<string, (...args: unknown[]) => unknown>;
    for (const method of ['fileno', 'add', 'modify', 'remove', 'wait', 'wakeup', 'takeSignals', 'close']) {
      for (const self of [{}, 5, null, undefined, Object.create(native.NativeSelector.prototype)]) {
        expect(() => proto[method]!.call(self, 0, 1, 1), `${method} on ${String(self)}`).toThrow(TypeError);
      }
    }
  });

  for (const backend of backends) {
    describe(backend, () => {
      it('add/modify/remove: integers are checked, bad fds are errnos, extra event bits are ignored', () => {
        const sel = make(backend);
        const [a] = pair();
        for (const v of NOT_INT32) {
          expect(outcome(() => sel.add(v as number, 1))).toBe('TypeError');
          expect(outcome(() => sel.add(a, v as number))).toBe('TypeError');
          expect(outcome(() => sel.modify(v as number, 1, 2))).toBe('TypeError');
          expect(outcome(() => sel.modify(a, 1, v as number))).toBe('TypeError');
          expect(outcome(() => sel.remove(v as number, 1))).toBe('TypeError');
        }
        for (const fd of [-1, -(2 ** 31), HUGE_FD]) {
          expect(sel.add(fd, 1), `add ${fd}`).toBeLessThan(0);
          expect(sel.modify(fd, 1, 2), `modify ${fd}`).toBeLessThan(0);
          expect(sel.remove(fd, 1), `remove ${fd}`).toBeLessThan(0);
        }
        expect(sel.add(-1, 1)).toBe(-EBADF);
        expect(sel.add(a, -1)).toBe(0); // all bits set: READ | WRITE
        expect(sel.modify(a, -1, 2 ** 31 - 1)).toBe(0);
        const ready = new Int32Array(8);
        expect(sel.wait(0, ready)).toBe(1);
        expect([ready[0], ready[1]]).toEqual([a, 2]); // writable; nothing to read
        expect(sel.remove(a, -1)).toBe(0);
      });

      it('wait: the ready array must be a usable Int32Array', () => {
        const sel = make(backend);
        for (const bad of [undefined, null, [], {}, new Uint8Array(8), new Uint32Array(8), new Float64Array(4),
          new BigInt64Array(4), new DataView(new ArrayBuffer(32)), new ArrayBuffer(32)]) {
          expect(outcome(() => sel.wait(0, bad as Int32Array)), String(bad)).toBe('TypeError');
        }
        for (const tooSmall of [new Int32Array(0), new Int32Array(1), new Int32Array(new ArrayBuffer(64), 60)]) {
          expect(outcome(() => sel.wait(0, tooSmall))).toBe('RangeError');
        }
        const detachedReady = new Int32Array(8);
        structuredClone(detachedReady, { transfer: [detachedReady.buffer] });
        expect(outcome(() => sel.wait(0, detachedReady))).toBe('RangeError');
        expect(sel.wait(0, new Int32Array(new SharedArrayBuffer(16)))).toBe(0);
        expect(sel.wait(0, new Int32Array(new ArrayBuffer(64), 12, 3))).toBe(0); // an offset view, odd length
      });

      it('wait: a hostile timeout never overflows (huge, tiny, infinite, NaN)', () => {
        const sel = make(backend);
        const ready = new Int32Array(4);
        for (const t of ['5', undefined, {}, 10n]) expect(outcome(() => sel.wait(t as number, ready))).toBe('TypeError');
        expect(sel.wait(NaN, ready)).toBe(0); // polls
        for (const t of [1e308, Infinity, Number.MAX_SAFE_INTEGER, 2 ** 63]) {
          sel.wakeup(); // so the wait returns at once, whatever the timeout
          expect(sel.wait(t, ready), String(t)).toBe(0);
        }
        expect(sel.wait(Number.MIN_VALUE, ready)).toBe(0); // rounds up to 1 ns, then 1 ms, and times out
      });

      it('a full ready array reports what fits, and the rest next time', () => {
        const sel = make(backend);
        const fdsHere = [...pair(), ...pair(), ...pair()];
        for (const fd of fdsHere) expect(sel.add(fd, 2)).toBe(0);
        const ready = new Int32Array(2); // room for one event
        const seen = new Set<number>();
        for (let i = 0; i < fdsHere.length; i++) {
          expect(sel.wait(0, ready)).toBe(1);
          seen.add(ready[0]!);
          expect(sel.remove(ready[0]!, 2)).toBe(0);
        }
        expect([...seen].sort()).toEqual([...fdsHere].sort());
      });

      it('signals: numbers outside 1..63 and the uncatchable ones are EINVAL', () => {
        const sel = make(backend);
        for (const v of NOT_INT32) {
          expect(outcome(() => sel.watchSignal(v as number))).toBe('TypeError');
          expect(outcome(() => sel.unwatchSignal(v as number))).toBe('TypeError');
        }
        for (const signo of [0, -1, 64, 65, 2 ** 31 - 1, -(2 ** 31), 9 /* SIGKILL */, 19 /* SIGSTOP */]) {
          expect(sel.watchSignal(signo), String(signo)).toBe(-EINVAL);
          expect(sel.unwatchSignal(signo)).toBeUndefined();
        }
        expect(sel.takeSignals()).toEqual([]);
      });

      it('startWatch wants a function; poll has no fd to watch', () => {
        const sel = make(backend);
        for (const bad of [undefined, null, 5, {}, 'f']) expect(outcome(() => sel.startWatch(bad as () => void))).toBe('TypeError');
        const rc = sel.startWatch(() => {});
        expect(rc).toBe(backend === 'poll' ? -errnoOf('ENOTSUP') : 0);
        sel.stopWatch();
        sel.stopWatch();
      });

      it('after close every method either throws "closed" or does nothing, twice over', () => {
        const sel = make(backend);
        sel.close();
        sel.close();
        const ready = new Int32Array(4);
        for (const call of [() => sel.add(0, 1), () => sel.modify(0, 1, 2), () => sel.remove(0, 1),
          () => sel.wait(0, ready), () => sel.watchSignal(10), () => sel.startWatch(() => {})]) {
          expect(call).toThrow(/closed/);
        }
        expect(sel.fileno()).toBe(-1);
        expect(sel.takeSignals()).toEqual([]);
        expect(sel.wakeup()).toBeUndefined();
        expect(sel.unwatchSignal(10)).toBeUndefined();
        expect(sel.stopWatch()).toBeUndefined();
      });
    });
  }
});

describe('NativeSelector trigger-mode arguments', () => {
  for (const backend of native.backends) {
    it(`${backend}: a mode that is not a 32-bit integer is a TypeError; absent is level; extra bits are ignored`, () => {
      const sel = new native.NativeSelector(backend);
      const [a] = pair();
      try {
        for (const v of NOT_INT32.filter((x) => x !== undefined)) {
          expect(outcome(() => sel.add(a, 1, v as number)), `add mode ${String(v)}`).toBe('TypeError');
          expect(outcome(() => sel.modify(a, 1, 1, v as number, 0)), `modify oldMode ${String(v)}`).toBe('TypeError');
          expect(outcome(() => sel.modify(a, 1, 1, 0, v as number)), `modify mode ${String(v)}`).toBe('TypeError');
        }
        expect(sel.add(a, 1)).toBe(0);
        // -1 is every bit: edge-oneshot, which poll(2) cannot do and kqueue does not map yet.
        const edgeOneshot = sel.modify(a, 1, 1, 0, -1);
        expect(edgeOneshot).toBe(backend === 'epoll' ? 0 : backend === 'poll' ? -EINVAL : edgeOneshot);
        expect(edgeOneshot).toBeLessThanOrEqual(0);
        expect(sel.remove(a, 1)).toBe(0);
      } finally {
        sel.close();
      }
    });
  }
});

describe('native Waker calls under hostile arguments', () => {
  const w = native.waker;

  it('fd arguments that are not 32-bit integers throw TypeError; closed fds are -EBADF', () => {
    for (const call of [w.wake, w.drain, w.check]) {
      for (const v of NOT_INT32) expect(outcome(() => call(v as number)), `${call.name}(${String(v)})`).toBe('TypeError');
      for (const fd of [-1, -(2 ** 31), HUGE_FD]) expect(call(fd), `${call.name}(${fd})`).toBe(-EBADF);
    }
  });

  it('drain on an fd that cannot be read returns an errno, and wake on a full pipe is success', () => {
    const fds = w.open(true) as [number, number];
    try {
      expect(w.drain(fds[1])).toBeLessThan(0); // the write end
      for (let i = 0; i < 20_000; i++) expect(w.wake(fds[1])).toBe(0);
      expect(w.drain(fds[0])).toBe(1);
    } finally {
      for (const fd of fds) calls.close(fd);
    }
  });
});
