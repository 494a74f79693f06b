import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, afterEach, describe, expect, it } from 'vitest';

import {
  AF_INET, AF_INET6, AF_UNIX, BlockingIOError, BrokenPipeError, ConnectionRefusedError,
  ConnectionResetError, createConnection, createServer, errno, EVENT_WRITE, IPPROTO_TCP,
  OSError, SHUT_WR, SO_ERROR, SO_LINGER, SO_RCVBUF, SO_REUSEADDR, SOCK_DGRAM, SOCK_STREAM,
  Selector, Socket, socketpair, SOL_SOCKET, TCP_NODELAY, TimeoutError, type Address,
} from '../src/index.js';

const opened: Array<{ close(): void }> = [];
function track<T extends { close(): void }>(x: T): T {
  opened.push(x);
  return x;
}
afterEach(() => {
  for (const x of opened.splice(0)) x.close();
});

const dir = mkdtempSync(join(tmpdir(), 'ns-sock-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function errorOf(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected a throw');
}

/** A connected (client, server-side) pair over `family` loopback. */
function tcpPair(host = '127.0.0.1'): [Socket, Socket] {
  const server = track(createServer([host, 0]));
  const client = track(createConnection(server.getsockname() as Address, 2000));
  const [conn] = server.accept();
  return [client, track(conn)];
}

function fdIsOpen(fd: number): boolean {
  try {
    readlinkSync(`/proc/self/fd/${fd}`);
    return true;
  } catch {
    return false;
  }
}

