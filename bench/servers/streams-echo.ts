// The streams echo: startServer hands each connection a StreamReader and a
// StreamWriter, and the handler writes back what it reads, with drain() for
// flow control. The same work as loop-echo.ts one layer up, to measure what
// the streams cost over the socket coroutines:
//   npx tsx bench/servers/streams-echo.ts HOST PORT
// The loop blocks the thread in select (run()), as loop-echo's fast mode.
import { type Coro, getRunningLoop, run, startServer, type StreamReader, type StreamWriter } from '../../src/index.js';

const [host = '127.0.0.1', portText = '8000'] = process.argv.slice(2);
const READ_SIZE = 64 * 1024;

function* echo(reader: StreamReader, writer: StreamWriter): Coro<void> {
  try {
    for (;;) {
      const data = yield* reader.read(READ_SIZE);
      if (data.length === 0) return;
      writer.write(data);
      yield* writer.drain();
    }
  } catch {
    // A reset peer ends its connection only.
  }
}

try {
  run(function* main(): Coro<void> {
    const loop = getRunningLoop();
    loop.addSignalHandler('SIGTERM', () => loop.stop());
    loop.addSignalHandler('SIGINT', () => loop.stop());
    const server = yield* startServer(echo, [host, Number(portText)], { backlog: 1024 });
    process.stdout.write(`listening on ${host}:${server.sockets[0]!.getsockname()[1]}\n`);
    yield* server.serveForever();
  });
} catch {
  // stop() before main completed: the signal asked for it.
}
