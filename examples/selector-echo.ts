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
// - Hang-ups and errors. recv returning no bytes (Python's b'') is
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
//   the selector, print the CPU used, and exit with code 0. Node's
//   process.on('SIGINT') would not do: Node runs such a listener only when
//   control comes back to its own event loop, and this loop never gives it
//   back. A SignalReader (Python's signal.set_wakeup_fd) instead makes the
//   signals one more fd in the same select(), readable the moment one
//   arrives, so the loop acts on Ctrl-C at once, even while it sleeps.
// - --quiet (or QUIET=1) drops the per-event lines, for benchmarks.
import {
  BlockingIOError, ConnectionAbortedError, DefaultSelector, EVENT_READ, EVENT_WRITE, IPPROTO_TCP,
  OSError, SignalReader, SO_REUSEADDR, SOCK_STREAM, SOL_SOCKET, Socket, TCP_NODELAY,
} from '../src/index.js';
import {
  announce, bindOrExit, exampleOptions, showAddress, showBytes, startCpuMeter, tellLauncher,
} from './support/cli.js';

const SELECT_TIMEOUT_MS = 1000; // the chapter's select(timeout=1)
const RECV_SIZE = 256 * 1024; // the chapter reads 1024; bigger reads mean fewer calls for big payloads
const QUEUED_RECV_SIZE = 64 * 1024; // a read while we still owe the client: see receive()
const MAX_UNSENT = 1024 * 1024; // per connection; past this we stop reading from it
const ACCEPT_BATCH = 64; // connections accepted per readiness of the server socket
const ACCEPT_RETRY_MS = 1000; // after accept() fails for want of fds (asyncio's ACCEPT_RETRY_DELAY)

const { host, port, family, quiet } = exampleOptions();
const log = quiet ? (_line: string): void => {} : (line: string): void => console.log(line);

/** One client: its socket and the echo we still owe it. */
interface Connection {
  readonly socket: Socket;
  readonly name: string; // "['127.0.0.1', 54321]", for the log
  readonly unsent: Buffer[]; // received, not yet sent back, oldest first
  unsentBytes: number;
  events: number; // what it is registered for now
  peerClosed: boolean; // recv returned EOF: the client sends no more
  open: boolean;
}

// key.data is the Connection; null for the server socket and the signals.
const selector = new DefaultSelector<Connection | null>();
const serverSocket = new Socket(family, SOCK_STREAM);
serverSocket.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1);
serverSocket.setBlocking(false);
bindOrExit(host, port, () => serverSocket.bind([host, port]));
serverSocket.listen();
selector.register(serverSocket, EVENT_READ, null);
const signals = new SignalReader(['SIGINT', 'SIGTERM']); // before we say we are ready
selector.register(signals, EVENT_READ, null);
announce(serverSocket);

const connections = new Set<Connection>();
// Every recv lands in this one buffer and the echo is sent straight from
// it: only what the kernel does not take at once is copied (into `unsent`).
const received = Buffer.allocUnsafe(RECV_SIZE);
const cpuUsed = startCpuMeter();
let acceptPausedUntil: number | null = null; // performance.now() at which to watch the server socket again
let idleSince = performance.now(); // for "No events" once per idle second, whatever the wait
let stopSignal: string | null = null; // the first SIGINT or SIGTERM

// The chapter's `while True:` loop, one turn: wait (at most a second) for
// sockets or a signal to be ready, then handle each one that is.
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
    else if (key.fileobj === signals) readSignals();
    else serve(key.data!, mask);
  }
}

function readSignals(): void {
  for (const signal of signals.read()) {
    // Under `npx tsx`, tsx's command line also got Ctrl-C and passes it on
    // (then kills us) unless told at once that we have it: see support/cli.ts.
    tellLauncher(signal);
    stopSignal ??= signal;
  }
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
  // Owing nothing, what we read goes straight back out: read big. Owing
  // something, a read only lengthens the queue: read less, so the queue
  // stays within MAX_UNSENT plus one small read.
  const size = connection.unsentBytes === 0 ? RECV_SIZE : QUEUED_RECV_SIZE;
  let n: number;
  try {
    n = connection.socket.recvInto(received, size);
  } catch (error) {
    if (error instanceof BlockingIOError) return; // a spurious wake-up: nothing after all
    fail(connection, error);
    return;
  }
  if (n === 0) {
    connection.peerClosed = true;
    log(`${connection.name} has finished sending`);
    sendUnsent(connection);
    return;
  }
  const data = received.subarray(0, n);
  // Checked here, not only in log(): building this line costs more than the echo.
  if (!quiet) log(`I got some data from ${connection.name}: ${showBytes(data)}`);
  // Owing nothing, we echo at once, and most of the time the kernel takes
  // it all. Owing something, the new bytes wait behind it, to keep the order.
  const sent = connection.unsentBytes === 0 ? trySend(connection, data) : 0;
  if (sent === null) return;
  if (sent < n) {
    connection.unsent.push(Buffer.from(data.subarray(sent))); // a copy: `received` is reused
    connection.unsentBytes += n - sent;
  }
  updateInterest(connection);
}

/** Sends as much of the queue as the kernel takes, then re-registers to suit. */
function sendUnsent(connection: Connection): void {
  const { unsent } = connection;
  while (unsent.length > 0) {
    const head = unsent[0]!;
    const sent = trySend(connection, head);
    if (sent === null) return;
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

/** How much of `data` the kernel took (0: its buffer is full), or null if the connection failed and is closed. */
function trySend(connection: Connection, data: Buffer): number | null {
  try {
    return connection.socket.send(data);
  } catch (error) {
    if (error instanceof BlockingIOError) return 0;
    fail(connection, error);
    return null;
  }
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

function shutDown(signal: string): void {
  console.log(`Got ${signal}: closing ${connections.size} connection(s) and the server socket`);
  for (const connection of connections) close(connection, 'closed by shutdown');
  if (acceptPausedUntil === null) selector.unregister(serverSocket);
  serverSocket.close();
  selector.unregister(signals);
  signals.close(); // SIGINT and SIGTERM act as they did before we started
  selector.close();
  const { cpuSeconds, wallSeconds, percent } = cpuUsed();
  console.log(`Served for ${wallSeconds.toFixed(2)} s using ${cpuSeconds.toFixed(2)} s of CPU ` +
    `= ${Math.round(percent)}% of one core`);
  // Nothing is left to keep Node's loop alive, so the process exits by
  // itself, with code 0.
}

while (stopSignal === null) turn();
shutDown(stopSignal);
