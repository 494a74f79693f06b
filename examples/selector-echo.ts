// Chapter 3, "Using the selector module to build a socket event loop": an
// echo server that sleeps in select() until the kernel says a socket is
// ready, instead of asking every socket in a busy loop. It serves any
// number of clients on one thread at almost no CPU when idle; with nothing
// happening for a second it prints "No events, waiting a bit more!".
//
//   npx tsx examples/selector-echo.ts [HOST] [PORT] [--quiet]   (or: npm start)
//   telnet 127.0.0.1 8000        (or nc 127.0.0.1 8000), in as many terminals as you like
//
// The chapter's listing shows the idea; this is the same loop made safe to
// leave running:
// - Partial writes. send() on a non-blocking socket takes what fits in the
//   kernel's buffer and returns the count. What it did not take waits in the
//   connection's `unsent` queue, and only then is the connection registered
//   for EVENT_WRITE too: "tell me when there is room". Asking for EVENT_WRITE
//   with nothing to send would wake select() at once, every time.
// - Back-pressure. A client that sends but does not read would make `unsent`
//   grow without end. Past MAX_UNSENT bytes we drop EVENT_READ: we stop
//   reading from that client until it has read enough of its echo. TCP then
//   fills up and slows the client's sends. Other clients are not affected.
// - Hang-ups and errors. recv() returning an empty Buffer (Python's b'') is
//   the client closing its end: we send what is still owed, then unregister
//   and close. (The chapter's loop keeps the socket, which is readable
//   forever after EOF, and spins printing b''.) A reset or a broken pipe
//   unregisters and closes that connection only.
// - Out of file descriptors. accept() fails with EMFILE while the process is
//   at its fd limit, yet the connection stays in the backlog and the server
//   socket stays readable: retried on every turn, that is a busy loop at
//   100% CPU. Like asyncio, we stop watching the server socket for
//   ACCEPT_RETRY_MS and try again then (by when clients may have left).
// - Ctrl-C (SIGINT) and SIGTERM close every connection, the server socket and
//   the selector, print the CPU used, and exit with code 0: see `runSlice()`.
//   Under `npx tsx`, tsx's command line sits in between: it passes Ctrl-C
//   on again and kills the script unless the script's process.on listener
//   has run within about 30 ms (see examples/support/cli.ts), so there
//   select() waits in steps of RELAYED_WAIT_MS instead of a whole second.
// - --quiet (or QUIET=1) drops the per-event lines, for benchmarks.
import {
  BlockingIOError, ConnectionAbortedError, DefaultSelector, EVENT_READ, EVENT_WRITE, IPPROTO_TCP,
  OSError, SO_REUSEADDR, SOCK_STREAM, SOL_SOCKET, Socket, TCP_NODELAY,
} from '../src/index.js';
import {
  announce, bindOrExit, exampleOptions, launcherRelaysSignals, showAddress, showBytes, startCpuMeter,
} from './support/cli.js';

const SELECT_TIMEOUT_MS = 1000; // the chapter's select(timeout=1)
const RECV_SIZE = 64 * 1024; // the chapter reads 1024; bigger reads mean fewer calls for big payloads
const MAX_UNSENT = 1024 * 1024; // per connection; past this we stop reading from it
const ACCEPT_BATCH = 64; // connections accepted per readiness of the server socket
const ACCEPT_RETRY_MS = 1000; // after accept() fails for want of fds (asyncio's ACCEPT_RETRY_DELAY)
const RELAYED_WAIT_MS = 10; // longest wait in select() under tsx's command line

const { host, port, family, quiet } = exampleOptions();
const log = quiet ? (_line: string): void => {} : (line: string): void => console.log(line);

/** One client: its socket and the echo we still owe it. */
interface Connection {
  readonly socket: Socket;
  readonly name: string; // "['127.0.0.1', 54321]", for the log
  readonly unsent: Buffer[]; // received, not yet sent back, oldest first
  unsentBytes: number;
  events: number; // what it is registered for now
  peerClosed: boolean; // recv() returned EOF: the client sends no more
  open: boolean;
}

