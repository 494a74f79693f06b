// Socket addresses: the Address type, its checks, and the resolver that
// turns one into the kernel's sockaddr (with Python's gaierror on failure).
import { AF_INET, AF_INET6, AF_UNIX, AF_UNSPEC } from './constants.js';
import { errorFromErrno, GaiError, OSError } from './errors.js';
import { native, type Sockaddr } from './native.js';
import { checkInt, describe } from './validate.js';

const calls = native.socket;

/** A Unix socket path, or `[host, port]` for IPv4 and IPv6. */
export type Address = string | [host: string, port: number];

export function familyName(family: number): string {
  return family === AF_INET ? 'AF_INET' : family === AF_INET6 ? 'AF_INET6' : family === AF_UNIX ? 'AF_UNIX' : String(family);
}

/** A `[host, port]` address, checked: host a string without NUL, port 0..65535. */
export function checkHostPort(address: unknown, name: string, expected: string): [string, number] {
  if (!Array.isArray(address) || address.length !== 2) {
    throw new TypeError(`${name} must be ${expected}, got ${describe(address)}`);
  }
  const [host, port] = address as [unknown, unknown];
  if (typeof host !== 'string') throw new TypeError(`${name}[0] (host) must be a string, got ${describe(host)}`);
  if (host.includes('\0')) throw new TypeError(`${name}[0] (host) must not contain NUL`);
  return [host, checkInt(port, `${name}[1] (port)`, 0, 65535)];
}

/** The family an address implies: a string is AF_UNIX, a host with ':' AF_INET6, else AF_INET. */
export function familyOf(address: unknown): number {
  if (typeof address === 'string' || address instanceof Uint8Array) return AF_UNIX;
  if (Array.isArray(address) && typeof address[0] === 'string' && address[0].includes(':')) return AF_INET6;
  return AF_INET;
}

/** The path of an AF_UNIX address, for error messages (OSError.filename). */
export function unixPath(address: unknown): string | undefined {
  if (typeof address === 'string') return address;
  if (address instanceof Uint8Array) return Buffer.from(address).toString('utf8');
  return undefined;
}

/**
 * getaddrinfo, blocking as in Python; a failure throws GaiError with the
 * resolver's own code (or the OSError of EAI_SYSTEM's errno).
 */
export function getaddrinfo(host: string, port: number, family: number, type: number, passive: boolean):
  Array<[number, Sockaddr]> {
  const found = calls.getaddrinfo(host, port, family, type, passive);
  if (typeof found === 'number') throw errorFromErrno(-found, 'getaddrinfo');
  if (!Array.isArray(found)) throw new GaiError(found.errno, found.code, `${found.message}: ${describe(host)}`);
  if (found.length === 0) {
    const which = family === AF_UNSPEC ? '' : `${familyName(family)} `;
    throw new GaiError(native.eaiNoname, 'EAI_NONAME', `no ${which}address for ${describe(host)}`);
  }
  return found;
}

/**
 * Resolves an Address into the kernel's sockaddr for `family`. Host names go
 * through getaddrinfo (blocking, as in Python); '' means any address.
 */
export function resolveAddress(family: number, type: number, address: unknown, name = 'address'): Sockaddr {
  if (family === AF_UNIX) {
    let path: Buffer;
    if (typeof address === 'string') path = Buffer.from(address, 'utf8');
    else if (address instanceof Uint8Array) path = Buffer.from(address);
    else throw new TypeError(`${name} must be a path string for AF_UNIX, got ${describe(address)}`);
    const sa = calls.unixAddress(path);
    if (typeof sa === 'number') {
      throw new OSError(-sa, `AF_UNIX path too long (${path.length} bytes)`, undefined, unixPath(address));
    }
    return sa;
  }
  if (family !== AF_INET && family !== AF_INET6) {
    throw new RangeError(`addresses of family ${family} are not supported`);
  }
  const [host, port] = checkHostPort(address, name, `[host, port] for ${familyName(family)}`);
  const query = host === '<broadcast>' ? '255.255.255.255' : host;
  return getaddrinfo(query, port, family, type, query === '')[0]![1];
}
