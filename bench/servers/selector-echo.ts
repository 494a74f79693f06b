// The Selector echo loop of examples/selector-echo.ts, minus logging and
// signal handling: what the benchmark measures. Same policy: recvInto a
// reused buffer, send back at once, queue only what the kernel did not
// take, and ask for EVENT_WRITE only while something is queued.
//
//   npx tsx bench/servers/selector-echo.ts HOST PORT [epoll|poll]
import {
  BlockingIOError, DefaultSelector, EVENT_READ, EVENT_WRITE, IPPROTO_TCP, OSError, Socket,
  TCP_NODELAY, createServer, type BackendName,
} from '../../src/index.js';

const [host = '127.0.0.1', portText = '8000', backend] = process.argv.slice(2);

interface Conn {
  sock: Socket;
  pending: Buffer | null; // echo the kernel has not taken yet
}

const server = createServer([host, Number(portText)], { backlog: 1024 });
server.setBlocking(false);
const sel = new DefaultSelector<Conn | null>(backend ? { backend: backend as BackendName } : undefined);
sel.register(server, EVENT_READ, null);
const buf = Buffer.allocUnsafe(256 * 1024);

function accept(): void {
  for (;;) {
    let sock: Socket;
    try {
      [sock] = server.accept();
    } catch (error) {
      if (error instanceof BlockingIOError) return;
      throw error;
    }
    sock.setBlocking(false);
    sock.setsockopt(IPPROTO_TCP, TCP_NODELAY, 1);
    sel.register(sock, EVENT_READ, { sock, pending: null });
  }
}

function drop(conn: Conn): void {
  sel.unregister(conn.sock);
  conn.sock.close();
}

function flush(conn: Conn, data: Buffer): void {
  const sent = conn.sock.send(data);
  if (sent === data.length) {
    if (conn.pending !== null) {
      conn.pending = null;
      sel.modify(conn.sock, EVENT_READ, conn);
    }
  } else {
    const wasPending = conn.pending !== null;
    conn.pending = Buffer.from(data.subarray(sent)); // copy: buf is reused
    // Stop reading until the client has taken its echo: back-pressure.
    if (!wasPending) sel.modify(conn.sock, EVENT_WRITE, conn);
  }
}

process.stdout.write(`listening on ${host}:${(server.getsockname() as [string, number])[1]}\n`);
for (;;) {
  for (const [key, mask] of sel.select(null)) {
    const conn = key.data;
    if (conn === null) {
      accept();
      continue;
    }
    try {
      if (mask & EVENT_WRITE) {
        flush(conn, conn.pending!);
      } else {
        const n = conn.sock.recvInto(buf);
        if (n === 0) drop(conn);
        else flush(conn, buf.subarray(0, n));
      }
    } catch (error) {
      if (error instanceof BlockingIOError) continue;
      if (error instanceof OSError) drop(conn);
      else throw error;
    }
  }
}
