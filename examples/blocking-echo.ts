// Chapter 3, "Reading and writing data to and from a socket": one blocking
// server socket, one client. It reads in 2-byte chunks, printing each, so
// you can see that TCP hands over a byte stream, not your messages: the
// loop stops when the *buffer* ends with "\r\n" (a chunk may hold only the
// "\r" or only the "\n"). Then it answers "Buffer: " + what it read, as the
// chapter's last listing does, closes the connection and exits.
//
//   npx tsx examples/blocking-echo.ts [HOST] [PORT]     (default 127.0.0.1 8000)
//   telnet 127.0.0.1 8000        (or: nc -C 127.0.0.1 8000; -C sends "\r\n")
//
// Differences from the Python: we close the connection socket too, and a
// client that has gone before the answer is reported, not a crash.
import {
  ConnectionError, SO_REUSEADDR, SOCK_STREAM, SOL_SOCKET, Socket,
} from '../src/index.js';
import { announce, bindOrExit, endsWithCRLF, exampleOptions, showAddress, showBytes } from './support/cli.js';

const { host, port, family } = exampleOptions();

const serverSocket = new Socket(family, SOCK_STREAM); // AF_INET + SOCK_STREAM: TCP over IPv4
// Lets a restarted server bind the port at once, instead of failing with
// "address already in use" while the old connections sit in TIME_WAIT.
serverSocket.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1);
bindOrExit(host, port, () => serverSocket.bind([host, port]));
serverSocket.listen();
announce(serverSocket);

try {
  // Blocks (this whole thread: no timer or callback runs) until a client comes.
  const [connection, clientAddress] = serverSocket.accept();
  try {
    console.log(`I got a connection from ${showAddress(clientAddress)}!`);

    let buffer = Buffer.alloc(0);
    while (!endsWithCRLF(buffer)) {
      const data = connection.recv(2); // blocks until at least 1 byte, returns at most 2
      if (data.length === 0) break; // an empty Buffer: the client closed (Python's b'')
      console.log(`I got data: ${showBytes(data)}!`);
      buffer = Buffer.concat([buffer, data]);
    }
    console.log(`All the data is: ${showBytes(buffer)}`);

    try {
      connection.sendall(Buffer.concat([Buffer.from('Buffer: '), buffer]));
    } catch (error) {
      if (!(error instanceof ConnectionError)) throw error;
      console.log(`Could not answer: the client has gone (${error.code})`);
    }
  } finally {
    connection.close();
  }
} finally {
  serverSocket.close();
}
