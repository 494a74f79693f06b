// The loop core, asyncio's base_events: the ready queue, the timers, and one
// iteration, the seed chapter's pseudo-code made real:
//
//   while not stopping:
//     review fd interest          (drop what nobody waits for any more)
//     timeout = 0 if anything is ready, else until the next timer
//     events = selector.select(timeout)
//     wake the tasks whose fds are ready; queue signal callbacks;
//     move due timers to the ready queue
//     run everything that was ready when this iteration began
//
// The `while` is not here: a run driver repeats the iteration, blocking the
// thread (run-blocking.ts) or as callbacks of Node's loop (run-async.ts).
// EventLoop (event-loop.ts) adds the socket operations, signal handlers and
// the exception handler on top.
import { claimSelector, drainMicrotasks, type SelectorHooks, selectorHooks } from '../loop-interface.js';
import { Selector } from '../selector.js';
import { checkFunction, describe } from '../validate.js';
import { type Coro, Future, type UnretrievedReport } from './futures.js';
import { type FdState, IoWatcher } from './io.js';
import { ASYNC, BLOCKING, IDLE, type IdleDriver, runningLoop } from './running.js';
import { SignalHandlers, type SignalWatches } from './signals.js';
import { type Awaitable, isCoro, type LoopCore, SleepHandle, Task } from './task.js';
import { Handle, type Runnable, TimerHandle, TimerHeap } from './timers.js';
import { chooseIo, type IoMode, openLoopRing, Uring } from './uring.js';

/** What the exception handler is told. */
export interface ExceptionContext {
  /** What happened, e.g. "Task exception was never retrieved". */
  message: string;
  /** The error, when there is one. */
  exception?: unknown;
  /** The task concerned, when it is still around. */
  task?: Task<unknown>;
  /** The task's name, also when the task itself was garbage-collected. */
  taskName?: string;
  /** The callback that threw, for "Exception in callback". */
  handle?: Handle;
}

/** Options for `new EventLoop()`. */
export interface EventLoopOptions {
  /**
   * The selector to wait with; a new default Selector if omitted. It must
   * have nothing registered; the loop owns it from then on (registering on
   * it directly throws) and closes it.
   */
  selector?: Selector;
  /** 'io_uring': socket operations as io_uring requests (Linux; see ioUringAvailable()). Default 'selector'. */
  io?: IoMode;
}

// A loop dropped without close(): its selector's fds (epoll/kqueue fd and
// wake-up pipe) are closed and its signal watches released, with a warning,
// as asyncio's "unclosed event loop" ResourceWarning. The held value must
// not reach the loop, or it would never be collected.
const unclosedLoops = new FinalizationRegistry<{ hooks: SelectorHooks; watches: SignalWatches }>((held) => {
  held.watches.releaseAll();
  held.hooks.close();
  process.emitWarning('unclosed event loop was garbage-collected; call loop.close()', {
    type: 'ResourceWarning', code: 'NS_UNCLOSED_LOOP',
  });
});

// Can drainMicrotasks run promise reactions here? Not when the loop was
// started from inside a promise job (ESM top-level code, code after an
// await): V8 does not run microtasks re-entrantly.
function microtasksDrainable(): boolean {
  let ran = false;
  void Promise.resolve().then(() => {
    ran = true;
  });
  drainMicrotasks();
  return ran;
}

/** The loop core: scheduling, timers, the iteration, and the state the run drivers share. */
export abstract class BaseEventLoop implements LoopCore {
  // Private, with internal getters below: util.inspect(loop) shows no state.
  readonly #selector: Selector<FdState>;
  #hooks: SelectorHooks;
  readonly #io: IoWatcher;
  readonly #signals: SignalHandlers;
  readonly #uring: Uring | null = null;
  readonly #timers = new TimerHeap();
  // Items queued while an iteration runs go to the other array: they run in
  // the next iteration, after select, as in asyncio.
  #ready: Runnable[] = [];
  #spare: Runnable[] = [];
  readonly #tasks = new Set<Task<unknown>>();
  readonly #unretrieved = new Set<UnretrievedReport>();
  #mode = IDLE;
  #stopping = false;
  // Set while runAsync's driver waits idle in Node's loop.
  #idleDriver: IdleDriver | null = null;
  #closed = false;
  #promiseWaiters = 0;
  #drainable: boolean | undefined = undefined;
  readonly #enqueueItem = (item: Runnable): void => this._enqueue(item);

