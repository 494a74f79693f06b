// Chapter 3, "Working with non-blocking sockets": setBlocking(false) on the
// server and every connection, so accept() and recv() never wait. When there
// is nothing to do they throw BlockingIOError ("come back later"), which we
// catch and ignore, and the loop goes round again at once. It serves many
// clients, each line echoed back as soon as it is complete, but it never
// rests: it asks every socket "anything yet?" as fast as the CPU allows.
//
//   npx tsx examples/nonblocking-busy-loop.ts [HOST] [PORT] [--duration SECONDS]
//   telnet 127.0.0.1 8000        (or nc -C 127.0.0.1 8000), in as many terminals as you like
//
// To show the cost, it runs for DURATION seconds (default 3), then prints how
// much CPU time it burned against the wall-clock time (process.cpuUsage),
// close to 100% of one core, even with no client at all, closes everything
// and exits. Compare `examples/selector-echo.ts`, which sleeps in select().
//
// Differences from the Python: each client keeps its own buffer between turns
// (the chapter's resets it, losing half a line that arrived in two parts, and
// compares bytes with the str '\r\n', which is never equal), reads 1024 bytes
// at a time instead of 2, and a client that hangs up is dropped.
import {
  BlockingIOError, ConnectionError, SO_REUSEADDR, SOCK_STREAM, SOL_SOCKET, Socket, type Address,
} from '../src/index.js';
import {
  announce, bindOrExit, endsWithCRLF, exampleOptions, showAddress, showBytes, startCpuMeter,
} from './support/cli.js';

const { host, port, family, duration } = exampleOptions({ duration: 3 });

const serverSocket = new Socket(family, SOCK_STREAM);
serverSocket.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1);
bindOrExit(host, port, () => serverSocket.bind([host, port]));
serverSocket.listen();
serverSocket.setBlocking(false); // accept() now throws BlockingIOError instead of waiting
announce(serverSocket);

/** recv() returned b'': the client closed its end. */
class HungUp extends Error {}

interface Client { connection: Socket; address: Address; buffer: Buffer }
const clients: Client[] = [];

const cpuUsed = startCpuMeter();
const deadline = performance.now() + duration * 1000;
let turns = 0;
let wouldBlock = 0; // BlockingIOErrors caught: each one a question asked for nothing

try {
  while (performance.now() < deadline) {
    turns++;
    try {
      const [connection, address] = serverSocket.accept();
      connection.setBlocking(false);
      console.log(`I got a connection from ${showAddress(address)}`);
      clients.push({ connection, address, buffer: Buffer.alloc(0) });
    } catch (error) {
      if (!(error instanceof BlockingIOError)) throw error;
      wouldBlock++; // no one is connecting right now: go on
    }

    for (const client of [...clients]) {
      try {
        while (!endsWithCRLF(client.buffer)) {
          const data = client.connection.recv(1024);
          if (data.length === 0) throw new HungUp();
          console.log(`I got data: ${showBytes(data)}`);
          client.buffer = Buffer.concat([client.buffer, data]);
        }
        console.log(`All the data is: ${showBytes(client.buffer)}`);
        // A short line always fits the kernel's send buffer; selector-echo
        // shows how to wait when it does not.
        client.connection.sendall(client.buffer);
        client.buffer = Buffer.alloc(0);
      } catch (error) {
        if (error instanceof BlockingIOError) {
          wouldBlock++; // this client has sent nothing new: ask the next one
        } else if (error instanceof HungUp || error instanceof ConnectionError) {
          console.log(`${showAddress(client.address)} hung up`);
          clients.splice(clients.indexOf(client), 1);
          client.connection.close();
        } else {
          throw error;
        }
      }
    }
  }
} finally {
  for (const client of clients) client.connection.close();
  serverSocket.close();
}

const { cpuSeconds, wallSeconds, percent } = cpuUsed();
console.log(
  `Busy loop: ${cpuSeconds.toFixed(2)} s of CPU in ${wallSeconds.toFixed(2)} s = ` +
  `${Math.round(percent)}% of one core (${turns} turns, ${wouldBlock} BlockingIOErrors caught)`,
);
