// Chapter 3, "An echo server on the asyncio event loop": the echo server once
// more, now as coroutines on the event loop instead of a hand-written
// select() loop. One coroutine accepts connections; each connection gets a
// task of its own that reads and echoes. While a task waits for its socket,
// the loop runs the others: any number of clients, one thread, no busy loop.
//
//   node --import tsx examples/loop-echo.ts [HOST] [PORT] [--quiet] [--io io_uring]
//   nc 127.0.0.1 8000            (or telnet), in as many terminals as you like
//
// Python's `await loop.sock_recv(...)` is `yield* loop.sockRecv(...)` here: a
// coroutine is a generator function, and `yield*` is `await`.
//
// Beyond the chapter's listing: each connection is closed when its client
// hangs up (`finally`), a client that resets its connection ends only its own
// task, and Ctrl-C (or SIGTERM) cancels the main task, as asyncio.run() does
// on Ctrl-C: run() then cancels the echo tasks and closes the loop.
import {
  type Address, CancelledError, ConnectionAbortedError, type Coro, currentTask, type EventLoop,
  getRunningLoop, type IoMode, OSError, run, sleep, SO_REUSEADDR, SOCK_STREAM, SOL_SOCKET, Socket,
} from '../src/index.js';
import { announce, bindOrExit, exampleOptions, onSignal, showAddress } from './support/cli.js';

// The chapter reads 1024 bytes at a time; bigger reads mean fewer trips
// round the loop for big payloads.
const RECV_SIZE = 64 * 1024;
const ACCEPT_RETRY_MS = 1000; // asyncio's ACCEPT_RETRY_DELAY
const OUT_OF_RESOURCES = new Set(['EMFILE', 'ENFILE', 'ENOBUFS', 'ENOMEM']);

// --io io_uring (Linux): the loop's socket operations as io_uring requests.
const { host, port, family, quiet, values } = exampleOptions({ values: ['io'] });
const io = (values.io ?? 'selector') as IoMode;
const log = quiet ? (_line: string): void => {} : (line: string): void => console.log(line);

// The chapter's `echo`: read, send it back, until the client closes.
function* echo(connection: Socket, name: string, loop: EventLoop): Coro<void> {
  try {
    for (;;) {
      const data = yield* loop.sockRecv(connection, RECV_SIZE);
      if (data.length === 0) break; // the client closed (Python's b'')
      // Waits while the kernel's send buffer is full, so a client that
      // sends faster than it reads is slowed down, not buffered without end.
      yield* loop.sockSendall(connection, data);
    }
    log(`Connection from ${name} closed`);
  } catch (error) {
    if (!(error instanceof OSError)) throw error; // a CancelledError goes on up
    log(`Connection from ${name} failed: ${error.code}`);
  } finally {
    connection.close();
  }
}

// The chapter's `listen_for_connections`: accept, and hand each connection
// to a task of its own. One coroutine is enough here: connections come one
// accept() at a time, and wait in the listen backlog meanwhile.
function* listenForConnections(serverSocket: Socket, loop: EventLoop): Coro<never> {
  for (;;) {
    let connection: Socket;
    let address: Address;
    try {
      // The new socket is already non-blocking (the chapter's setblocking(False)).
      [connection, address] = yield* loop.sockAccept(serverSocket);
    } catch (error) {
      if (error instanceof ConnectionAbortedError) continue; // it gave up while waiting in the backlog
      if (error instanceof OSError && OUT_OF_RESOURCES.has(error.code)) {
        // At the fd limit the connection stays in the backlog and the server
        // socket stays readable: retrying at once would spin. Like asyncio's
        // servers, wait a second (clients may have left by then).
        console.error(`accept() failed: ${error.message}; trying again in ${ACCEPT_RETRY_MS} ms`);
        yield* sleep(ACCEPT_RETRY_MS);
        continue;
      }
      throw error;
    }
    const name = showAddress(address);
    log(`Got a connection from ${name}`);
    loop.createTask(echo(connection, name, loop));
  }
}

function* main(): Coro<void> {
  const loop = getRunningLoop();
  const serverSocket = new Socket(family, SOCK_STREAM);
  try {
    serverSocket.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1);
    serverSocket.setBlocking(false); // sockAccept() needs a non-blocking socket
    bindOrExit(host, port, () => serverSocket.bind([host, port]));
    serverSocket.listen();
    announce(serverSocket);

    const mainTask = currentTask()!;
    for (const signal of ['SIGINT', 'SIGTERM']) {
      loop.addSignalHandler(signal, onSignal(signal, () => mainTask.cancel()));
    }

    yield* listenForConnections(serverSocket, loop);
  } finally {
    serverSocket.close();
  }
}

try {
  run(main, { io }); // asyncio.run(main())
} catch (error) {
  if (!(error instanceof CancelledError)) throw error;
  log('Server stopped');
}
