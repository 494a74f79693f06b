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
export type AddressFamily<Name extends string> = number & { readonly [familyTag]: Name };

/** No particular family: getaddrinfo returns every kind of address. */
export const AF_UNSPEC: number = c.AF_UNSPEC!;
/** IPv4: addresses are `[host, port]`. */
export const AF_INET = c.AF_INET! as AddressFamily<'AF_INET'>;
/** IPv6: addresses are `[host, port]` (the host may carry a `%scope`). */
export const AF_INET6 = c.AF_INET6! as AddressFamily<'AF_INET6'>;
/** Unix domain sockets: addresses are paths (a leading NUL makes a Linux abstract name). */
export const AF_UNIX = c.AF_UNIX! as AddressFamily<'AF_UNIX'>;
export const SOCK_STREAM: number = c.SOCK_STREAM!;
export const SOCK_DGRAM: number = c.SOCK_DGRAM!;
export const SOL_SOCKET: number = c.SOL_SOCKET!;
export const SO_REUSEADDR: number = c.SO_REUSEADDR!;
/** -1 where the platform has no SO_REUSEPORT (setsockopt then fails with EINVAL/ENOPROTOOPT). */
export const SO_REUSEPORT: number = c.SO_REUSEPORT ?? -1;
export const SO_KEEPALIVE: number = c.SO_KEEPALIVE!;
export const SO_RCVBUF: number = c.SO_RCVBUF!;
export const SO_SNDBUF: number = c.SO_SNDBUF!;
export const SO_ERROR: number = c.SO_ERROR!;
export const SO_LINGER: number = c.SO_LINGER!;
export const SO_TYPE: number = c.SO_TYPE!;
export const SO_BROADCAST: number = c.SO_BROADCAST!;
export const IPPROTO_IP: number = c.IPPROTO_IP!;
export const IPPROTO_IPV6: number = c.IPPROTO_IPV6!;
export const IPPROTO_TCP: number = c.IPPROTO_TCP!;
export const IPPROTO_UDP: number = c.IPPROTO_UDP!;
export const TCP_NODELAY: number = c.TCP_NODELAY!;
export const IPV6_V6ONLY: number = c.IPV6_V6ONLY!;
export const SHUT_RD: number = c.SHUT_RD!;
export const SHUT_WR: number = c.SHUT_WR!;
export const SHUT_RDWR: number = c.SHUT_RDWR!;
export const MSG_PEEK: number = c.MSG_PEEK!;
export const MSG_OOB: number = c.MSG_OOB!;
export const MSG_WAITALL: number = c.MSG_WAITALL!;
export const MSG_DONTWAIT: number = c.MSG_DONTWAIT!;
export const SOMAXCONN: number = c.SOMAXCONN!;
