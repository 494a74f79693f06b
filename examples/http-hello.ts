// Beyond the chapter: the loop-echo.ts server speaking HTTP/1.1. Each
// connection's task reads requests, answers each with "Hello, world!", and
// keeps the connection for the next request, as HTTP/1.1 does by default.
// Good enough for curl, a browser, and load generators such as wrk.
//
//   node --import tsx examples/http-hello.ts [HOST] [PORT] [--quiet]
//   curl -v http://127.0.0.1:8000/ http://127.0.0.1:8000/again   (one connection, two requests)
//   wrk -t2 -c64 -d5s http://127.0.0.1:8000/     (start the server with --quiet)
//
// What it does of HTTP/1.1 (RFC 9112), and no more:
// - Parses the request line and the header fields, up to the blank line
//   that ends them. Lines end in CRLF, or in a bare LF, which RFC 9112
//   (section 2.2) lets a server accept; a CR anywhere else is refused. A head that is not well-formed gets 400 Bad Request; one
//   longer than 8 KiB, 431; a version other than 1.x, 505. Then the
//   connection is closed: after a request we cannot parse we do not know
//   where the next one would start.
// - Reads (and drops) a body of Content-Length bytes, so that it is not
//   taken for the next request. Chunked bodies (Transfer-Encoding) get 501.
//   Answers `Expect: 100-continue` first, so curl sends a large body at once.
// - Keeps the connection open after each answer, unless the client sends
//   `Connection: close` (or is an HTTP/1.0 client that did not ask for
//   keep-alive); then it says `Connection: close` and closes.
// - Pipelining: requests that arrive together are answered in order, with
//   one send for all of them.
// - Closes gently: it shuts down its sending side, then reads what the client
//   may still send for up to 2 s before closing. Closing a socket with
//   unread data makes the kernel send a reset, which can destroy the answer
//   before the client has read it.
// It has no timeouts for idle or slow clients (a real server would wrap the
// reads in waitFor), and it answers every method and path the same way.
//
// reuseport-workers.ts runs this same connection task in several threads.
import { pathToFileURL } from 'node:url';

import {
  CancelledError, type Coro, createServer, currentTask, type EventLoop, getRunningLoop, IPPROTO_TCP,
  OSError, run, SHUT_WR, type Socket, TCP_NODELAY, TimeoutError, waitFor,
} from '../src/index.js';
import { announce, bindOrExit, exampleOptions, onSignal, showAddress } from './support/cli.js';

const MAX_HEAD_BYTES = 8 * 1024;
const RECV_SIZE = 64 * 1024;
const LINGER_MS = 2000;

const HELLO = Buffer.from('Hello, world!\n');
const CONTINUE = Buffer.from('HTTP/1.1 100 Continue\r\n\r\n');
const EMPTY: Buffer = Buffer.alloc(0);

// RFC 9110's token: method and field names.
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const REQUEST_LINE = /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+) ([^\s]+) HTTP\/(\d)\.(\d)$/;

const REASONS: Record<number, string> = {
  200: 'OK', 400: 'Bad Request', 431: 'Request Header Fields Too Large',
  501: 'Not Implemented', 505: 'HTTP Version Not Supported',
};

/** What we need to know of a request to answer it. */
interface Request {
  method: string;
  target: string;
  minor: number; // HTTP/1.<minor>
  keepAlive: boolean;
  bodyLength: number;
  expectContinue: boolean;
}

/** A request we will not serve: answered with `status`, then the connection is closed. */
class HttpError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

/**
 * Where the head ends, once it has arrived: `end` just after the last field
 * line's LF, `next` just after the blank line (CRLF or LF) that follows.
 */
function findHeadEnd(data: Buffer): { end: number; next: number } | null {
  for (let lf = data.indexOf(0x0a); lf >= 0; lf = data.indexOf(0x0a, lf + 1)) {
    if (data[lf + 1] === 0x0a) return { end: lf + 1, next: lf + 2 };
    if (data[lf + 1] === 0x0d && data[lf + 2] === 0x0a) return { end: lf + 1, next: lf + 3 };
  }
  return null;
}

