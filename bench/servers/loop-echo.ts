// The coroutine-loop echo of examples/loop-echo.ts, minus logging: a
// listener task and one task per connection doing sockRecv and sockSendall
// back. (sockRecv reads into the loop's shared scratch and copies out what
// came; a 64 KiB buffer per connection instead cost ~5.6 KiB of RSS per idle
// connection, more than Node's net.) What the benchmark measures, in either mode:
//
//   npx tsx bench/servers/loop-echo.ts HOST PORT [blocking|async]
//
// blocking: run() holds the thread in select (the fast mode).
// async:    loop.runAsync() inside Node's own event loop.
import {
  EventLoop, IPPROTO_TCP, Socket, TCP_NODELAY, createServer, type Coro,
} from '../../src/index.js';

const [host = '127.0.0.1', portText = '8000', mode = 'blocking'] = process.argv.slice(2);
if (mode !== 'blocking' && mode !== 'async') {
  console.error('mode must be blocking or async');
  process.exit(2);
}

const loop = new EventLoop();

function* echo(sock: Socket): Coro<void> {
  try {
    for (;;) {
      const data = yield* loop.sockRecv(sock, 64 * 1024);
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
