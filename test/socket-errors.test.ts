// Socket edges as Python has them: connectEx's result, a fileno checked at
// construction, the resolver's own error codes, and AF_UNIX errors that
// name their path.
import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, afterEach, describe, expect, it } from 'vitest';

import { clientEnv } from './support/client-env.js';
import {
  AF_INET, AF_INET6, AF_UNIX, createConnection, createServer, errno, FileNotFoundError,
  GaiError, IPPROTO_UDP, OSError, SOCK_DGRAM, SOCK_STREAM, Socket, socketpair, type Address,
} from '../src/index.js';


const opened: Array<{ close(): void }> = [];
function track<T extends { close(): void }>(x: T): T {
  opened.push(x);
  return x;
}
afterEach(() => {
  for (const x of opened.splice(0)) x.close();
});

const dir = mkdtempSync(join(tmpdir(), 'ns-sockerr-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function errorOf(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected a throw');
}

function fdIsOpen(fd: number): boolean {
  try {
    readlinkSync(`/proc/self/fd/${fd}`);
    return true;
  } catch {
    return false;
  }
}

describe('connectEx', () => {
  it('returns 0, not -0, when the connection is made', () => {
    const server = track(createServer(['127.0.0.1', 0]));
    const client = track(new Socket(AF_INET, SOCK_STREAM));
    const rc = client.connectEx(server.getsockname());
    expect(Object.is(rc, 0)).toBe(true);
    expect(String(rc)).toBe('0');
  });
});

describe('new Socket(family, type, proto, fileno)', () => {
  it('throws OSError EBADF at construction for a closed fd', () => {
    const [a, b] = socketpair();
    b.close();
    const fd = a.detach(); // a number that was a socket and is now closed
    closeSync(fd);
    const error = errorOf(() => new Socket(AF_INET, SOCK_STREAM, 0, fd));
    expect(error).toBeInstanceOf(OSError);
    expect(error).toMatchObject({ errno: errno.EBADF, code: 'EBADF' });
    expect((error as Error).message).toContain(`fileno ${fd}`);
  });

  it('throws OSError ENOTSOCK for an fd that is not a socket, and leaves that fd open', () => {
    const fd = openSync(join(dir, 'file'), 'w');
    try {
      const error = errorOf(() => new Socket(AF_INET, SOCK_STREAM, 0, fd));
      expect(error).toBeInstanceOf(OSError);
      expect(error).toMatchObject({ errno: errno.ENOTSOCK, code: 'ENOTSOCK' });
      expect(fdIsOpen(fd)).toBe(true);
    } finally {
      closeSync(fd);
    }
  });

  it('reads family, type and proto from the fd when they are not given, as Python 3.13', () => {
    const [a, b] = socketpair();
    track(b);
    const unix = track(new Socket(undefined, undefined, undefined, a.detach()));
    expect([unix.family, unix.type]).toEqual([AF_UNIX, SOCK_STREAM]);
    const udp = new Socket(AF_INET6, SOCK_DGRAM);
    const adopted = track(new Socket(undefined, undefined, undefined, udp.detach()));
    expect([adopted.family, adopted.type]).toEqual([AF_INET6, SOCK_DGRAM]);
    if (process.platform === 'linux') expect(adopted.proto).toBe(IPPROTO_UDP); // SO_PROTOCOL
  });

  it('keeps what is given over what the fd says', () => {
    const [a, b] = socketpair();
    track(b);
    const sock = track(new Socket(AF_UNIX, SOCK_STREAM, 0, a.detach()));
    expect([sock.family, sock.type, sock.proto]).toEqual([AF_UNIX, SOCK_STREAM, 0]);
  });
});

describe('GaiError', () => {
  // What Python's socket.gaierror says for the same query on this machine.
  function pythonGaiErrno(host: string): number | null {
    const out = execFileSync('python3', ['-c', `
import socket, sys
try:
    socket.getaddrinfo(sys.argv[1], 80, socket.AF_INET, socket.SOCK_STREAM)
    print('resolved')
except socket.gaierror as e:
    print(e.errno)
`, host], { env: clientEnv(), encoding: 'utf8', timeout: 30_000 }).trim();
    return out === 'resolved' ? null : Number(out);
  }

  it('carries the resolver\'s EAI_* code and the errno Python reports for a name that does not resolve', () => {
    const host = 'nonexistent.invalid'; // RFC 6761: never resolves
    const expected = pythonGaiErrno(host);
    expect(expected).not.toBeNull();
    for (const attempt of [
      () => track(new Socket(AF_INET, SOCK_STREAM)).connect([host, 80]),
      () => createConnection([host, 80], 1000),
    ]) {
      const error = errorOf(attempt);
      expect(error).toBeInstanceOf(GaiError);
      expect(error).toBeInstanceOf(OSError);
      const { code, errno: number, syscall } = error as GaiError;
      expect(code).toMatch(/^EAI_[A-Z]+$/);
      expect(number).toBe(expected);
      expect(syscall).toBe('getaddrinfo');
      expect((error as Error).message).toContain(`[Errno ${expected}]`);
      expect((error as Error).message).toContain(host);
    }
  }, 60_000);
});

describe('AF_UNIX errors', () => {
  it('name the path, as Python\'s OSError.filename', () => {
    const path = join(dir, 'nobody-listens-here');
    for (const attempt of [
      () => track(new Socket(AF_UNIX, SOCK_STREAM)).connect(path),
      () => createConnection(path),
    ]) {
      const error = errorOf(attempt);
      expect(error).toBeInstanceOf(FileNotFoundError);
      expect(error).toMatchObject({ code: 'ENOENT', filename: path });
      expect((error as Error).message).toContain(path);
    }
    const taken = track(createServer(join(dir, 'taken')));
    const error = errorOf(() => track(new Socket(AF_UNIX, SOCK_STREAM)).bind(taken.getsockname()));
    expect(error).toMatchObject({ code: 'EADDRINUSE', filename: join(dir, 'taken') });
    expect((error as Error).message).toContain(join(dir, 'taken'));
  });

  it('says that a TCP address is [host, port] when a string that looks like host:port fails as a path', () => {
    for (const address of ['127.0.0.1:80', 'localhost:8080', '[::1]:443']) {
      const error = errorOf(() => createConnection(address as Address));
      expect(error).toBeInstanceOf(FileNotFoundError);
      expect(error).toMatchObject({ filename: address });
      expect((error as Error).message).toContain(address);
      expect((error as Error).message).toContain('[host, port]');
    }
    const plain = errorOf(() => createConnection(join(dir, 'missing.sock')));
    expect((plain as Error).message).not.toContain('[host, port]');
  });
});
