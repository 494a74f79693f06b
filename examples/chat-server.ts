// Beyond the chapter: a line-based chat room on the loop's toolbox.
// Every line a client sends goes to every other client, prefixed with the
// sender's address. Try it with a few terminals:
//
//   node --import tsx examples/chat-server.ts [HOST] [PORT] [--quiet]
//   nc 127.0.0.1 8000
//
// The shape is the usual asyncio one:
// - startServer runs one handler per connection, with a StreamReader and a
//   StreamWriter;
// - each client has a Queue of lines to send and a task that sends them, so
//   whoever broadcasts only puts lines in queues and never waits for a slow
//   reader: one client that stops reading cannot slow down the others;
// - the handler's two halves (reading lines in, sending queued lines out)
//   run in a taskGroup, so when either ends or fails the other is cancelled
//   and both are finished before the handler returns;
// - a client whose queue is full (it has stopped reading and its socket
//   buffers are full too) is disconnected rather than buffered without end.
import {
  type Coro, currentTask, Event, getRunningLoop, OSError, Queue, QueueFull, QueueShutDown, run, type Server, startServer,
  type StreamReader, type StreamWriter, type Task, taskGroup,
} from '../src/index.js';
import { exampleOptions, showAddress } from './support/cli.js';

const { host, port, quiet } = exampleOptions();
const log = quiet ? (): void => {} : (text: string): void => console.log(text);

/** Lines a client may have waiting before it counts as gone. */
const MAX_QUEUED = 1000;

interface Client {
  name: string;
  queue: Queue<string>;
  /** Its handler's task, cancelled to disconnect it. */
  task: Task<unknown>;
}

const clients = new Set<Client>();

// Never waits: a line goes into each queue, or the client is dropped.
function broadcast(text: string, from: Client | null): void {
  for (const client of clients) {
    if (client === from) continue;
    try {
      client.queue.putNowait(text);
    } catch (error) {
      if (!(error instanceof QueueFull)) throw error;
      log(`${client.name} is too slow: disconnecting it`);
      clients.delete(client);
      client.queue.shutdown(true);
      client.task.cancel();
    }
  }
}

// Sends the client's queued lines, letting the socket catch up (drain) as it goes.
function* sendQueued(client: Client, writer: StreamWriter): Coro<void> {
  for (;;) {
    let line: string;
    try {
      line = yield* client.queue.get();
    } catch (error) {
      if (error instanceof QueueShutDown) return;
      throw error;
    }
    writer.write(line);
    yield* writer.drain();
  }
}

// Reads the client's lines and hands them to everyone else.
function* readLines(client: Client, reader: StreamReader): Coro<void> {
  for (;;) {
    let line: Buffer;
    try {
      line = yield* reader.readline();
    } catch (error) {
      if (error instanceof RangeError) continue; // a line over 64 KiB: dropped
      throw error;
    }
    if (line.length === 0) return; // EOF: the client left
    const text = line.toString('utf8');
    broadcast(`${client.name}: ${text.endsWith('\n') ? text : `${text}\n`}`, client);
  }
}

function* handleClient(reader: StreamReader, writer: StreamWriter): Coro<void> {
  const name = showAddress(writer.getExtraInfo('peername') as [string, number]);
  const client: Client = { name, queue: new Queue<string>(MAX_QUEUED), task: currentTask()! };
  log(`${name} joined`);
  client.queue.putNowait(`welcome, ${name}; ${clients.size} other(s) here\n`);
  broadcast(`* ${name} joined\n`, null);
  clients.add(client);
  try {
    yield* taskGroup(function* (tg) {
      const sender = tg.createTask(sendQueued(client, writer));
      yield* readLines(client, reader);
      // The client left: send what is still queued for it, then stop.
      client.queue.shutdown();
      yield* sender;
    });
  } catch (error) {
    // A client that resets the connection is no news; anything else is a bug.
    const errors = error instanceof AggregateError ? error.errors : [error];
    if (!errors.every((e) => e instanceof OSError)) throw error;
    log(`${name}: ${errors.map((e: OSError) => e.code).join(', ')}`);
  } finally {
    if (clients.delete(client)) broadcast(`* ${name} left\n`, null);
    log(`${name} left`);
  }
}

function* main(): Coro<void> {
  const loop = getRunningLoop();
  const server: Server = yield* startServer(handleClient, [host, port]);
  const [boundHost, boundPort] = server.sockets[0]!.getsockname() as [string, number];
  console.log(`listening on ${boundHost.includes(':') ? `[${boundHost}]` : boundHost}:${boundPort}`);
  const stop = new Event();
  for (const signal of ['SIGINT', 'SIGTERM']) loop.addSignalHandler(signal, () => stop.set());
  try {
    yield* stop.wait();
  } finally {
    server.close();
    server.abortClients();
    yield* server.waitClosed();
    log('Server stopped');
  }
}

run(main);
