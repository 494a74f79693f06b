// Helpers for the loop's tests.
import { EventLoop, type EventLoopOptions, type ExceptionContext, Socket, createServer, socketpair, type Coro } from '../../src/index.js';

/** Runs `body` with a fresh loop (of `options`) that is closed afterwards, whatever happens. */
export function withLoop<T>(body: (loop: EventLoop) => T, options?: EventLoopOptions): T {
  const loop = new EventLoop(options);
  try {
    return body(loop);
  } finally {
    loop.close();
  }
}

/** Collects what reaches the loop's exception handler instead of stderr. */
export function captureExceptions(loop: EventLoop): ExceptionContext[] {
  const seen: ExceptionContext[] = [];
  loop.setExceptionHandler((_loop, context) => seen.push(context));
  return seen;
}

/**
 * Runs `fn` from a macrotask. A test body runs inside a promise job, where
 * V8 will not run promise callbacks re-entrantly, so a blocking loop waiting
 * on a Promise must be started from a plain callback.
 */
export function inMacrotask<T>(fn: () => T): Promise<T> {
  return new Promise((resolve, reject) => {
    setImmediate(() => {
      try {
        resolve(fn());
      } catch (error) {
        reject(error);
      }
    });
  });
}

/** A non-blocking listening socket on 127.0.0.1 and its port. */
export function listener(): [Socket, number] {
  const server = createServer(['127.0.0.1', 0]);
  server.setBlocking(false);
  const address = server.getsockname() as [string, number];
  return [server, address[1]];
}

/** A non-blocking, connected pair over TCP loopback: [client, accepted]. */
export function* tcpPair(loop: EventLoop): Coro<[Socket, Socket]> {
  const [server, port] = listener();
  try {
    const client = new Socket();
    client.setBlocking(false);
    const accepting = loop.createTask(loop.sockAccept(server));
    yield* loop.sockConnect(client, ['127.0.0.1', port]);
    const [accepted] = yield* accepting;
    return [client, accepted];
  } finally {
    server.close();
  }
}

/** A connected non-blocking Unix socket pair. */
export function nonBlockingPair(): [Socket, Socket] {
  const [a, b] = socketpair();
  a.setBlocking(false);
  b.setBlocking(false);
  return [a, b];
}

/** A lost byte would leave a read waiting forever: close `socks` after a while, so it fails instead (EBADF). */
export function bounded(loop: EventLoop, ...socks: Socket[]): void {
  loop.callLater(10_000, () => {
    for (const sock of socks) sock.close();
  });
}