// key.data is the Connection; null for the server socket.
const selector = new DefaultSelector<Connection | null>();
const serverSocket = new Socket(family, SOCK_STREAM);
serverSocket.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1);
serverSocket.setBlocking(false);
bindOrExit(host, port, () => serverSocket.bind([host, port]));
serverSocket.listen();
selector.register(serverSocket, EVENT_READ, null);
announce(serverSocket);

const connections = new Set<Connection>();
const cpuUsed = startCpuMeter();
let acceptPausedUntil: number | null = null; // performance.now() at which to watch the server socket again
let idleSince = performance.now(); // for "No events" once per idle second, whatever the wait

// The chapter's `while True:` loop, one turn: wait (at most a second) for
// sockets to be ready, then handle each one that is.
function turn(): void {
  let timeout = SELECT_TIMEOUT_MS;
  if (acceptPausedUntil !== null) {
    const left = acceptPausedUntil - performance.now();
    if (left <= 0) {
      acceptPausedUntil = null;
      selector.register(serverSocket, EVENT_READ, null);
    } else {
      timeout = Math.min(timeout, left);
    }
  }
  if (launcherRelaysSignals) timeout = Math.min(timeout, RELAYED_WAIT_MS);
  const events = selector.select(timeout);
  const now = performance.now();
  if (events.length > 0) {
    idleSince = now;
  } else if (now - idleSince >= SELECT_TIMEOUT_MS) {
    log('No events, waiting a bit more!');
    idleSince = now;
  }
  for (const [key, mask] of events) {
    if (key.fileobj === serverSocket) acceptClients();
    else serve(key.data!, mask);
  }
}

// Why not simply `for (;;) turn()`: Node runs a process.on('SIGINT')
// listener only when control comes back to its own event loop, and such a
// loop never gives it back, so Ctrl-C would be noted and never acted on.
// (With no listener at all, Ctrl-C kills the process at once, exit code 130,
// nothing closed in order.) Nor does select() return early on a signal: like
// Python (PEP 475), the library retries an interrupted wait with the time
// that is left, and JavaScript has no way to make a signal wake it.
// So we run turns in slices of about SLICE_MS and schedule the next slice
// with setImmediate(). Between two slices Node's loop goes round once
// without sleeping (a pending immediate makes its own poll non-blocking) and
// hands any signal to our listener; the next slice sees `stopSignal` first.
// Busy, we notice a signal within SLICE_MS; idle, within SELECT_TIMEOUT_MS,
// as select() has to time out first. Slices rather than one turn each: a
// trip through Node's loop costs about as much as a select() (measured here:
// ~4 us), and while busy that would be paid on every turn.
const SLICE_MS = 10;
let stopSignal: NodeJS.Signals | null = null;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    stopSignal = signal;
  });
}

function runSlice(): void {
  if (stopSignal !== null) {
    shutDown(stopSignal);
    return;
  }
  const sliceEnd = performance.now() + SLICE_MS;
  do turn(); while (performance.now() < sliceEnd);
  setImmediate(runSlice);
}

function acceptClients(): void {
  // The server socket stays readable while connections wait in its backlog;
  // taking a batch now saves a select() per connection in a burst.
  for (let i = 0; i < ACCEPT_BATCH; i++) {
    let socket: Socket;
    let address;
    try {
      [socket, address] = serverSocket.accept();
    } catch (error) {
      if (error instanceof BlockingIOError) return; // the backlog is empty
      if (error instanceof ConnectionAbortedError) continue; // it gave up while waiting
      if (error instanceof OSError) { // EMFILE and the like: try again in a while, not at once
        console.error(`accept() failed: ${error.message}; trying again in ${ACCEPT_RETRY_MS} ms`);
        selector.unregister(serverSocket);
        acceptPausedUntil = performance.now() + ACCEPT_RETRY_MS;
        return;
      }
      throw error;
    }
    socket.setBlocking(false);
    // Echoes are small and latency-bound: let the tail of a partial write
    // go out now rather than wait for Nagle's algorithm.
    socket.setsockopt(IPPROTO_TCP, TCP_NODELAY, 1);
    const connection: Connection = {
      socket, name: showAddress(address), unsent: [], unsentBytes: 0,
      events: EVENT_READ, peerClosed: false, open: true,
    };
    selector.register(socket, EVENT_READ, connection);
    connections.add(connection);
    log(`I got a connection from ${connection.name}`);
  }
}

