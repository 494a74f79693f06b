// The event loop: the seed chapter's pseudo-code made real.
//
//   while not stopping:
//     review fd interest          (drop what nobody waits for any more)
//     timeout = 0 if anything is ready, else until the next timer
//     events = selector.select(timeout)
//     wake the tasks whose fds are ready; queue signal callbacks;
//     move due timers to the ready queue
//     run everything that was ready when this iteration began
//
// It runs two ways. runUntilComplete()/runForever() block the thread in
// select (fastest: nothing between the kernel and the tasks). runAsync()
// runs the same iterations as callbacks of Node's own loop: libuv watches
// the selector's fd, a Node timer covers the next deadline and setImmediate
// runs ready work, so Node's timers, fs and net keep working alongside.
import { SO_ERROR, SOL_SOCKET } from '../constants.js';
import { errno, errorFromErrno } from '../errors.js';
import { native, type NativeSelector } from '../native.js';
import { claimSelector, EVENT_READ, EVENT_WRITE, nativeSelectorOf, Selector } from '../selector.js';
import { type Address, Socket } from '../socket.js';
import { checkFunction, describe } from '../validate.js';
import { type FdState, IoWatcher } from './io.js';
import { closedWhileWaiting, RecvOp, SendallOp, socketFd, taskOf } from './sock-ops.js';
import { SignalHandlers, signalNumber, type SignalWatches } from './signals.js';
import {
  type Coro, describeError, Future, type LoopCore, PARKED, SleepHandle, Task,
  type UnretrievedReport, untilDone,
} from './task.js';
import { Handle, nodeTimerDelay, type Runnable, TimerHandle, TimerHeap } from './timers.js';

const calls = native.socket;
const EAGAIN = errno.EAGAIN!;
const EINPROGRESS = errno.EINPROGRESS!;
const EINTR = errno.EINTR!;

/** What the exception handler is told. */
export interface ExceptionContext {
  message: string;
  exception?: unknown;
  /** The task concerned, when it is still around. */
  task?: Task<unknown>;
  /** The task's name, also when the task itself was garbage-collected. */
  taskName?: string;
  /** The callback that threw, for "Exception in callback". */
  handle?: Handle;
}

/** Called with errors nobody else can receive (failed callbacks, unretrieved task exceptions). */
export type ExceptionHandler = (loop: EventLoop, context: ExceptionContext) => void;

/** Options for `new EventLoop()`. */
export interface EventLoopOptions {
  /**
   * The selector to wait with; a new default Selector if omitted. It must
   * have nothing registered; the loop owns it from then on (registering on
   * it directly throws) and closes it.
   */
  selector?: Selector;
}

/** Something the loop can wait for: a coroutine or a task. */
export type Awaitable<T> = Coro<T> | Task<T>;

const IDLE = 0;
const BLOCKING = 1;
const ASYNC = 2;

// The loop running on this thread right now: the one blocked in select, or
// the one whose runAsync iteration is executing.
let runningLoop: EventLoop | null = null;

/** The loop running the current task; throws when no loop is running. */
export function getRunningLoop(): EventLoop {
  if (runningLoop === null) throw new Error('no running event loop');
  return runningLoop;
}

/** The running loop's tasks that are not done yet. */
export function allTasks(): Set<Task<unknown>> {
  return new Set(getRunningLoop()._pendingTasks());
}

/** Whether `value` is a generator object (a coroutine). */
export function isCoro(value: unknown): value is Coro<unknown> {
  return typeof value === 'object' && value !== null &&
    typeof (value as Coro<unknown>).next === 'function' && typeof (value as Coro<unknown>).throw === 'function';
}

