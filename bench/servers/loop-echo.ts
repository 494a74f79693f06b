// The coroutine-loop echo of examples/loop-echo.ts, minus logging: a
// listener task and one task per connection, receiving and sockSendall-ing
// back. Buffers adapt, as libuv's and Netty's receive allocators do: a
// connection starts with sockRecv (the loop's shared scratch, copied out),
// so an idle one holds no buffer of its own (a 64 KiB buffer each cost
// ~5.6 KiB of RSS per idle connection, more than Node's net); once a read
// fills BULK bytes it gets its own buffer and recvInto, because copying big
// reads into fresh memory is slow (page faults). What the benchmark
// measures, in either mode:
//   npx tsx bench/servers/loop-echo.ts HOST PORT [blocking|async] [--io io_uring]
//
// blocking: run() holds the thread in select (the fast mode).
// async:    loop.runAsync() inside Node's own event loop.
// --io io_uring: socket operations as io_uring requests (default: selector).
import {
  EventLoop, IPPROTO_TCP, Socket, TCP_NODELAY, createServer, type Coro,
} from '../../src/index.js';

const args = process.argv.slice(2);
const ioAt = args.indexOf('--io');
const io = ioAt >= 0 ? args.splice(ioAt, 2)[1] : 'selector';
const [host = '127.0.0.1', portText = '8000', mode = 'blocking'] = args;
if ((mode !== 'blocking' && mode !== 'async') || (io !== 'selector' && io !== 'io_uring')) {
  console.error('usage: loop-echo.ts HOST PORT [blocking|async] [--io selector|io_uring]');
  process.exit(2);
}

const loop = new EventLoop({ io });
const READ_SIZE = 64 * 1024;
const BULK = 16 * 1024;

function* echo(sock: Socket): Coro<void> {
  let buf: Buffer | null = null;
  try {
    for (;;) {
      let data: Buffer;
      if (buf === null) {
        data = yield* loop.sockRecv(sock, READ_SIZE);
        if (data.length >= BULK) buf = Buffer.allocUnsafe(READ_SIZE);
      } else {
        data = buf.subarray(0, yield* loop.sockRecvInto(sock, buf));
      }
      if (data.length === 0) return;
      yield* loop.sockSendall(sock, data);
    }
  } catch {
    // A reset peer ends its connection only.
  } finally {
    sock.close();
  }
}

function* main(): Coro<void> {
  const server = createServer([host, Number(portText)], { backlog: 1024 });
  server.setBlocking(false);
  loop.addSignalHandler('SIGTERM', () => loop.stop());
  loop.addSignalHandler('SIGINT', () => loop.stop());
  process.stdout.write(`listening on ${host}:${(server.getsockname() as [string, number])[1]}\n`);
  try {
    for (;;) {
      const [conn] = yield* loop.sockAccept(server);
      conn.setBlocking(false);
      conn.setsockopt(IPPROTO_TCP, TCP_NODELAY, 1);
      loop.createTask(echo(conn));
    }
  } finally {
    server.close();
  }
}

const done = () => loop.close();
if (mode === 'blocking') {
  try {
    loop.runUntilComplete(main());
  } catch {
    // stop() before main completed: the signal asked for it.
  }
  done();
} else {
  loop.runAsync(main()).catch(() => {}).finally(done);
}
