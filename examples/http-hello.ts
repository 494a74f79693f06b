// Beyond the chapter: the loop-echo.ts server speaking HTTP/1.1. Each
// connection's task reads requests, answers each with "Hello, world!", and
// keeps the connection for the next request, as HTTP/1.1 does by default.
// Good enough for curl, a browser, and load generators such as wrk. With
// --root DIR it also serves the files in DIR as /file/NAME, sent with
// loop.sockSendfile(): sendfile(2), so the bytes go from the page cache to
// the socket without passing through JS.
//
//   node --import tsx examples/http-hello.ts [HOST] [PORT] [--quiet] [--root DIR]
//   curl -v http://127.0.0.1:8000/ http://127.0.0.1:8000/again   (one connection, two requests)
//   curl -O http://127.0.0.1:8000/file/NAME      (with --root DIR: DIR/NAME)
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
// - /file/NAME (with --root): NAME is one plain file name in DIR: no '/',
//   no '..', nothing hidden, no symbolic link; anything else is 403, a name
//   that is not there 404.
// It has no timeouts for idle or slow clients (a real server would wrap the
// reads in waitFor), and it answers every other method and path the same way.
//
// reuseport-workers.ts runs this same connection task in several threads.
import { closeSync, constants, fstatSync, openSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
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
  200: 'OK', 400: 'Bad Request', 403: 'Forbidden', 404: 'Not Found', 431: 'Request Header Fields Too Large',
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

/** How to answer: keep the connection?, the client's HTTP/1.x, and a HEAD or a file's head only. */
interface AnswerOptions {
  keepAlive: boolean;
  minor: number;
  head?: boolean;
  /** For a file's head: its length and type (the body follows by sendfile). */
  length?: number;
  type?: string;
}

/** An answer: status line, header fields, and the body (none for HEAD). */
function response(status: number, body: Buffer, options: AnswerOptions): Buffer {
  const lines = [
    `HTTP/1.1 ${status} ${REASONS[status]}`,
    `Date: ${new Date().toUTCString()}`,
    `Content-Type: ${options.type ?? 'text/plain; charset=utf-8'}`,
    `Content-Length: ${options.length ?? body.length}`,
  ];
  if (!options.keepAlive) lines.push('Connection: close');
  else if (options.minor === 0) lines.push('Connection: keep-alive');
  const head = Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1');
  return options.head === true ? head : Buffer.concat([head, body]);
}

/**
 * The file `/file/NAME` asks for, opened, or the status to answer instead.
 * (openSync blocks the loop for a moment: fine for an example.)
 */
function openFile(root: string | undefined, target: string): { fd: number; size: number } | 403 | 404 {
  if (root === undefined) return 404;
  let name: string;
  try {
    name = decodeURIComponent(target.slice('/file/'.length).replace(/\?.*$/, ''));
  } catch {
    return 404; // bad %-escapes
  }
  // One plain name: no path separator (so no '..' walks out of root), no
  // NUL, and nothing hidden. O_NOFOLLOW refuses a symbolic link.
  if (name === '' || /[/\\\0]/.test(name) || name.startsWith('.')) return 403;
  let fd: number;
  try {
    fd = openSync(join(root, name), constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ENOENT' ? 404 : 403;
  }
  const stat = fstatSync(fd);
  if (!stat.isFile()) {
    closeSync(fd);
    return 403;
  }
  return { fd, size: stat.size };
}

/**
 * Serves one connection until the client or an answer closes it; then
 * closes the socket. `name` is how `log` calls the client; `root` is the
 * directory /file/NAME is served from (none: 404).
 */
export function* serveHttp(loop: EventLoop, connection: Socket, name: string, log: (line: string) => void,
  root?: string): Coro<void> {
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
      const headOnly = request.method === 'HEAD';
      const file = request.target.startsWith('/file/') ? openFile(root, request.target) : null;
      log(`${name} "${request.method} ${request.target} HTTP/1.${request.minor}" ${typeof file === 'number' ? file : 200}`);
      if (file === null) {
        replies.push(response(200, HELLO, { ...request, head: headOnly }));
      } else if (typeof file === 'number') {
        replies.push(response(file, Buffer.from(`${REASONS[file]}\n`), { ...request, head: headOnly }));
      } else {
        // The head goes out with what is owed before it; then the body
        // straight from the file.
        try {
          replies.push(response(200, EMPTY, { ...request, head: true, length: file.size, type: 'application/octet-stream' }));
          yield* sendReplies();
          const sent = headOnly || file.size === 0 ? file.size : yield* loop.sockSendfile(connection, file.fd, 0, file.size);
          // The file shrank while we sent it: the client will see a short body.
          if (sent < file.size) return;
        } finally {
          closeSync(file.fd);
        }
      }
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
  const { host, port, family, quiet, values } = exampleOptions({ values: ['root'] });
  const root = values.root === undefined ? undefined : resolve(values.root);
  if (root !== undefined && !statSync(root, { throwIfNoEntry: false })?.isDirectory()) {
    console.error(`--root (or ROOT) must be a directory, got ${values.root}`);
    process.exit(2);
  }
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
      loop.createTask(serveHttp(loop, connection, showAddress(address), log, root));
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