/** Parses the head (request line and header fields, each with its line end). */
function parseHead(head: string): Request {
  const lines = head.replace(/\r?\n$/, '').split(/\r?\n/);
  const requestLine = REQUEST_LINE.exec(lines[0]!);
  if (requestLine === null) throw new HttpError(400, 'malformed request line');
  const [, method, target, major, minor] = requestLine as unknown as [string, string, string, string, string];
  if (major !== '1') throw new HttpError(505, `HTTP/${major}.${minor}`);

  const fields = new Map<string, string[]>();
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    // No space before the colon, and no obsolete line folding (a line that
    // starts with a space): both are how request smuggling begins.
    const name = colon > 0 ? line.slice(0, colon) : '';
    if (!TOKEN.test(name)) throw new HttpError(400, 'malformed header field');
    const value = line.slice(colon + 1).replace(/^[ \t]+|[ \t]+$/g, '');
    if (/[\0\r\n]/.test(value)) throw new HttpError(400, 'malformed header field');
    const key = name.toLowerCase();
    fields.set(key, [...(fields.get(key) ?? []), value]);
  }

  if (minor !== '0' && fields.get('host')?.length !== 1) throw new HttpError(400, 'HTTP/1.1 needs one Host');
  if (fields.has('transfer-encoding')) throw new HttpError(501, 'Transfer-Encoding is not supported');
  let bodyLength = 0;
  const lengths = new Set((fields.get('content-length') ?? []).flatMap((v) => v.split(',')).map((v) => v.trim()));
  if (lengths.size > 1) throw new HttpError(400, 'conflicting Content-Length');
  for (const length of lengths) {
    if (!/^\d{1,15}$/.test(length)) throw new HttpError(400, 'malformed Content-Length');
    bodyLength = Number(length);
  }
  const connection = new Set((fields.get('connection') ?? []).flatMap((v) => v.toLowerCase().split(',')).map((v) => v.trim()));
  return {
    method, target, minor: Number(minor), bodyLength,
    // HTTP/1.1 keeps the connection unless told to close; HTTP/1.0 closes unless asked to keep it.
    keepAlive: minor === '0' ? connection.has('keep-alive') : !connection.has('close'),
    expectContinue: minor !== '0' && fields.get('expect')?.[0]?.toLowerCase() === '100-continue',
  };
}

/** An answer: status line, header fields, and the body (none for HEAD). */
function response(status: number, body: Buffer, options: { keepAlive: boolean; minor: number; head?: boolean }): Buffer {
  const lines = [
    `HTTP/1.1 ${status} ${REASONS[status]}`,
    `Date: ${new Date().toUTCString()}`,
    'Content-Type: text/plain; charset=utf-8',
    `Content-Length: ${body.length}`,
  ];
  if (!options.keepAlive) lines.push('Connection: close');
  else if (options.minor === 0) lines.push('Connection: keep-alive');
  const head = Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1');
  return options.head === true ? head : Buffer.concat([head, body]);
}

/**
 * Serves one connection until the client or an answer closes it; then
 * closes the socket. `name` is how `log` calls the client.
 */
