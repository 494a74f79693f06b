// Chapter 3, "Handling errors in tasks": what becomes of an exception thrown
// inside a task. The echo server of loop-echo.ts, whose echo fails on
// purpose when a client sends the line `boom`.
//
//   node --import tsx examples/task-errors.ts [HOST] [PORT]             the chapter's first echo
//   node --import tsx examples/task-errors.ts [HOST] [PORT] --handled   its try/catch/finally echo
//   nc 127.0.0.1 8000, type hello, then boom; Ctrl-C stops the server
//
// Unhandled (the default): the task that serves the client fails. Nobody
// awaits it, so the exception goes nowhere: not up the stack (a task is not
// called, it is scheduled), not to the client, who waits for an echo that
// never comes on a connection that nobody closes. The server goes on
// serving everyone else.
//
// The loop tells you about such a failure with "Task exception was never
// retrieved", with the stack, on stderr, once nobody can retrieve it any
// more. When is that? CPython knows the moment the last reference to the
// task goes: reference counting frees the task as soon as it finishes, and
// the report comes at once. JavaScript has no reference counts: the loop
// hears that a task is gone only from the garbage collector
// (FinalizationRegistry), at a time V8 chooses, and never while this loop
// holds the thread in select(). What is certain is the end: once the loop
// is closed, nobody can retrieve anything. So run() reports every failure
// still unretrieved when it closes the loop: here, when you press Ctrl-C.
// (The chapter's second listing keeps its tasks in a list, so Python, too,
// stays silent until the program ends: a task someone holds might still be
// awaited.)
//
// --handled: the chapter's fix. The echo catches the exception, logs it with
// its stack, and closes the connection in `finally`; the client sees the
// connection close, and there is nothing left to report. `finally` also runs
// when the task is cancelled: on Ctrl-C every open connection is closed.
import {
  type Address, CancelledError, type Coro, currentTask, type EventLoop, getRunningLoop, run,
  SO_REUSEADDR, SOCK_STREAM, SOL_SOCKET, Socket,
} from '../src/index.js';
import { announce, bindOrExit, exampleOptions, onSignal, showAddress, showBytes } from './support/cli.js';

const { host, port, family, flags } = exampleOptions({ flags: ['handled'] });

/** `boom`, as nc sends it (`boom\n`) or telnet (`boom\r\n`). */
function isBoom(data: Buffer): boolean {
  return data.toString('latin1').replace(/\r?\n$/, '') === 'boom';
}

// The chapter's failing echo. It closes the connection only when all goes
// well: when the client hangs up.
function* echo(connection: Socket, name: string, loop: EventLoop): Coro<void> {
  for (;;) {
    const data = yield* loop.sockRecv(connection, 1024);
    if (data.length === 0) break;
    console.log(`I got data from ${name}: ${showBytes(data)}`);
    if (isBoom(data)) throw new Error('Unexpected network error');
    yield* loop.sockSendall(connection, data);
  }
  connection.close();
}

// The same echo with the chapter's try/except/finally.
function* handledEcho(connection: Socket, name: string, loop: EventLoop): Coro<void> {
  try {
    yield* echo(connection, name, loop);
  } catch (error) {
    // Cancellation is not a failure to log, but a request to stop: let it
    // through (in Python, CancelledError is not an Exception, for this reason).
    if (error instanceof CancelledError) throw error;
    console.error(`Error in the connection from ${name}: ${(error as Error).stack ?? String(error)}`); // logging.exception(ex)
  } finally {
    connection.close();
    console.log(`Closed the connection from ${name}`);
  }
}

function* listenForConnections(serverSocket: Socket, loop: EventLoop): Coro<never> {
  for (;;) {
    const [connection, address]: [Socket, Address] = yield* loop.sockAccept(serverSocket);
    const name = showAddress(address);
    console.log(`Got a connection from ${name}`);
    const [clientHost, clientPort] = address as [string, number];
    // Created and dropped, as in the chapter: nobody keeps the task.
    loop.createTask((flags.handled ? handledEcho : echo)(connection, name, loop), {
      name: `echo ${clientHost}:${clientPort}`,
    });
  }
}

function* main(): Coro<void> {
  const loop = getRunningLoop();
  const serverSocket = new Socket(family, SOCK_STREAM);
  try {
    serverSocket.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1);
    serverSocket.setBlocking(false);
    bindOrExit(host, port, () => serverSocket.bind([host, port]));
    serverSocket.listen();
    announce(serverSocket);
    console.log(flags.handled
      ? 'Send "boom": the echo task logs the error and closes the connection'
      : 'Send "boom": the echo task fails, and nothing handles it (Ctrl-C to see the report)');

    // As asyncio.run() does on Ctrl-C: cancel the main task; run() then
    // cancels the others and closes the loop.
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
  run(main);
} catch (error) {
  if (!(error instanceof CancelledError)) throw error;
  console.log('Server stopped');
}
