// Beyond the chapter: one event loop per core. One loop is one thread, so
// the servers so far use one core however many clients come. This starts N
// worker threads (worker_threads), each with an event loop of its own
// serving http-hello.ts's connection task, all listening on the same port
// with SO_REUSEPORT: the kernel spreads incoming connections across their
// listening sockets (on Linux by a hash of the client's address and port),
// so no thread hands connections to another.
//
//   node --import tsx examples/reuseport-workers.ts [HOST] [PORT] [--workers N]   (default: one per core)
//   curl http://127.0.0.1:8000/, many times (or wrk -t2 -c64 -d5s http://127.0.0.1:8000/)
//   kill -USR2 <pid>     prints how many connections each worker has served
//   Ctrl-C or SIGTERM    prints them too, stops the workers and exits
//
// Each worker runs its loop with runAsync(): the loop's selector is watched
// by the worker's own Node event loop, so the thread can still receive
// messages from the main thread (count, stop) between the loop's turns. The
// main thread is an ordinary Node program: it owns the signals, and talks to
// the workers by postMessage.
//
// The port: with PORT=0 each worker would get a different free port. So the
// main thread binds first (SO_REUSEPORT, no listen, so it takes no
// connections), learns the port, starts the workers on it, and closes its
// socket once they all listen.
//
// Load spreading across listeners is Linux's (and FreeBSD's SO_REUSEPORT_LB)
// behaviour; on macOS, SO_REUSEPORT lets them bind but one socket gets the
// connections.
import { availableParallelism } from 'node:os';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';

import {
  CancelledError, type Coro, createServer, EventLoop, gather, IPPROTO_TCP, SO_REUSEADDR, SO_REUSEPORT,
  SOCK_STREAM, SOL_SOCKET, Socket, type Task, TCP_NODELAY,
} from '../src/index.js';
import { serveHttp } from './http-hello.js';
import { announce, bindOrExit, exampleOptions, showAddress } from './support/cli.js';

/** What a worker is told when it starts. */
interface WorkerSetup {
  id: number;
  host: string;
  port: number;
  family: number;
}

/** Main thread -> worker. */
type Command = 'count' | 'stop';
/** Worker -> main thread. */
type Report = { type: 'listening' } | { type: 'count' | 'stopped'; served: number };

if (isMainThread) {
  startMain();
} else {
  startWorker(workerData as WorkerSetup);
}

// ---- a worker: one event loop serving HTTP on the shared port --------------

function startWorker({ host, port, family }: WorkerSetup): void {
  const toMain = parentPort!;
  const loop = new EventLoop();
  const serverSocket = createServer([host, port], { family, reusePort: true });
  serverSocket.setBlocking(false);
  let served = 0;

  function* listen(): Coro<void> {
    const connections = new Set<Task<void>>();
    try {
      for (;;) {
        const [connection, address] = yield* loop.sockAccept(serverSocket);
        served++;
        connection.setsockopt(IPPROTO_TCP, TCP_NODELAY, 1);
        const task = loop.createTask(serveHttp(loop, connection, showAddress(address), () => {}));
        connections.add(task);
        task.addDoneCallback(() => connections.delete(task));
      }
    } finally {
      // Stopping: no new connections; cancel the open ones (each closes its socket).
      serverSocket.close();
      for (const task of connections) task.cancel();
      yield* gather([...connections], { returnExceptions: true });
    }
  }

  const listener = loop.createTask(listen(), { name: 'listener' });
  const onCommand = (command: Command): void => {
    if (command === 'count') toMain.postMessage({ type: 'count', served } satisfies Report);
    else if (command === 'stop') listener.cancel();
  };
  toMain.on('message', onCommand);
  toMain.postMessage({ type: 'listening' } satisfies Report);

  loop.runAsync(listener)
    .catch((error: unknown) => {
      if (!(error instanceof CancelledError)) throw error;
    })
    .finally(() => {
      loop.close();
      toMain.postMessage({ type: 'stopped', served } satisfies Report);
      toMain.off('message', onCommand); // nothing left to keep the thread: it ends
    });
}

