// Beyond the chapter: the echo server over UDP, on the event loop. UDP has
// no connections: one socket receives every client's datagrams, each with
// its sender's address, and the answer goes back to that address. So there
// is no accept and no task per client, only one task that receives a
// datagram and sends it back, as asyncio's sock_recvfrom/sock_sendto.
//
//   node --import tsx examples/udp-echo.ts [HOST] [PORT] [--quiet]
//   nc -u 127.0.0.1 8000          type a line: it comes back
//   socat - UDP:127.0.0.1:8000
//
// A datagram longer than MAX_DATAGRAM is cut short (the rest is dropped by
// the kernel, as in Python). Ctrl-C (or SIGTERM) stops it.
import {
  CancelledError, type Coro, currentTask, getRunningLoop, run, SOCK_DGRAM, Socket,
} from '../src/index.js';
import { announce, bindOrExit, exampleOptions, onSignal, showAddress, showBytes } from './support/cli.js';

// The largest UDP payload over IPv4.
const MAX_DATAGRAM = 65507;

function* main(): Coro<void> {
  const { host, port, family, quiet } = exampleOptions();
  const loop = getRunningLoop();
  const sock = new Socket(family, SOCK_DGRAM);
  try {
    bindOrExit(host, port, () => sock.bind([host, port]));
    sock.setBlocking(false);
    const mainTask = currentTask()!;
    for (const signal of ['SIGINT', 'SIGTERM']) {
      loop.addSignalHandler(signal, onSignal(signal, () => mainTask.cancel()));
    }
    announce(sock); // last: a script that waits for this line may signal at once
    // One buffer for every datagram: receive into it, send from it.
    const buf = Buffer.alloc(MAX_DATAGRAM);
    for (;;) {
      const [n, sender] = yield* loop.sockRecvfromInto(sock, buf);
      if (!quiet) console.log(`${showAddress(sender)} sent ${showBytes(buf.subarray(0, n))}`);
      yield* loop.sockSendto(sock, buf.subarray(0, n), sender);
    }
  } finally {
    sock.close();
  }
}

try {
  run(main);
} catch (error) {
  if (!(error instanceof CancelledError)) throw error;
  console.log('Server stopped');
}
