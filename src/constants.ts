// Socket constants with this platform's values, read from the addon so they
// are right on every OS (AF_INET6 is 10 on Linux, 30 on macOS).
import { native } from './native.js';

const c = native.constants;

declare const familyTag: unique symbol;

/**
 * An address family constant: a plain number at run time, tagged in the
 * type with its name, so that a `Socket` made with `AF_INET` knows that
 * its `getsockname()` is a `[host, port]` pair. Any number still works
 * where a family is expected.
 */
export type AddressFamily<Name extends string> = number & {
  /** The family's name: in the type only, there is no such property at run time. */
  readonly [familyTag]: Name;
};

/** No particular family: getaddrinfo returns every kind of address. */
export const AF_UNSPEC: number = c.AF_UNSPEC!;
/** IPv4: addresses are `[host, port]`. */
export const AF_INET = c.AF_INET! as AddressFamily<'AF_INET'>;
/** IPv6: addresses are `[host, port]` (the host may carry a `%scope`). */
export const AF_INET6 = c.AF_INET6! as AddressFamily<'AF_INET6'>;
/** Unix domain sockets: addresses are paths (a leading NUL makes a Linux abstract name). */
export const AF_UNIX = c.AF_UNIX! as AddressFamily<'AF_UNIX'>;
/** A stream socket: TCP, or a Unix stream socket. */
export const SOCK_STREAM: number = c.SOCK_STREAM!;
/** A datagram socket: UDP, or a Unix datagram socket. */
export const SOCK_DGRAM: number = c.SOCK_DGRAM!;
/** The socket-level option level (`setsockopt(SOL_SOCKET, SO_...)`). */
export const SOL_SOCKET: number = c.SOL_SOCKET!;
/** Lets a server bind a port that still has connections in TIME_WAIT. */
export const SO_REUSEADDR: number = c.SO_REUSEADDR!;
/** -1 where the platform has no SO_REUSEPORT (setsockopt then fails with EINVAL/ENOPROTOOPT). */
export const SO_REUSEPORT: number = c.SO_REUSEPORT ?? -1;
/** Sends TCP keep-alive probes on an idle connection. */
export const SO_KEEPALIVE: number = c.SO_KEEPALIVE!;
/** The kernel receive buffer size, in bytes. */
export const SO_RCVBUF: number = c.SO_RCVBUF!;
/** The kernel send buffer size, in bytes. */
export const SO_SNDBUF: number = c.SO_SNDBUF!;
/** Reads (and clears) the pending error: how a non-blocking connect ended. */
export const SO_ERROR: number = c.SO_ERROR!;
/** What close() does with unsent data (a `struct linger`, as raw bytes). */
export const SO_LINGER: number = c.SO_LINGER!;
/** The socket type (read only): SOCK_STREAM or SOCK_DGRAM. */
export const SO_TYPE: number = c.SO_TYPE!;
/** Allows sending datagrams to a broadcast address. */
export const SO_BROADCAST: number = c.SO_BROADCAST!;
/** The IPv4 option level. */
export const IPPROTO_IP: number = c.IPPROTO_IP!;
/** The IPv6 option level. */
export const IPPROTO_IPV6: number = c.IPPROTO_IPV6!;
/** The TCP protocol number, and its option level. */
export const IPPROTO_TCP: number = c.IPPROTO_TCP!;
/** The UDP protocol number, and its option level. */
export const IPPROTO_UDP: number = c.IPPROTO_UDP!;
/** Turns off Nagle's algorithm: small writes go out at once. */
export const TCP_NODELAY: number = c.TCP_NODELAY!;
/** An AF_INET6 socket that does not also accept IPv4-mapped traffic. */
export const IPV6_V6ONLY: number = c.IPV6_V6ONLY!;
/** `shutdown()`: no more receiving. */
export const SHUT_RD: number = c.SHUT_RD!;
/** `shutdown()`: no more sending (the peer reads EOF). */
export const SHUT_WR: number = c.SHUT_WR!;
/** `shutdown()`: neither. */
export const SHUT_RDWR: number = c.SHUT_RDWR!;
/** `recv()` flag: read without removing the data from the queue. */
export const MSG_PEEK: number = c.MSG_PEEK!;
/** `recv()`/`send()` flag: TCP urgent (out-of-band) data. */
export const MSG_OOB: number = c.MSG_OOB!;
/** `recv()` flag: wait for the full count (on a blocking socket). */
export const MSG_WAITALL: number = c.MSG_WAITALL!;
/** `recv()`/`send()` flag: do not block this call, whatever the socket's mode. */
export const MSG_DONTWAIT: number = c.MSG_DONTWAIT!;
/** The system's largest `listen()` backlog. */
export const SOMAXCONN: number = c.SOMAXCONN!;