describe('Socket over TCP', () => {
  for (const [name, host, family] of [['IPv4', '127.0.0.1', AF_INET], ['IPv6', '::1', AF_INET6]] as const) {
    it(`echoes bytes both ways over ${name} loopback, with matching addresses`, () => {
      const server = track(createServer([host, 0]));
      expect(server.family).toBe(family);
      const [, port] = server.getsockname() as [string, number];
      expect(port).toBeGreaterThan(0);
      const client = track(createConnection([host, port], 2000));
      const [conn, peer] = server.accept();
      track(conn);
      expect(peer).toEqual(client.getsockname());
      expect(client.getpeername()).toEqual([host, port]);
      expect(conn.getsockname()).toEqual([host, port]);
      client.sendall(Buffer.from('hello'));
      expect(conn.recv(100).toString()).toBe('hello');
      conn.sendall(Buffer.from('world'));
      expect(client.recv(100).toString()).toBe('world');
    });
  }

  it('is blocking by default and can be made non-blocking', () => {
    const sock = track(new Socket());
    expect(sock.getBlocking()).toBe(true);
    sock.setBlocking(false);
    expect(sock.getBlocking()).toBe(false);
    sock.setBlocking(true);
    expect(sock.getBlocking()).toBe(true);
    expect(sock.family).toBe(AF_INET);
    expect(sock.type).toBe(SOCK_STREAM);
  });

  it('throws BlockingIOError where a non-blocking operation would block', () => {
    const server = track(createServer(['127.0.0.1', 0]));
    server.setBlocking(false);
    const e1 = errorOf(() => server.accept());
    expect(e1).toBeInstanceOf(BlockingIOError);
    expect(e1).toMatchObject({ code: 'EAGAIN', errno: errno.EAGAIN, syscall: 'accept' });
    const [client, conn] = tcpPair();
    conn.setBlocking(false);
    expect(errorOf(() => conn.recv(10))).toBeInstanceOf(BlockingIOError);
    expect(errorOf(() => conn.recvInto(new Uint8Array(10)))).toBeInstanceOf(BlockingIOError);
    client.setBlocking(false);
    const chunk = Buffer.alloc(1 << 16);
    let sent = 0;
    const e2 = errorOf(() => {
      for (;;) sent += client.send(chunk);
    });
    expect(e2).toBeInstanceOf(BlockingIOError);
    expect(sent).toBeGreaterThan(0);
    // sendall on a full non-blocking socket gives up the same way.
    expect(errorOf(() => client.sendall(chunk))).toBeInstanceOf(BlockingIOError);
  });

  it('a non-blocking connect throws BlockingIOError (EINPROGRESS) or connects; connectEx returns the errno', () => {
    const server = track(createServer(['127.0.0.1', 0]));
    const address = server.getsockname();
    const a = track(new Socket());
    a.setBlocking(false);
    try {
      a.connect(address);
    } catch (error) {
      expect(error).toBeInstanceOf(BlockingIOError);
      expect((error as OSError).code).toBe('EINPROGRESS');
    }
    const b = track(new Socket());
    b.setBlocking(false);
    expect([0, errno.EINPROGRESS]).toContain(b.connectEx(address));
    const sel = track(new Selector());
    sel.register(b, EVENT_WRITE);
    expect(sel.select(2000)).toHaveLength(1);
    expect(b.getsockopt(SOL_SOCKET, SO_ERROR)).toBe(0);
  });

  it('connect to a port with no listener throws ConnectionRefusedError; connectEx returns ECONNREFUSED', () => {
    const holder = track(new Socket());
    holder.bind(['127.0.0.1', 0]); // reserves a port that nobody listens on
    const address = holder.getsockname();
    const e = errorOf(() => track(new Socket()).connect(address));
    expect(e).toBeInstanceOf(ConnectionRefusedError);
    expect(e).toMatchObject({ code: 'ECONNREFUSED', syscall: 'connect' });
    expect(track(new Socket()).connectEx(address)).toBe(errno.ECONNREFUSED);
    expect(errorOf(() => createConnection(address))).toBeInstanceOf(ConnectionRefusedError);
  });

  it('createConnection with a timeout throws TimeoutError when the connect does not finish in time', () => {
    // A full accept queue makes the kernel drop further SYNs, so a connect
    // stays pending until its timeout.
    const server = track(createServer(['127.0.0.1', 0], { backlog: 0 }));
    const address = server.getsockname();
    let timedOut: unknown;
    for (let i = 0; i < 8 && timedOut === undefined; i++) {
      try {
        track(createConnection(address, 100));
      } catch (error) {
        timedOut = error;
      }
    }
    expect(timedOut).toBeInstanceOf(TimeoutError);
    expect(timedOut).toBeInstanceOf(OSError);
    expect(timedOut).toMatchObject({ code: 'ETIMEDOUT' });
  });

  it('returns an empty Buffer at orderly EOF, after a half-close still delivers the rest', () => {
    const [client, conn] = tcpPair();
    client.sendall(Buffer.from('last words'));
    client.shutdown(SHUT_WR);
    expect(conn.recv(100).toString()).toBe('last words');
    expect(conn.recv(100)).toEqual(Buffer.alloc(0));
    // The other direction still works.
    conn.sendall(Buffer.from('reply'));
    expect(client.recv(100).toString()).toBe('reply');
  });

  it('sending to a peer that has gone throws BrokenPipeError or ConnectionResetError, and the process lives', () => {
    const [client, conn] = tcpPair();
    conn.close();
    const chunk = Buffer.alloc(1024);
    const e = errorOf(() => {
      for (let i = 0; i < 1000; i++) client.send(chunk);
    });
    expect(e instanceof BrokenPipeError || e instanceof ConnectionResetError).toBe(true);
    // And in a child process with default signal handling: no SIGPIPE death.
    const child = spawnSync(process.execPath, ['--import', 'tsx', '-e', `
      const { socketpair, BrokenPipeError } = await import(${JSON.stringify(new URL('../src/index.ts', import.meta.url).href)});
      const [a, b] = socketpair();
      b.close();
      try { a.send(Buffer.from('x')); } catch (e) { console.log(e instanceof BrokenPipeError ? 'EPIPE caught' : String(e)); }
      a.close();`], { encoding: 'utf8', timeout: 20000 });
    expect(child.signal).toBeNull();
    expect(child.stdout.trim()).toBe('EPIPE caught');
  });

  it('a peer that resets (SO_LINGER 0) gives ConnectionResetError on recv', () => {
    const [client, conn] = tcpPair();
    const linger = Buffer.alloc(8);
    linger.writeInt32LE(1, 0); // l_onoff
    linger.writeInt32LE(0, 4); // l_linger
    client.setsockopt(SOL_SOCKET, SO_LINGER, linger);
    client.close();
    expect(errorOf(() => conn.recv(10))).toBeInstanceOf(ConnectionResetError);
  });

  it('recvInto fills a buffer, honours nbytes, and checks its arguments', () => {
    const [client, conn] = tcpPair();
    client.sendall(Buffer.from('abcdef'));
    const buf = Buffer.alloc(10);
    expect(conn.recvInto(buf, 3)).toBe(3);
    expect(buf.subarray(0, 3).toString()).toBe('abc');
    expect(conn.recvInto(buf)).toBe(3);
    expect(buf.subarray(0, 3).toString()).toBe('def');
    expect(() => conn.recvInto(buf, 11)).toThrow(RangeError);
    expect(() => conn.recvInto(buf, -1)).toThrow(RangeError);
    expect(() => conn.recvInto('x' as never)).toThrow(/buffer/);
  });

  it('socket options round-trip as integers and as raw bytes', () => {
    const sock = track(new Socket());
    sock.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1);
    expect(sock.getsockopt(SOL_SOCKET, SO_REUSEADDR)).toBe(1);
    sock.setsockopt(IPPROTO_TCP, TCP_NODELAY, true);
    expect(sock.getsockopt(IPPROTO_TCP, TCP_NODELAY)).toBe(1);
    sock.setsockopt(SOL_SOCKET, SO_RCVBUF, 65536);
    expect(sock.getsockopt(SOL_SOCKET, SO_RCVBUF)).toBeGreaterThanOrEqual(65536);
    const linger = sock.getsockopt(SOL_SOCKET, SO_LINGER, 8);
    expect(Buffer.isBuffer(linger) && linger.length).toBe(8);
    expect(errorOf(() => sock.setsockopt(SOL_SOCKET, 9999, 1))).toBeInstanceOf(OSError);
  });
});