// A loop dropped without close(): its selector's fds (epoll/kqueue fd and
// wake-up pipe) are closed and its signal watches released, with a warning,
// as asyncio's "unclosed event loop" ResourceWarning. The held value must
// not reach the loop, or it would never be collected.
const unclosedLoops = new FinalizationRegistry<{ native: NativeSelector; watches: SignalWatches }>((held) => {
  held.watches.releaseAll();
  held.native.close();
  process.emitWarning('unclosed event loop was garbage-collected; call loop.close()', {
    type: 'ResourceWarning', code: 'NS_UNCLOSED_LOOP',
  });
});

function stopLoop(future: Future<unknown>): void {
  (future._loop as EventLoop).stop();
}

// Can drainMicrotasks run promise reactions here? Not when the loop was
// started from inside a promise job (ESM top-level code, code after an
// await): V8 does not run microtasks re-entrantly.
function microtasksDrainable(): boolean {
  let ran = false;
  void Promise.resolve().then(() => {
    ran = true;
  });
  native.drainMicrotasks();
  return ran;
}

function defaultExceptionHandler(context: ExceptionContext): void {
  let text = context.message;
  if (context.task !== undefined) {
    text += `\ntask: ${String(context.task)}`;
  } else if (context.taskName !== undefined) {
    text += `\ntask: <Task finished name='${context.taskName}'`;
    text += 'exception' in context ? ` exception=${describeError(context.exception)}>` : '>';
  }
  if ('exception' in context) {
    const error = context.exception;
    text += `\n${error instanceof Error && error.stack !== undefined ? error.stack : String(error)}`;
  }
  process.stderr.write(`${text}\n`);
}

function requireNonBlocking(fd: number, what: string): void {
  // accept() and connect() have no per-call "don't wait" flag, so a blocking
  // socket would block the whole loop; asyncio refuses it too.
  if (calls.getBlocking(fd) === 1) {
    throw new Error(`${what}(): the socket must be non-blocking (call sock.setBlocking(false))`);
  }
}



/**
 * An asyncio-style event loop over a Selector: runs tasks (generator
 * coroutines), timers, socket operations and signal handlers.
 */
export class EventLoop implements LoopCore {
  readonly #selector: Selector<FdState>;
  readonly #native: NativeSelector;
  readonly #io: IoWatcher;
  readonly #signals: SignalHandlers;
  readonly #timers = new TimerHeap();
  // Items queued while an iteration runs go to the other array: they run in
  // the next iteration, after select, as in asyncio.
  #ready: Runnable[] = [];
  #spare: Runnable[] = [];
  readonly #tasks = new Set<Task<unknown>>();
  readonly #unretrieved = new Set<UnretrievedReport>();
  #handler: ExceptionHandler | null = null;
  #mode = IDLE;
  #stopping = false;
  #closed = false;
  #promiseWaiters = 0;
  #drainable: boolean | undefined = undefined;
  // runAsync: the pending setImmediate and Node timer, and whether an
  // enqueue from outside an iteration must schedule one.
  #immediate: NodeJS.Immediate | null = null;
  #nodeTimer: NodeJS.Timeout | null = null;
  #nodeTimerWhen = Infinity;
  #asyncIdle = false;
  #asyncDone: ((failed: boolean, error: unknown) => void) | null = null;
  readonly #enqueueItem = (item: Runnable): void => this._enqueue(item);

