// native-selectors: Python's selectors, sockets and an asyncio-shaped loop.
export {
  Selector, DefaultSelector, EpollSelector, KqueueSelector, PollSelector,
  EVENT_READ, EVENT_WRITE, availableBackends, defaultBackend,
  type SelectorKey, type FileObject, type BackendName, type SelectorOptions,
  type PollMode, type RegisterOptions,
} from './selector.js';
export { Waker } from './waker.js';
export { SignalReader } from './signal-reader.js';
export { Socket, type Address, type AddressOf } from './socket.js';
export { socketpair, createServer, createConnection, type ServerOptions } from './connections.js';
export {
  OSError, BlockingIOError, ConnectionError, BrokenPipeError, ConnectionAbortedError,
  ConnectionRefusedError, ConnectionResetError, FileExistsError, FileNotFoundError,
  InterruptedError, PermissionError, TimeoutError, GaiError, KeyError, errno,
} from './errors.js';
export * from './constants.js';
// The coroutine event loop (asyncio's shape; src/loop/).
export { EventLoop, getRunningLoop, allTasks, type ExceptionHandler } from './loop/event-loop.js';
export { run } from './loop/runners.js';
export { ioUringAvailable, type IoMode } from './loop/uring.js';
export { type EventLoopOptions, type ExceptionContext } from './loop/core.js';
export { Task, currentTask, type Awaitable } from './loop/task.js';
export { CancelledError, InvalidStateError, type Coro } from './loop/futures.js';
export { sleep, waitFor, gather, fromPromise, type GatherOptions } from './loop/combinators.js';
export { Handle, TimerHandle } from './loop/timers.js';
// asyncio's toolbox: locks, queues, task groups, timeouts, waiting, streams.
export { Event, Lock, Semaphore, BoundedSemaphore, Condition } from './loop/locks.js';
export { Barrier, BrokenBarrierError } from './loop/barrier.js';
export {
  Queue, PriorityQueue, LifoQueue, QueueEmpty, QueueFull, QueueShutDown,
} from './loop/queues.js';
export { taskGroup, TaskGroup } from './loop/taskgroups.js';
export { timeout, timeoutAt, Timeout } from './loop/timeouts.js';
export { shield, wait, asCompleted, type ReturnWhen, type WaitOptions } from './loop/waiting.js';
export {
  openConnection, startServer, Server, type StartServerOptions,
} from './loop/streams.js';
export { StreamReader, IncompleteReadError, LimitOverrunError } from './loop/stream-reader.js';
export { StreamWriter } from './loop/stream-writer.js';