describe('Socket over UDP and Unix sockets', () => {
  it('sends and receives datagrams with sender addresses over UDP', () => {
    const a = track(new Socket(AF_INET, SOCK_DGRAM));
    const b = track(new Socket(AF_INET, SOCK_DGRAM));
    a.bind(['127.0.0.1', 0]);
    b.bind(['127.0.0.1', 0]);
    expect(a.sendto(Buffer.from('one'), b.getsockname())).toBe(3);
    const [data, from] = b.recvfrom(100);
    expect(data.toString()).toBe('one');
    expect(from).toEqual(a.getsockname());
    // Datagram boundaries are kept.
    b.sendto(Buffer.from('x'), a.getsockname());
    b.sendto(Buffer.from('yz'), a.getsockname());
    expect(a.recv(100).toString()).toBe('x');
    expect(a.recv(100).toString()).toBe('yz');
  });

  it('serves a Unix stream socket at a path', () => {
    const path = join(dir, 'echo.sock');
    const server = track(createServer(path));
    expect(server.family).toBe(AF_UNIX);
    expect(server.getsockname()).toBe(path);
    const client = track(createConnection(path));
    const [conn, peer] = server.accept();
    track(conn);
    expect(peer).toBe('');
    expect(client.getpeername()).toBe(path);
    client.sendall(Buffer.from('over unix'));
    expect(conn.recv(100).toString()).toBe('over unix');
  });

  it('rejects a Unix path longer than the kernel allows', () => {
    const e = errorOf(() => track(new Socket(AF_UNIX)).bind(join(dir, 'x'.repeat(200))));
    expect(e).toBeInstanceOf(OSError);
    expect((e as OSError).code).toBe('ENAMETOOLONG');
  });

  it('socketpair gives two connected AF_UNIX stream sockets by default', () => {
    const [a, b] = socketpair();
    track(a);
    track(b);
    expect([a.family, a.type, b.family]).toEqual([AF_UNIX, SOCK_STREAM, AF_UNIX]);
    a.sendall(Buffer.from('ping'));
    expect(b.recv(4).toString()).toBe('ping');
    const [c, d] = socketpair(AF_UNIX, SOCK_DGRAM);
    track(c);
    track(d);
    c.send(Buffer.from('dgram'));
    expect(d.recv(100).toString()).toBe('dgram');
  });
});