  constructor(options?: EventLoopOptions) {
    if (options !== undefined && (typeof options !== 'object' || options === null)) {
      throw new TypeError(`options must be an object, got ${describe(options)}`);
    }
    if (options?.selector !== undefined && !(options.selector instanceof Selector)) {
      throw new TypeError(`options.selector must be a Selector, got ${describe(options.selector)}`);
    }
    const io = chooseIo(options?.io, options?.selector);
    // First: if the kernel refuses a ring, nothing else is made yet.
    const ring = io === 'io_uring' ? openLoopRing() : null;
    const selector = options?.selector ?? new Selector();
    this.#selector = selector as Selector<FdState>;
    this.#hooks = selectorHooks(selector);
    this.#io = new IoWatcher(claimSelector(this.#selector), this.#enqueueItem);
    if (ring !== null) {
      this.#uring = new Uring(ring, this.#selector, this.#io);
      this.#hooks = this.#uring.hooks(this.#hooks);
    }
    this.#signals = new SignalHandlers(this.#hooks);
    unclosedLoops.register(this, { hooks: this.#hooks, watches: this.#signals.watches }, this);
  }

  /** How socket operations are done: 'selector' (readiness) or 'io_uring' (completions). */
  get io(): IoMode { return this.#uring === null ? 'selector' : 'io_uring'; }
  /** @internal The ring in io_uring mode, else null. */ get _uring(): Uring | null { return this.#uring; }

  /** @internal */ get _selector(): Selector<FdState> { return this.#selector; }
  /** @internal The selector's hooks for runAsync's wake-ups. */ get _hooks(): SelectorHooks { return this.#hooks; }
  /** @internal The fds tasks wait on. */ get _io(): IoWatcher { return this.#io; }
  /** @internal */ get _signals(): SignalHandlers { return this.#signals; }

  /** Passes `context` to the exception handler. Never throws. */
  abstract callExceptionHandler(context: ExceptionContext): void;

  /** Stops `runForever` (or a `runAsync`) after the current iteration. */
  stop(): void {
    this.#stopping = true;
    if (this.#idleDriver !== null) this.#idleDriver.wake();
  }

  /** True while running (blocking, or in runAsync). */
  isRunning(): boolean {
    return this.#mode !== IDLE;
  }

  /** True once `close()` has been called. */
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
    this.#uring?.close();
    this.#ready.length = 0;
    this.#timers.clear();
    for (const report of [...this.#unretrieved]) this._reportUnretrieved(report);
    this.#selector.close();
  }

  /** Calls `close()`, so that `using` closes it at the end of the block. */
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
    this._checkOpen();
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
    this._checkOpen();
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
    this._checkOpen();
    const handle = new TimerHandle(this, when, cb);
    this.#timers.push(handle);
    if (this.#idleDriver !== null) this.#idleDriver.wake();
    return handle;
  }

  // ---- what tasks, futures, handles and combinators report -----------------

  /** @internal */
  _enqueue(item: Runnable): void {
    this.#ready.push(item);
    if (this.#idleDriver !== null) this.#idleDriver.wake();
  }

  /** @internal */
  _scheduleDoneCallback(callback: (future: never) => void, future: unknown): void {
    this._enqueue(new Handle(this, callback, future));
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

  // ---- for the run drivers -------------------------------------------------

  /** @internal A driver starts running the loop (BLOCKING or ASYNC). */
  _startRunning(mode: number): void {
    this.#mode = mode;
    this.#drainable = undefined;
  }

  /** @internal The driver has stopped. */
  _stopRunning(): void {
    this.#stopping = false;
    this.#mode = IDLE;
  }

  /** @internal stop() was called: the driver ends after this iteration. */
  _stopRequested(): boolean {
    return this.#stopping;
  }

  /** @internal The driver waits idle in Node's loop (null: it does not), to be woken by new work. */
  _setIdleDriver(driver: IdleDriver | null): void {
    this.#idleDriver = driver;
  }

  /** @internal True when something is queued to run (or, in io_uring mode, to submit or hand to a reader). */
  _hasReadyWork(): boolean {
    return this.#ready.length > 0 || (this.#uring !== null && (this.#uring.queued > 0 || this.#uring.handOverPending));
  }

  /** @internal The earliest timer's deadline, or Infinity. */
  _nextDeadline(): number {
    const next = this.#timers.peek();
    return next === undefined ? Infinity : next._when;
  }

  /** @internal */
  _checkOpen(): void {
    if (this.#closed) throw new Error('Event loop is closed');
  }

  /** @internal */
  _checkCanRun(): void {
    this._checkOpen();
    if (this.#mode !== IDLE) throw new Error('This event loop is already running');
    if (runningLoop() !== null) throw new Error('Cannot run the event loop while another loop is running');
  }

  /** @internal The task to run to completion: `main` itself, or a new task for a coroutine. */
  _ensureTask<T>(main: Awaitable<T>): Task<T> {
    if (main instanceof Future) {
      if (main._loop !== this) throw new Error('the task belongs to another event loop');
      return main;
    }
    return this.createTask(main);
  }

  // ---- the iteration -------------------------------------------------------

  /** @internal One iteration; `mayBlock`: wait in select when nothing is ready (the blocking driver). */
  _runOnce(mayBlock: boolean): void {
    const io = this.#io;
    if (io.needsReview) io.reviewRegistrations();
    // Promise reactions cannot run while this thread sits in our loop: run
    // them here, so tasks waiting on promises settled by JS code wake up.
    if (this.#promiseWaiters > 0 && this.#mode === BLOCKING) drainMicrotasks();
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

    if (this.#uring !== null) {
      this.#uring.wait(timeout);
    } else {
      const events = this.#selector.select(timeout);
      if (events.length > 0) io.dispatch(events);
    }
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
    if (this.#io.waiting > 0 || this.#io.callbacks > 0 || this.#signals.size > 0 || (this.#uring?.waiting ?? 0) > 0) return;
    if (this.#promiseWaiters > 0) {
      throw new Error(`the event loop would wait forever: ${this.#promiseWaiters} task(s) wait on Promises, ` +
        'and nothing else can wake the loop. A Promise that waits on Node\'s own timers, fs or net cannot ' +
        'settle while runUntilComplete()/run() blocks the thread: use loop.runAsync() for those.');
    }
    throw new Error('the event loop would wait forever: no task is ready, no timer will fire, no task ' +
      'waits on a socket, no fd callback or signal handler is installed (do the pending tasks wait on each other?)');
  }
}
