// Chapter 3, "Shutting down gracefully" and "Waiting for pending tasks to
// finish": the echo server that, on Ctrl-C (SIGINT) or SIGTERM, gives its
// connections 2 seconds to finish their work before it cancels what is left.
//
//   node --import tsx examples/graceful-shutdown.ts [HOST] [PORT]
//   nc 127.0.0.1 8000 in a terminal or two, then Ctrl-C the server: your
//   nc sessions still get their echoes for 2 seconds, then are closed.
//   (A second Ctrl-C cancels them at once.)
//
// The chapter's shape: the main task is the connection listener; the signal
// handler ends it (here by cancelling it: a CancelledError comes out of
// runUntilComplete, where the chapter raises GracefulExit), then a second
// runUntilComplete() waits for the echo tasks, and the loop is closed.
//
// And the two faults the chapter names at its end, fixed:
// 1. The chapter keeps accepting while it waits: a client that connects
//    during the 2 seconds gets a task nobody waits for. Here the listener's
//    `finally` closes the server socket as the cancellation unwinds it, so
//    from the moment shutdown starts new clients are refused.
// 2. The chapter awaits one wait_for() after another and catches only
//    TimeoutError: the waits run one at a time (up to 2 s *each*), and the
//    first other exception ends the loop, so the tasks after it are never
//    looked at. Here gather(..., { returnExceptions: true }) runs every
//    waitFor() at once, so shutdown takes at most 2 s in all, and hands back
//    each task's outcome, which we report, every one.
import {
  type Address, CancelledError, type Coro, EventLoop, gather, SO_REUSEADDR, SOCK_STREAM, SOL_SOCKET,
  Socket, type Task, TimeoutError, waitFor,
} from '../src/index.js';
import { announce, bindOrExit, exampleOptions, onSignal, showAddress } from './support/cli.js';

const GRACE_MS = 2000; // the chapter's wait_for(task, 2)

const { host, port, family, quiet } = exampleOptions();
const log = quiet ? (_line: string): void => {} : (line: string): void => console.log(line);

const loop = new EventLoop();
const echoTasks = new Set<Task<void>>(); // the connections still being served
let stopSignal: string | null = null; // the signal that started the shutdown

// The chapter's last `echo`: errors are logged, the connection always closed.
function* echo(connection: Socket, name: string): Coro<void> {
  try {
    for (;;) {
      const data = yield* loop.sockRecv(connection, 64 * 1024);
      if (data.length === 0) break;
      if (data.toString('latin1').replace(/\r?\n$/, '') === 'boom') throw new Error('Unexpected network error');
      yield* loop.sockSendall(connection, data);
    }
  } catch (error) {
    if (error instanceof CancelledError) throw error; // asked to stop: not an error to log
    console.error(`Error in the connection from ${name}: ${(error as Error).stack ?? String(error)}`);
  } finally {
    connection.close();
  }
}

// The chapter's `connection_listener`.
function* connectionListener(serverSocket: Socket): Coro<never> {
  for (;;) {
    const [connection, address]: [Socket, Address] = yield* loop.sockAccept(serverSocket);
    const name = showAddress(address);
    log(`Got a connection from ${name}`);
    const [clientHost, clientPort] = address as [string, number];
    const task = loop.createTask(echo(connection, name), { name: `echo ${clientHost}:${clientPort}` });
    echoTasks.add(task);
    task.addDoneCallback(() => echoTasks.delete(task));
  }
}

function* main(): Coro<void> {
  const serverSocket = new Socket(family, SOCK_STREAM);
  try {
    serverSocket.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1);
    serverSocket.setBlocking(false);
    bindOrExit(host, port, () => serverSocket.bind([host, port]));
    serverSocket.listen();
    announce(serverSocket);
    yield* connectionListener(serverSocket);
  } finally {
    // Fault 1 fixed: the first thing shutdown does is stop taking clients.
    serverSocket.close();
    if (stopSignal !== null) console.log(`Got ${stopSignal}: no longer accepting connections`);
  }
}

// The chapter's `close_echo_tasks`, waiting for all of them at once.
function* closeEchoTasks(tasks: Task<void>[]): Coro<void> {
  console.log(`Giving ${tasks.length} connection(s) ${GRACE_MS / 1000} s to finish`);
  const outcomes = yield* gather(tasks.map((task) => waitFor(task, GRACE_MS)), { returnExceptions: true });
  outcomes.forEach((outcome, i) => {
    const { name } = tasks[i]!;
    if (outcome instanceof TimeoutError) console.log(`${name}: still busy after ${GRACE_MS / 1000} s, cancelled`);
    else if (outcome instanceof CancelledError) console.log(`${name}: cancelled`);
    else if (outcome instanceof Error) console.error(`${name} failed: ${outcome.stack ?? String(outcome)}`);
    else console.log(`${name}: finished`);
  });
}

// The chapter's `shutdown`. Where it raises GracefulExit out of the handler,
// we cancel the main task: the listener stops at its sockAccept, and
// runUntilComplete(main) throws the CancelledError.
const mainTask = loop.createTask(main(), { name: 'listener' });

function shutdown(signal: string): void {
  if (stopSignal === null) {
    stopSignal = signal;
    mainTask.cancel();
    return;
  }
  console.log(`Got ${signal} again: cancelling ${echoTasks.size} connection(s) now`);
  for (const task of echoTasks) task.cancel();
}

try {
  for (const signal of ['SIGINT', 'SIGTERM']) loop.addSignalHandler(signal, onSignal(signal, () => shutdown(signal)));
  try {
    loop.runUntilComplete(mainTask);
  } catch (error) {
    if (!(error instanceof CancelledError)) throw error;
    const startedAt = loop.time();
    loop.runUntilComplete(closeEchoTasks([...echoTasks]));
    console.log(`Shut down in ${((loop.time() - startedAt) / 1000).toFixed(1)} s`);
  }
} finally {
  loop.close();
}
