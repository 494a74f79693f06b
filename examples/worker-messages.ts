// Beyond the chapter: a coroutine loop in a worker thread that serves
// sockets and also takes jobs from the main thread. A loop run with
// runUntilComplete() holds its thread in select(), so the thread's Node
// event loop never runs and a MessagePort's 'message' events never fire.
// The way in is a Waker: the worker watches it with loop.addReader(); the
// main thread posts a message, then wakes it (Waker.fromFd on the worker's
// remoteFd); the reader callback drains the Waker and takes every queued
// message with receiveMessageOnPort(). The same code works when the loop
// runs with runAsync() instead (--async).
//
//   node --import tsx examples/worker-messages.ts [HOST] [PORT] [--jobs N] [--async]
//   nc 127.0.0.1 8000      an echo server, served by the worker's loop
//   Ctrl-C or SIGTERM      stops the worker and prints what it did
//
// The main thread binds and listens, then hands the socket's fd to the
// worker (detach() here, a new Socket on the fd there): fds belong to the
// process, Socket objects to a thread.
import {
  isMainThread, MessageChannel, type MessagePort, receiveMessageOnPort, Worker, workerData,
} from 'node:worker_threads';

import {
  CancelledError, type Coro, createServer, EventLoop, gather, OSError, Socket, SOCK_STREAM, type Task, Waker,
} from '../src/index.js';
import { announce, bindOrExit, exampleOptions, showAddress } from './support/cli.js';

const RECV_SIZE = 64 * 1024;

/** Main thread -> worker. */
type Job = { type: 'job'; id: number; text: string } | { type: 'stop' };
/** Worker -> main thread. */
type Reply =
  | { type: 'ready'; wakeFd: number }
  | { type: 'result'; id: number; words: number; reversed: string }
  | { type: 'stopped'; connections: number; jobs: number };

interface Setup {
  port: MessagePort;
  listenFd: number;
  family: number;
  runAsync: boolean;
  quiet: boolean;
}

if (isMainThread) startMain();
else startWorker(workerData as Setup);

// ---- the worker: one event loop, sockets and messages ---------------------

function startWorker({ port, listenFd, family, runAsync, quiet }: Setup): void {
  const loop = new EventLoop();
  const waker = new Waker();
  const server = new Socket(family, SOCK_STREAM, 0, listenFd);
  server.setBlocking(false);
  let connections = 0;
  let jobs = 0;

  function* echo(connection: Socket): Coro<void> {
    try {
      for (;;) {
        const data = yield* loop.sockRecv(connection, RECV_SIZE);
        if (data.length === 0) return;
        yield* loop.sockSendall(connection, data);
      }
    } catch (error) {
      if (!(error instanceof OSError)) throw error; // the client reset
    } finally {
      connection.close();
    }
  }

  function* serve(): Coro<void> {
    const open = new Set<Task<void>>();
    try {
      for (;;) {
        const [connection, address] = yield* loop.sockAccept(server);
        connections++;
        if (!quiet) console.log(`worker: connection from ${showAddress(address)}`);
        const task = loop.createTask(echo(connection));
        open.add(task);
        task.addDoneCallback(() => open.delete(task));
      }
    } finally {
      for (const task of open) task.cancel();
      yield* gather([...open], { returnExceptions: true });
    }
  }

  const serving = loop.createTask(serve(), { name: 'serve' });

  function handle(job: Job): void {
    if (job.type === 'stop') {
      serving.cancel();
      return;
    }
    jobs++;
    const words = job.text.split(/\s+/).filter((w) => w !== '').length;
    port.postMessage({ type: 'result', id: job.id, words, reversed: [...job.text].reverse().join('') } satisfies Reply);
  }

  loop.addReader(waker, () => {
    // Drain first, then read: a message posted after the drain has woken
    // the Waker again, so none is left behind until the next wake-up.
    waker.drain();
    for (let m = receiveMessageOnPort(port); m !== undefined; m = receiveMessageOnPort(port)) {
      handle(m.message as Job);
    }
  });
  port.postMessage({ type: 'ready', wakeFd: waker.remoteFd } satisfies Reply);

  const finish = (): void => {
    loop.removeReader(waker);
    loop.close();
    server.close();
    port.postMessage({ type: 'stopped', connections, jobs } satisfies Reply);
    port.close();
    // The main thread closed its side (fromFd) before asking us to stop.
    waker.close();
  };
  const cancelledIsFine = (error: unknown): void => {
    if (!(error instanceof CancelledError)) throw error;
  };
  if (runAsync) {
    loop.runAsync(serving).catch(cancelledIsFine).finally(finish);
  } else {
    try {
      loop.runUntilComplete(serving);
    } catch (error) {
      cancelledIsFine(error);
    } finally {
      finish();
    }
  }
}

// ---- the main thread: posts jobs, owns the signals ------------------------

function startMain(): void {
  const { host, port, family, quiet, flags, values } = exampleOptions({ flags: ['async'], values: ['jobs'] });
  const jobCount = values.jobs === undefined ? 3 : Number(values.jobs);
  if (!Number.isInteger(jobCount) || jobCount < 0 || jobCount > 1000) {
    console.error(`--jobs (or JOBS) must be an integer from 0 to 1000, got ${values.jobs}`);
    process.exit(2);
  }
  const server = bindOrExit(host, port, () => createServer([host, port], { family }));
  announce(server);
  const listenFd = server.detach(); // the worker's Socket owns it from now on

  const channel = new MessageChannel();
  // A worker does not inherit the --import tsx of the main thread: it
  // registers tsx itself, then loads this file (which sees !isMainThread).
  const tsx = import.meta.resolve('tsx/esm/api');
  const bootstrap = `
    import(${JSON.stringify(tsx)})
      .then(({ register }) => { register(); return import(${JSON.stringify(import.meta.url)}); })
      .catch((error) => { process.nextTick(() => { throw error; }); });`;
  const setup: Setup = { port: channel.port2, listenFd, family, runAsync: flags.async === true, quiet };
  const worker = new Worker(bootstrap, { eval: true, workerData: setup, transferList: [channel.port2] });
  worker.once('error', (error) => {
    console.error(`worker failed: ${error.stack ?? String(error)}`);
    process.exit(1);
  });

  const texts = ['the quick brown fox', 'jumps over', 'the lazy dog'];
  let wake: Waker | null = null;
  const send = (job: Job): void => {
    if (wake === null) return;
    channel.port1.postMessage(job);
    wake.wake();
  };

  channel.port1.on('message', (reply: Reply) => {
    if (reply.type === 'ready') {
      wake = Waker.fromFd(reply.wakeFd);
      console.log(`worker loop running (${setup.runAsync ? 'runAsync' : 'blocking'}); Ctrl-C: stop`);
      for (let id = 1; id <= jobCount; id++) send({ type: 'job', id, text: texts[(id - 1) % texts.length]! });
    } else if (reply.type === 'result') {
      console.log(`job ${reply.id}: ${reply.words} word(s), reversed "${reply.reversed}"`);
    } else {
      console.log(`stopped: ${reply.connections} connection(s), ${reply.jobs} job(s)`);
      channel.port1.close(); // nothing left to keep this thread: it ends once the worker has
    }
  });

  let stopping = false;
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      if (stopping) return;
      stopping = true;
      console.log(`Got ${signal}: stopping the worker`);
      if (wake === null) {
        // Not started yet: nothing to wake, and nothing of it to report.
        channel.port1.close();
        void worker.terminate();
        return;
      }
      send({ type: 'stop' });
      // Ours is the fromFd side: close it before the worker closes the Waker.
      wake.close();
      wake = null;
    });
  }
}