// ---- the main thread: starts the workers, owns the signals -----------------

interface WorkerHandle {
  id: number;
  worker: Worker;
  listening: Promise<void>;
  /** Resolves with the next count the worker reports. */
  count(): Promise<number>;
  /** Resolves with its final count once the thread has ended. */
  stop(): Promise<number>;
}

function startWorkerThread(setup: WorkerSetup): WorkerHandle {
  // A worker does not inherit the --import tsx of the main thread: it
  // registers tsx itself, then loads this file (which sees !isMainThread).
  const tsx = import.meta.resolve('tsx/esm/api');
  const bootstrap = `
    import(${JSON.stringify(tsx)})
      .then(({ register }) => { register(); return import(${JSON.stringify(import.meta.url)}); })
      .catch((error) => { process.nextTick(() => { throw error; }); });`;
  const worker = new Worker(bootstrap, { eval: true, workerData: setup });
  worker.once('error', (error) => {
    console.error(`worker ${setup.id} failed: ${error.stack ?? String(error)}`);
    process.exit(1);
  });
  const waiting: Array<(served: number) => void> = [];
  let final = 0;
  let onListening = (): void => {};
  const listening = new Promise<void>((resolve) => {
    onListening = resolve;
  });
  worker.on('message', (report: Report) => {
    if (report.type === 'listening') onListening();
    else if (report.type === 'count') waiting.shift()?.(report.served);
    else final = report.served;
  });
  const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
  return {
    id: setup.id,
    worker,
    listening,
    count: () => new Promise((resolve) => {
      waiting.push(resolve);
      worker.postMessage('count' satisfies Command);
    }),
    stop: async () => {
      worker.postMessage('stop' satisfies Command);
      await exited;
      return final;
    },
  };
}

function printCounts(counts: number[]): void {
  counts.forEach((served, i) => console.log(`worker ${i + 1}: ${served} connection(s)`));
  console.log(`total: ${counts.reduce((a, b) => a + b, 0)} connection(s)`);
}

function startMain(): void {
  const { host, port, family, values } = exampleOptions({ values: ['workers'] });
  const count = values.workers === undefined ? availableParallelism() : Number(values.workers);
  if (!Number.isInteger(count) || count < 1 || count > 256) {
    console.error(`--workers (or WORKERS) must be an integer from 1 to 256, got ${values.workers}`);
    process.exit(2);
  }

  // Holds the port (PORT=0: picks it) while the workers start.
  const reservation = new Socket(family, SOCK_STREAM);
  reservation.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1);
  reservation.setsockopt(SOL_SOCKET, SO_REUSEPORT, 1);
  bindOrExit(host, port, () => reservation.bind([host, port]));
  const [, boundPort] = reservation.getsockname() as [string, number];

  const workers: WorkerHandle[] = [];
  for (let id = 1; id <= count; id++) workers.push(startWorkerThread({ id, host, port: boundPort, family }));

  void Promise.all(workers.map((w) => w.listening)).then(() => {
    announce(reservation);
    reservation.close();
    console.log(`${count} worker(s), one event loop each. kill -USR2 ${process.pid}: counts; Ctrl-C: stop`);

    process.on('SIGUSR2', () => {
      void Promise.all(workers.map((w) => w.count())).then(printCounts);
    });
    let stopping = false;
    for (const signal of ['SIGINT', 'SIGTERM'] as const) {
      process.on(signal, () => {
        if (stopping) return;
        stopping = true;
        console.log(`Got ${signal}: stopping ${count} worker(s)`);
        void Promise.all(workers.map((w) => w.stop())).then((counts) => {
          printCounts(counts);
          process.exit(0);
        });
      });
    }
  });
}