export function* serveHttp(loop: EventLoop, connection: Socket, name: string, log: (line: string) => void): Coro<void> {
  let received: Buffer = EMPTY; // read, not yet parsed
  const replies: Buffer[] = []; // answers not yet sent

  function* sendReplies(): Coro<void> {
    if (replies.length === 0) return;
    const data = replies.length === 1 ? replies[0]! : Buffer.concat(replies);
    replies.length = 0;
    yield* loop.sockSendall(connection, data);
  }

  // Reads more; false at EOF. Sends what we owe first: a client may wait for
  // its answers (or for 100 Continue) before it sends anything else.
  function* receiveMore(): Coro<boolean> {
    yield* sendReplies();
    const data = yield* loop.sockRecv(connection, RECV_SIZE);
    if (data.length === 0) return false;
    received = received.length === 0 ? data : Buffer.concat([received, data]);
    return true;
  }

  function* closeGently(): Coro<void> {
    yield* sendReplies();
    connection.shutdown(SHUT_WR); // the client reads EOF after the last answer
    try {
      yield* waitFor((function* drain(): Coro<void> {
        while ((yield* loop.sockRecv(connection, RECV_SIZE)).length > 0);
      })(), LINGER_MS);
    } catch (error) {
      if (!(error instanceof TimeoutError)) throw error;
    }
  }

  function* refuse(status: number, why: string, minor = 1): Coro<void> {
    log(`${name} ${status} ${REASONS[status]}: ${why}`);
    replies.push(response(status, Buffer.from(`${REASONS[status]}\n`), { keepAlive: false, minor }));
    yield* closeGently();
  }

  try {
    for (;;) {
      // 1. The head, up to the blank line.
      let head: { end: number; next: number } | null;
      while ((head = findHeadEnd(received)) === null && received.length <= MAX_HEAD_BYTES) {
        // EOF: between requests, the normal end of a connection; within
        // one, a client that gave up. Either way there is nobody to answer.
        if (!(yield* receiveMore())) return;
      }
      if (head === null || head.next > MAX_HEAD_BYTES) {
        yield* refuse(431, `head longer than ${MAX_HEAD_BYTES} bytes`);
        return;
      }
      let request: Request;
      try {
        request = parseHead(received.toString('latin1', 0, head.end));
      } catch (error) {
        if (!(error instanceof HttpError)) throw error;
        yield* refuse(error.status, error.message);
        return;
      }
      received = received.subarray(head.next);

      // 2. The body, read and dropped.
      if (request.expectContinue && received.length < request.bodyLength) replies.push(CONTINUE);
      let left = request.bodyLength;
      while (left > 0) {
        if (received.length === 0 && !(yield* receiveMore())) return;
        const take = Math.min(left, received.length);
        received = received.subarray(take);
        left -= take;
      }

      // 3. The answer. It waits in `replies` until we need to read again, so
      // pipelined requests that are already here are answered in one send.
      log(`${name} "${request.method} ${request.target} HTTP/1.${request.minor}" 200`);
      replies.push(response(200, HELLO, { ...request, head: request.method === 'HEAD' }));
      if (!request.keepAlive) {
        yield* closeGently();
        return;
      }
    }
  } catch (error) {
    if (!(error instanceof OSError)) throw error; // the client reset or went away
    log(`${name} failed: ${error.code}`);
  } finally {
    connection.close();
  }
}

function* main(): Coro<void> {
  const { host, port, family, quiet } = exampleOptions();
  const log = quiet ? (_line: string): void => {} : (line: string): void => console.log(line);
  const loop = getRunningLoop();
  const serverSocket = bindOrExit(host, port, () => createServer([host, port], { family })); // bound, listening, SO_REUSEADDR
  try {
    serverSocket.setBlocking(false);
    announce(serverSocket);
    const mainTask = currentTask()!;
    for (const signal of ['SIGINT', 'SIGTERM']) {
      loop.addSignalHandler(signal, onSignal(signal, () => mainTask.cancel()));
    }
    for (;;) {
      const [connection, address] = yield* loop.sockAccept(serverSocket);
      // An answer is one small write: send it now, do not wait to fill a segment.
      connection.setsockopt(IPPROTO_TCP, TCP_NODELAY, 1);
      loop.createTask(serveHttp(loop, connection, showAddress(address), log));
    }
  } finally {
    serverSocket.close();
  }
}

// Run only as a program, not when reuseport-workers.ts imports serveHttp.
if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  try {
    run(main);
  } catch (error) {
    if (!(error instanceof CancelledError)) throw error;
    console.log('Server stopped');
  }
}
