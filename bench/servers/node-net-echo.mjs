// Node's own `net` echo server, the baseline the library is compared with.
//
//   node bench/servers/node-net-echo.mjs [data|pipe] HOST PORT   (PORT 0 picks one)
//
// `data` writes each chunk back from the 'data' event, ignoring backpressure
// (what most hand-written echo servers do); `pipe` lets stream.pipe() pause
// the reader while the writer is full.
import net from 'node:net';

const [variant = 'data', host = '127.0.0.1', portArg = '8000'] = process.argv.slice(2);
if (variant !== 'data' && variant !== 'pipe') {
  console.error('usage: node-net-echo.mjs [data|pipe] HOST PORT');
  process.exit(1);
}

// noDelay as in every other server here: echoes must not wait for Nagle.
const server = net.createServer({ noDelay: true }, (socket) => {
  // A peer resetting the connection is normal at the end of a run.
  socket.on('error', () => socket.destroy());
  if (variant === 'pipe') socket.pipe(socket);
  else socket.on('data', (chunk) => socket.write(chunk));
});

server.on('error', (err) => {
  console.error(`node-net-echo: ${err.message}`);
  process.exit(1);
});

// The default backlog (511) would drop SYNs when 1000 clients connect at once.
server.listen({ host, port: Number(portArg), backlog: 4096 }, () => {
  console.log(`listening on ${host}:${server.address().port}`);
});

for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    server.close();
    process.exit(0);
  });
}