  constructor(options?: EventLoopOptions) {
    if (options !== undefined && (typeof options !== 'object' || options === null)) {
      throw new TypeError(`options must be an object, got ${describe(options)}`);
    }
    const selector = options?.selector ?? new Selector();
    if (!(selector instanceof Selector)) {
      throw new TypeError(`options.selector must be a Selector, got ${describe(selector)}`);
    }
    this.#selector = selector as Selector<FdState>;
    this.#native = selector[nativeSelectorOf];
    this.#io = new IoWatcher(this.#selector[claimSelector]());
    this.#signals = new SignalHandlers(this.#native);
    unclosedLoops.register(this, { native: this.#native, watches: this.#signals.watches }, this);
  }

  // ---- running -----------------------------------------------------------

  /**
   * Runs the loop, blocking this thread, until `main` is done; returns its
   * result or throws its exception.
   */
  runUntilComplete<T>(main: Awaitable<T>): T {
    this.#checkCanRun();
    const task = this.#ensureTask(main);
    task.addDoneCallback(stopLoop);
    try {
      this.runForever();
    } catch (error) {
      // The loop failed, not the task: a task error would go unseen.
      if (task.done() && !task.cancelled()) task.exception();
      throw error;
    } finally {
      task.removeDoneCallback(stopLoop);
    }
    if (!task.done()) throw new Error('Event loop stopped before the task completed.');
    return task.result();
  }

  /** Runs the loop, blocking this thread, until `stop()` is called. */
  runForever(): void {
    this.#checkCanRun();
    const previous = runningLoop;
    runningLoop = this;
    this.#mode = BLOCKING;
    this.#drainable = undefined;
    try {
      do this.#runOnce(true);
      while (!this.#stopping);
    } finally {
      this.#stopping = false;
      this.#mode = IDLE;
      runningLoop = previous;
    }
  }

  /**
   * Runs the loop inside Node's own event loop, without blocking it, until
   * `main` is done. Node's timers, fs and net keep working meanwhile. Needs
   * a backend with a pollable fd (epoll, kqueue): not the poll backend.
   */
  runAsync<T>(main: Awaitable<T>): Promise<T> {
    let task: Task<T>;
    try {
      this.#checkCanRun();
      if (this.#native.fileno() < 0) {
        throw new Error(`runAsync() needs a selector whose readiness Node's loop can watch (epoll or kqueue); ` +
          `the ${this.#selector.backend} backend has no such fd. Use runUntilComplete(), or a Selector ` +
          `with another backend.`);
      }
      task = this.#ensureTask(main);
    } catch (error) {
      return Promise.reject(error);
    }
    return new Promise<T>((resolve, reject) => {
      const rc = this.#native.startWatch(this.#onReadable);
      if (rc < 0) {
        reject(errorFromErrno(-rc, 'uv_poll_start'));
        return;
      }
      this.#mode = ASYNC;
      this.#asyncDone = (failed, error) => {
        task.removeDoneCallback(stopLoop);
        if (failed) {
          if (task.done() && !task.cancelled()) task.exception();
          reject(error);
        } else if (!task.done()) {
          reject(new Error('Event loop stopped before the task completed.'));
        } else {
          try {
            resolve(task.result());
          } catch (exception) {
            reject(exception);
          }
        }
      };
      task.addDoneCallback(stopLoop);
      this.#scheduleTick();
    });
  }

  /** Stops `runForever` (or a `runAsync`) after the current iteration. */
  stop(): void {
    this.#stopping = true;
    if (this.#asyncIdle) this.#scheduleTick();
  }

  /** True while running (blocking, or in runAsync). */
  isRunning(): boolean {
    return this.#mode !== IDLE;
  }

  isClosed(): boolean {
    return this.#closed;
  }

  /**
   * Closes the loop and its selector, removes its signal handlers and
   * reports failed tasks whose exception was never retrieved. Pending tasks
   * stay pending, as in asyncio. Safe to call twice.
   */
  close(): void {
    if (this.#mode !== IDLE) throw new Error('Cannot close a running event loop');
    if (this.#closed) return;
    this.#closed = true;
    unclosedLoops.unregister(this);
    this.#signals.removeAll();
    this.#io.close();
    this.#ready.length = 0;
    this.#timers.clear();
    for (const report of [...this.#unretrieved]) this._reportUnretrieved(report);
    this.#selector.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  /** The loop's clock: monotonic milliseconds (fractional). */
  time(): number {
    return performance.now();
  }

  // ---- scheduling ----------------------------------------------------------

  /** Schedules a coroutine to run as a task; returns the task. */
  createTask<T>(coro: Coro<T>, options?: { name?: string }): Task<T> {
    this.#checkOpen();
    if (!isCoro(coro)) {
      throw new TypeError(typeof coro === 'function'
        ? 'createTask() needs a coroutine object: call the generator function (createTask(main()), not createTask(main))'
        : `createTask() needs a coroutine (a generator object), got ${describe(coro)}`);
    }
    const name = options?.name;
    if (name !== undefined && typeof name !== 'string') {
      throw new TypeError(`options.name must be a string, got ${describe(name)}`);
    }
    const task = new Task<T>(this, coro, name);
    this.#tasks.add(task as Task<unknown>);
    this._enqueue(task);
    return task;
  }

  /** Runs `cb` on the next iteration, after what is ready now. */
  callSoon(cb: () => void): Handle {
    checkFunction(cb, 'cb');
    this.#checkOpen();
    const handle = new Handle(this, cb);
    this._enqueue(handle);
    return handle;
  }

  /** Runs `cb` after `delay` ms; callbacks due at the same time run in the order scheduled. */
  callLater(delay: number, cb: () => void): TimerHandle {
    if (typeof delay !== 'number' || Number.isNaN(delay)) {
      throw new TypeError(`delay must be a number of milliseconds, got ${describe(delay)}`);
    }
    return this.callAt(this.time() + delay, cb);
  }

  /** Runs `cb` at `when` on the loop's clock (`time()`). */
  callAt(when: number, cb: () => void): TimerHandle {
    if (typeof when !== 'number' || Number.isNaN(when)) {
      throw new TypeError(`when must be a number (loop time in ms), got ${describe(when)}`);
    }
    checkFunction(cb, 'cb');
    this.#checkOpen();
    const handle = new TimerHandle(this, when, cb);
    this.#timers.push(handle);
    if (this.#asyncIdle) this.#scheduleTick();
    return handle;
  }

  // ---- signals -------------------------------------------------------------

  /**
   * Runs `cb` on the loop, as an ordinary callback, whenever `signal`
   * arrives, even while the loop is blocked in select. Replaces an earlier
   * handler for the same signal.
   */
  addSignalHandler(signal: string | number, cb: () => void): void {
    const signo = signalNumber(signal);
    checkFunction(cb, 'cb');
    this.#checkOpen();
    this.#signals.add(signo, new Handle(this, cb));
  }

  /** Removes the handler (the signal's previous behaviour comes back); false if there was none. */
  removeSignalHandler(signal: string | number): boolean {
    const signo = signalNumber(signal);
    if (this.#closed) return false;
    return this.#signals.remove(signo);
  }

  // ---- errors --------------------------------------------------------------

  /** Sets the handler for errors nobody else receives; null restores the default (stderr). */
  setExceptionHandler(handler: ExceptionHandler | null): void {
    if (handler !== null && typeof handler !== 'function') {
      throw new TypeError(`handler must be a function or null, got ${describe(handler)}`);
    }
    this.#handler = handler;
  }

  getExceptionHandler(): ExceptionHandler | null {
    return this.#handler;
  }

  /** Passes `context` to the exception handler (the default writes it to stderr). Never throws. */
  callExceptionHandler(context: ExceptionContext): void {
    const handler = this.#handler;
    try {
      if (handler === null) {
        defaultExceptionHandler(context);
        return;
      }
      try {
        handler(this, context);
      } catch (error) {
        defaultExceptionHandler({ message: 'Unhandled error in exception handler', exception: error });
        defaultExceptionHandler(context);
      }
    } catch {
      // stderr itself failed: nowhere left to report to.
    }
  }

  // ---- sockets -------------------------------------------------------------
  // Each tries the system call first and parks only when it would block, so
  // a socket with data ready costs one native call and no registration.
  // Failures come back as -errno, not exceptions, on this hot path.

  /** Accepts a connection: a new non-blocking Socket and the peer's address. */
  *sockAccept(sock: Socket): Coro<[Socket, Address]> {
    const fd = socketFd(sock, 'accept');
    requireNonBlocking(fd, 'sockAccept');
    for (;;) {
      const out = calls.accept(fd);
      if (typeof out !== 'number') {
        const conn = new Socket(sock.family, sock.type, sock.proto, out[0]);
        try {
          conn.setBlocking(false);
        } catch (error) {
          conn.close();
          throw error;
        }
        return [conn, out[1] ?? ''];
      }
      if (out !== -EAGAIN) throw errorFromErrno(-out, 'accept');
      this.#io.park(sock, fd, EVENT_READ, taskOf(this, 'sockAccept'));
      yield PARKED;
      if (sock.fileno() !== fd) throw closedWhileWaiting('accept');
    }
  }

  /** Receives up to `n` bytes; an empty Buffer means the peer closed (EOF). */
  sockRecv(sock: Socket, n: number): Coro<Buffer> {
    return new RecvOp<Buffer>(this, this.#io, sock, n, true);
  }

  /** Receives into `buf`; returns the byte count (0 at EOF). Allocates nothing. */
  sockRecvInto(sock: Socket, buf: Uint8Array): Coro<number> {
    return new RecvOp<number>(this, this.#io, sock, buf, false);
  }

  /**
   * Sends all of `data`, waiting for room whenever the kernel's buffer is
   * full (and watching for writability only then).
   */
  sockSendall(sock: Socket, data: Uint8Array): Coro<void> {
    return new SendallOp(this, this.#io, sock, data);
  }

  /**
   * Connects a non-blocking socket: starts the connect, waits until the
   * socket is writable, then reads the outcome from SO_ERROR. Host names
   * are resolved with getaddrinfo, which blocks; pass IP addresses to avoid it.
   */
  *sockConnect(sock: Socket, address: Address): Coro<void> {
    const fd = socketFd(sock, 'connect');
    requireNonBlocking(fd, 'sockConnect');
    const err = sock.connectEx(address);
    if (err === 0) return;
    if (err !== EINPROGRESS && err !== EAGAIN && err !== EINTR) throw errorFromErrno(err, 'connect');
    for (;;) {
      this.#io.park(sock, fd, EVENT_WRITE, taskOf(this, 'sockConnect'));
      yield PARKED;
      if (sock.fileno() !== fd) throw closedWhileWaiting('connect');
      const outcome = sock.getsockopt(SOL_SOCKET, SO_ERROR) as number;
      if (outcome === 0) return;
      if (outcome !== EINPROGRESS && outcome !== EAGAIN && outcome !== EINTR) throw errorFromErrno(outcome, 'connect');
    }
  }

  // ---- internals shared with tasks and combinators -----------------------

  /** @internal */
  _enqueue(item: Runnable): void {
    this.#ready.push(item);
    if (this.#asyncIdle) this.#scheduleTick();
  }

  /** @internal */
  _callSoonWith(callback: (arg: never) => void, arg: unknown): void {
    this._enqueue(new Handle(this, callback, arg));
  }

  /** @internal */
  _callbackFailed(handle: Handle, exception: unknown): void {
    this.callExceptionHandler({ message: 'Exception in callback', exception, handle });
  }

  /** @internal */
  _timerCancelled(): void {
    this.#timers.cancelledCount++;
  }

  /** @internal */
  _taskDone(task: Task<unknown>): void {
    this.#tasks.delete(task);
  }

  /** @internal */
  _pendingTasks(): IterableIterator<Task<unknown>> {
    return this.#tasks.values();
  }

  /** @internal */
  _unretrievedAdd(report: UnretrievedReport): void {
    this.#unretrieved.add(report);
  }

  /** @internal */
  _unretrievedRemove(report: UnretrievedReport): void {
    this.#unretrieved.delete(report);
  }

  /** @internal Reports a failed task nobody retrieved: once, at GC or close. */
  _reportUnretrieved(report: UnretrievedReport): void {
    if (report.reported) return;
    report.reported = true;
    this.#unretrieved.delete(report);
    this.callExceptionHandler({ message: report.message, exception: report.exception, taskName: report.taskName });
  }

  /** @internal Parks `task` in a sleep of `delay` ms. */
  _parkSleep(task: Task<unknown>, delay: number): void {
    const handle = new SleepHandle(this, performance.now() + delay, task);
    this.#timers.push(handle);
    task._waitingOn = handle;
  }

  /** @internal A task starts waiting on a Promise. */
  _promiseWaitStarted(): void {
    if (this.#mode === BLOCKING) {
      this.#drainable ??= microtasksDrainable();
      if (!this.#drainable) {
        throw new Error('fromPromise(): this loop blocks the thread (runUntilComplete/run) and was started ' +
          'from inside a promise job (ESM top-level code, or code after an await), where V8 cannot run ' +
          'promise callbacks until the loop returns. Use loop.runAsync(), or start the loop from a ' +
          'plain callback (e.g. setImmediate).');
      }
    }
    this.#promiseWaiters++;
  }

  /** @internal */
  _promiseWaitEnded(): void {
    this.#promiseWaiters--;
  }

  // ---- the iteration -------------------------------------------------------

  #runOnce(mayBlock: boolean): void {
    const io = this.#io;
    if (io.hasReview) io.reviewRegistrations();
    // Promise reactions cannot run while this thread sits in our loop: run
    // them here, so tasks waiting on promises settled by JS code wake up.
    if (this.#promiseWaiters > 0 && this.#mode === BLOCKING) native.drainMicrotasks();
    const timers = this.#timers;
    if (timers.cancelledCount > 0) timers.sweepIfWorthIt();

    let timeout: number | null = 0;
    if (mayBlock && this.#ready.length === 0 && !this.#stopping) {
      const next = timers.peek();
      // A timer due at Infinity never fires: it cannot wake the loop.
      if (next !== undefined && next._when !== Infinity) {
        timeout = Math.max(0, next._when - performance.now());
      } else {
        this.#checkSomethingCanWake();
        timeout = null;
      }
    }

    const events = this.#selector.select(timeout);
    if (events.length > 0) io.dispatch(events);
    if (this.#signals.size > 0) this.#signals.deliver(this.#enqueueItem);

    if (timers.size > 0) {
      const now = performance.now();
      for (;;) {
        const top = timers.peek();
        if (top === undefined || top._when > now) break;
        timers.pop();
        this.#ready.push(top);
      }
    }

    const todo = this.#ready;
    this.#ready = this.#spare;
    for (let i = 0; i < todo.length; i++) todo[i]!._run();
    todo.length = 0;
    this.#spare = todo;
  }

  // A blocking select with no timeout, no fd waiter and no signal handler
  // could never return: fail clearly instead of hanging the thread.
  #checkSomethingCanWake(): void {
    if (this.#io.waiting > 0 || this.#signals.size > 0) return;
    if (this.#promiseWaiters > 0) {
      throw new Error(`the event loop would wait forever: ${this.#promiseWaiters} task(s) wait on Promises, ` +
        'and nothing else can wake the loop. A Promise that waits on Node\'s own timers, fs or net cannot ' +
        'settle while runUntilComplete()/run() blocks the thread: use loop.runAsync() for those.');
    }
    throw new Error('the event loop would wait forever: no task is ready, no timer will fire, no task ' +
      'waits on a socket and no signal handler is installed (do the pending tasks wait on each other?)');
  }

  // ---- runAsync plumbing ---------------------------------------------------

  #scheduleTick(): void {
    this.#asyncIdle = false;
    this.#immediate ??= setImmediate(this.#tick);
  }

  readonly #onReadable = (): void => {
    this.#tick();
  };

  readonly #onNodeTimer = (): void => {
    this.#nodeTimer = null;
    this.#nodeTimerWhen = Infinity;
    this.#tick();
  };

  // One iteration as a Node callback. It never blocks: select polls, and
  // waiting happens in Node's loop (uv_poll on our fd, a timer, an immediate).
  readonly #tick = (): void => {
    if (this.#immediate !== null) {
      clearImmediate(this.#immediate);
      this.#immediate = null;
    }
    if (this.#mode !== ASYNC) return;
    this.#asyncIdle = false;
    const previous = runningLoop;
    runningLoop = this;
    try {
      this.#runOnce(false);
    } catch (error) {
      runningLoop = previous;
      this.#finishAsync(true, error);
      return;
    }
    runningLoop = previous;
    if (this.#stopping) {
      this.#finishAsync(false, undefined);
    } else if (this.#ready.length > 0) {
      this.#scheduleTick();
    } else {
      this.#armNodeTimer();
      this.#asyncIdle = true;
    }
  };

  #armNodeTimer(): void {
    const next = this.#timers.peek();
    const when = next === undefined ? Infinity : next._when;
    if (when === this.#nodeTimerWhen) return;
    if (this.#nodeTimer !== null) clearTimeout(this.#nodeTimer);
    this.#nodeTimer = null;
    this.#nodeTimerWhen = when;
    if (when !== Infinity) {
      this.#nodeTimer = setTimeout(this.#onNodeTimer, nodeTimerDelay(when, performance.now()));
    }
  }

  #finishAsync(failed: boolean, error: unknown): void {
    this.#native.stopWatch();
    if (this.#immediate !== null) clearImmediate(this.#immediate);
    if (this.#nodeTimer !== null) clearTimeout(this.#nodeTimer);
    this.#immediate = null;
    this.#nodeTimer = null;
    this.#nodeTimerWhen = Infinity;
    this.#asyncIdle = false;
    this.#stopping = false;
    this.#mode = IDLE;
    const done = this.#asyncDone;
    this.#asyncDone = null;
    done?.(failed, error);
  }

  // ---- checks --------------------------------------------------------------

  #checkOpen(): void {
    if (this.#closed) throw new Error('Event loop is closed');
  }

  #checkCanRun(): void {
    this.#checkOpen();
    if (this.#mode !== IDLE) throw new Error('This event loop is already running');
    if (runningLoop !== null) throw new Error('Cannot run the event loop while another loop is running');
  }

  #ensureTask<T>(main: Awaitable<T>): Task<T> {
    if (main instanceof Future) {
      if (main._loop !== this) throw new Error('the task belongs to another event loop');
      return main;
    }
    return this.createTask(main);
  }

}

/**
 * Runs `main` on a fresh loop until it is done, as `asyncio.run`: then
 * cancels the tasks still pending and waits for them, reports failures
 * nobody retrieved, and closes the loop. Returns main's result.
 */
export function run<T>(main: (() => Coro<T>) | Coro<T>, options?: EventLoopOptions): T {
  if (runningLoop !== null) throw new Error('run() cannot be called while an event loop is running on this thread');
  const loop = new EventLoop(options);
  try {
    return loop.runUntilComplete(typeof main === 'function' ? main() : main);
  } finally {
    try {
      cancelAllTasks(loop);
    } finally {
      loop.close();
    }
  }
}

function* waitAll(tasks: Task<unknown>[]): Coro<void> {
  for (const task of tasks) yield* untilDone(task);
}

function cancelAllTasks(loop: EventLoop): void {
  const tasks = [...loop._pendingTasks()];
  if (tasks.length === 0) return;
  for (const task of tasks) task.cancel();
  loop.runUntilComplete(waitAll(tasks));
  for (const task of tasks) {
    if (task.cancelled()) continue;
    const exception = task.exception();
    if (exception !== undefined) {
      loop.callExceptionHandler({ message: 'unhandled exception during run() shutdown', exception, task });
    }
  }
}