describe('Socket life cycle', () => {
  it('close is idempotent and fileno() is -1 afterwards', () => {
    const sock = new Socket();
    const fd = sock.fileno();
    expect(fdIsOpen(fd)).toBe(true);
    sock.close();
    sock.close();
    expect(sock.fileno()).toBe(-1);
    expect(fdIsOpen(fd)).toBe(false);
  });

  it('every operation on a closed socket throws OSError EBADF', () => {
    const sock = new Socket();
    sock.close();
    for (const op of [
      () => sock.recv(1), () => sock.send(Buffer.from('x')), () => sock.accept(),
      () => sock.bind(['127.0.0.1', 0]), () => sock.listen(), () => sock.getsockname(),
      () => sock.setBlocking(false), () => sock.shutdown(SHUT_WR), () => sock.connect(['127.0.0.1', 1]),
    ]) {
      const e = errorOf(op);
      expect(e).toBeInstanceOf(OSError);
      expect((e as OSError).code).toBe('EBADF');
    }
  });

  it('detach gives up the fd without closing it', () => {
    const sock = new Socket();
    const fd = sock.detach();
    expect(sock.fileno()).toBe(-1);
    expect(fdIsOpen(fd)).toBe(true);
    sock.close(); // a no-op now
    expect(fdIsOpen(fd)).toBe(true);
    new Socket(AF_INET, SOCK_STREAM, 0, fd).close();
    expect(fdIsOpen(fd)).toBe(false);
  });

  it('Symbol.dispose closes it', () => {
    const sock = new Socket();
    sock[Symbol.dispose]();
    expect(sock.fileno()).toBe(-1);
  });

  it('creates every fd close-on-exec, so child processes inherit none', () => {
    const [client, conn] = tcpPair();
    const [a, b] = socketpair();
    track(a);
    track(b);
    const fds = [client, conn, a, b].map((s) => s.fileno());
    const sel = track(new Selector());
    fds.push(sel.fileno());
    const child = spawnSync('sh', ['-c', 'ls /proc/$$/fd'], { encoding: 'utf8' });
    const inherited = child.stdout.split(/\s+/).filter(Boolean).map(Number);
    for (const fd of fds) expect(inherited).not.toContain(fd);
  });

  it('a Socket dropped without close() has its fd closed once by the garbage collector', async () => {
    const gc = (globalThis as { gc?: () => void }).gc!;
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(w.message);
    process.on('warning', onWarning);
    let fd = -1;
    (() => {
      fd = new Socket().fileno();
    })();
    expect(fdIsOpen(fd)).toBe(true);
    for (let i = 0; i < 50 && fdIsOpen(fd); i++) {
      gc();
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    process.off('warning', onWarning);
    expect(fdIsOpen(fd)).toBe(false);
    expect(warnings.some((w) => w.includes(`fd ${fd}`))).toBe(true);
    expect(existsSync('/proc/self/fd')).toBe(true);
  });

  it('a closed Socket is not closed again by the garbage collector', async () => {
    const gc = (globalThis as { gc?: () => void }).gc!;
    let fd = -1;
    (() => {
      const s = new Socket();
      fd = s.fileno();
      s.close();
    })();
    // Reuse the number for a socket that must survive the collection.
    const survivor = track(new Socket());
    expect(survivor.fileno()).toBe(fd);
    for (let i = 0; i < 5; i++) {
      gc();
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(survivor.getBlocking()).toBe(true);
    expect(fdIsOpen(fd)).toBe(true);
  });
});

describe('Socket argument checks', () => {
  it('names the argument in TypeError and RangeError messages', () => {
    const sock = track(new Socket());
    const cases: Array<[() => unknown, ErrorConstructor, RegExp]> = [
      [() => new Socket('x' as never), TypeError, /family/],
      [() => new Socket(AF_INET, -1), RangeError, /type/],
      [() => new Socket(AF_INET, SOCK_STREAM, 1.5), RangeError, /proto/],
      [() => sock.setBlocking(1 as never), TypeError, /flag/],
      [() => sock.bind('x' as never), TypeError, /address/],
      [() => sock.bind(['127.0.0.1'] as never), TypeError, /address/],
      [() => sock.bind([1, 2] as never), TypeError, /host/],
      [() => sock.bind(['127.0.0.1', 70000]), RangeError, /port/],
      [() => sock.bind(['127.0.0.1', -1]), RangeError, /port/],
      [() => sock.listen(-1), RangeError, /backlog/],
      [() => sock.recv(-1), RangeError, /bufsize/],
      [() => sock.recv(1.5), RangeError, /bufsize/],
      [() => sock.recv('1' as never), TypeError, /bufsize/],
      [() => sock.send('text' as never), TypeError, /data/],
      [() => sock.sendall(null as never), TypeError, /data/],
      [() => sock.sendto(Buffer.from('x'), 5 as never), TypeError, /address/],
      [() => sock.shutdown(3), RangeError, /how/],
      [() => sock.setsockopt(SOL_SOCKET, SO_REUSEADDR, 'on' as never), TypeError, /value/],
      [() => sock.setsockopt(-1, SO_REUSEADDR, 1), RangeError, /level/],
      [() => sock.getsockopt(SOL_SOCKET, SO_REUSEADDR, 5000), RangeError, /buflen/],
      [() => createServer(['127.0.0.1', 0], { reusePort: 'yes' as never }), TypeError, /reusePort/],
      [() => createConnection(['127.0.0.1', 1], 'soon' as never), TypeError, /timeout/],
      [() => socketpair(-5), RangeError, /family/],
    ];
    for (const [fn, cls, pattern] of cases) {
      const e = errorOf(fn);
      expect(e, String(fn)).toBeInstanceOf(cls);
      expect((e as Error).message, String(fn)).toMatch(pattern);
    }
  });

  it('never crashes on hostile values', () => {
    const sock = track(new Socket());
    const values: unknown[] = [undefined, null, NaN, Infinity, -0, 2 ** 53, -(2 ** 53), '', 'x', {}, [],
      Symbol('s'), () => 0, 10n, new Uint8Array(0), Buffer.alloc(1)];
    const calls: Array<(v: never) => unknown> = [
      (v) => sock.recv(v), (v) => sock.recvInto(v), (v) => sock.send(v), (v) => sock.bind(v),
      (v) => sock.connect(v), (v) => sock.connectEx(v), (v) => sock.listen(v), (v) => sock.shutdown(v),
      (v) => sock.setBlocking(v), (v) => sock.setsockopt(v, v, v), (v) => sock.getsockopt(v, v, v),
      (v) => sock.sendto(Buffer.from('x'), v), (v) => sock.recvfrom(v), (v) => new Socket(v, v, v),
      (v) => createServer(v), (v) => createConnection(v), (v) => socketpair(v, v),
    ];
    for (const call of calls) {
      for (const v of values) {
        try {
          const out = call(v as never);
          for (const s of [out].flat()) if (s instanceof Socket) s.close();
        } catch (error) {
          expect(error).toBeInstanceOf(Error);
        }
      }
    }
  });
});
