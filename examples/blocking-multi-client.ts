// Chapter 3, "Allowing multiple connections and the dangers of blocking":
// the naive way to serve several clients with blocking sockets. Each turn
// of the loop accepts one new client, then reads one "\r\n"-terminated line
// from *every* client so far and echoes it back.
//
//   npx tsx examples/blocking-multi-client.ts [HOST] [PORT]   (default 127.0.0.1 8000)
//   telnet 127.0.0.1 8000        in two terminals (or nc -C 127.0.0.1 8000)
//
// Try it: the first client is echoed. Connect a second one and type into
// it: nothing comes back. The server is stuck in recv() on the *first*
// client, and stays stuck until that one sends a line; only then does it
// get to the second (and then waits in accept() for a third...). Every
// blocking call holds the whole thread, so one quiet client stalls all.
//
// Differences from the Python: the chapter's listing sends after the `for`
// loop, so only the last client would hear back; we echo to each client
// after reading its line, as the text describes. A client that hangs up is
// dropped instead of being read forever. Ctrl-C ends the process by
// default: no JavaScript runs while we block in accept() or recv().
import {
  ConnectionError, SO_REUSEADDR, SOCK_STREAM, SOL_SOCKET, Socket,
} from '../src/index.js';
import { announce, bindOrExit, endsWithCRLF, exampleOptions, showAddress, showBytes } from './support/cli.js';

const { host, port, family } = exampleOptions();

const serverSocket = new Socket(family, SOCK_STREAM);
serverSocket.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1);
bindOrExit(host, port, () => serverSocket.bind([host, port]));
serverSocket.listen();
announce(serverSocket);

const connections: Socket[] = [];

/** Reads one line from `connection` (blocking) and echoes it; false if the client left. */
function echoOneLine(connection: Socket): boolean {
  let buffer = Buffer.alloc(0);
  while (!endsWithCRLF(buffer)) {
    const data = connection.recv(2); // blocks: the next client waits until this one talks
    if (data.length === 0) return false;
    console.log(`I got data: ${showBytes(data)}!`);
    buffer = Buffer.concat([buffer, data]);
  }
  console.log(`All the data is: ${showBytes(buffer)}`);
  connection.sendall(buffer);
  return true;
}

try {
  for (;;) {
    const [connection, clientAddress] = serverSocket.accept(); // blocks until a new client
    console.log(`I got a connection from ${showAddress(clientAddress)}`);
    connections.push(connection);

    for (const client of [...connections]) {
      let open: boolean;
      try {
        open = echoOneLine(client);
      } catch (error) {
        if (!(error instanceof ConnectionError)) throw error;
        open = false;
      }
      if (!open) {
        console.log('A client hung up; dropping it');
        connections.splice(connections.indexOf(client), 1);
        client.close();
      }
    }
  }
} finally {
  for (const connection of connections) connection.close();
  serverSocket.close();
}