function serve(connection: Connection, mask: number): void {
  // An earlier event of this same batch may have closed it (and accept()
  // may even have reused its fd number for a new client).
  if (!connection.open) return;
  if (mask & EVENT_WRITE) sendUnsent(connection); // first make room, it may resume reading
  if (connection.open && mask & EVENT_READ && connection.events & EVENT_READ) receive(connection);
}

function receive(connection: Connection): void {
  let data: Buffer;
  try {
    data = connection.socket.recv(RECV_SIZE);
  } catch (error) {
    if (error instanceof BlockingIOError) return; // a spurious wake-up: nothing after all
    fail(connection, error);
    return;
  }
  if (data.length === 0) {
    connection.peerClosed = true;
    log(`${connection.name} has finished sending`);
  } else {
    log(`I got some data from ${connection.name}: ${showBytes(data)}`);
    connection.unsent.push(data);
    connection.unsentBytes += data.length;
  }
  sendUnsent(connection); // most of the time the kernel takes it all, now
}

/** Sends as much of the queue as the kernel takes, then re-registers to suit. */
function sendUnsent(connection: Connection): void {
  const { socket, unsent } = connection;
  while (unsent.length > 0) {
    const head = unsent[0]!;
    let sent: number;
    try {
      sent = socket.send(head);
    } catch (error) {
      if (error instanceof BlockingIOError) break; // the kernel's buffer is full
      fail(connection, error);
      return;
    }
    connection.unsentBytes -= sent;
    if (sent < head.length) {
      unsent[0] = head.subarray(sent); // a partial write: the rest waits for EVENT_WRITE
      break;
    }
    unsent.shift();
  }
  if (connection.peerClosed && connection.unsentBytes === 0) {
    close(connection, 'closed');
    return;
  }
  updateInterest(connection);
}

/**
 * EVENT_WRITE only while something waits to be sent; EVENT_READ only while
 * the client has not closed and we owe it at most MAX_UNSENT bytes. Never
 * neither: a connection with nothing to send and nothing to read is closed.
 */
function updateInterest(connection: Connection): void {
  const reading = !connection.peerClosed && connection.unsentBytes <= MAX_UNSENT;
  const events = (reading ? EVENT_READ : 0) | (connection.unsentBytes > 0 ? EVENT_WRITE : 0);
  if (events === connection.events) return;
  if (!connection.peerClosed && reading !== Boolean(connection.events & EVENT_READ)) {
    log(reading
      ? `Resuming reads from ${connection.name}`
      : `Pausing reads from ${connection.name}: ${connection.unsentBytes} bytes not yet sent back`);
  }
  selector.modify(connection.socket, events, connection);
  connection.events = events;
}

function fail(connection: Connection, error: unknown): void {
  if (!(error instanceof OSError)) throw error;
  close(connection, `failed: ${error.code}`);
}

function close(connection: Connection, why: string): void {
  connection.open = false;
  connections.delete(connection);
  selector.unregister(connection.socket);
  connection.socket.close();
  log(`Connection from ${connection.name} ${why}`);
}

function shutDown(signal: NodeJS.Signals): void {
  console.log(`Got ${signal}: closing ${connections.size} connection(s) and the server socket`);
  for (const connection of connections) close(connection, 'closed by shutdown');
  if (acceptPausedUntil === null) selector.unregister(serverSocket);
  serverSocket.close();
  selector.close();
  const { cpuSeconds, wallSeconds, percent } = cpuUsed();
  console.log(`Served for ${wallSeconds.toFixed(2)} s using ${cpuSeconds.toFixed(2)} s of CPU ` +
    `= ${Math.round(percent)}% of one core`);
  // Nothing is left to keep Node's loop alive (signal listeners do not), so
  // the process exits by itself, with code 0.
}

runSlice();
