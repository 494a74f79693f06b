// The runAsync driver: the loop's iterations run as callbacks of Node's own
// event loop, so Node's timers, fs and net keep working alongside. libuv
// watches the selector's fd (uv_poll), a Node timer covers the next
// deadline and setImmediate runs ready work; select itself never waits.
import { errorFromErrno } from '../errors.js';
import type { BaseEventLoop } from './core.js';
import { ASYNC, type IdleDriver, swapRunningLoop } from './running.js';
import { nodeTimerDelay } from './timers.js';
import type { Awaitable, Task } from './task.js';

/**
 * loop.runAsync(): runs the loop inside Node's event loop, without blocking
 * it, until `main` is done. Needs a selector with a pollable fd.
 */
export function runAsync<T>(loop: BaseEventLoop, main: Awaitable<T>): Promise<T> {
  let task: Task<T>;
  try {
    loop._checkCanRun();
    if (loop._selector.fileno() < 0) {
      throw new Error(`runAsync() needs a selector whose readiness Node's loop can watch (epoll or kqueue); ` +
        `the ${loop._selector.backend} backend has no such fd. Use runUntilComplete(), or a Selector ` +
        `with another backend.`);
    }
    task = loop._ensureTask(main);
  } catch (error) {
    return Promise.reject(error);
  }
  return new Promise<T>((resolve, reject) => {
    const stopLoop = (): void => loop.stop();
    const driver = new AsyncDriver(loop, (failed, error) => {
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
    });
    const rc = driver.start();
    if (rc < 0) {
      reject(errorFromErrno(-rc, 'uv_poll_start'));
      return;
    }
    task.addDoneCallback(stopLoop);
  });
}

/** One runAsync run: the pending setImmediate and Node timer, and how it ends. */
class AsyncDriver implements IdleDriver {
  readonly #loop: BaseEventLoop;
  #active = false;
  #immediate: NodeJS.Immediate | null = null;
  #nodeTimer: NodeJS.Timeout | null = null;
  #nodeTimerWhen = Infinity;
  #done: ((failed: boolean, error: unknown) => void) | null;

  constructor(loop: BaseEventLoop, done: (failed: boolean, error: unknown) => void) {
    this.#loop = loop;
    this.#done = done;
  }

  /** Starts watching the selector's fd and schedules the first iteration; 0, or -errno. */
  start(): number {
    const rc = this.#loop._hooks.startWatch(this.#onReadable);
    if (rc < 0) return rc;
    this.#active = true;
    this.#loop._startRunning(ASYNC);
    this.wake();
    return 0;
  }

  /** Schedules an iteration (work arrived while Node's loop waited). */
  wake(): void {
    this.#loop._setIdleDriver(null);
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
    if (!this.#active) return;
    const loop = this.#loop;
    loop._setIdleDriver(null);
    const previous = swapRunningLoop(loop);
    try {
      loop._runOnce(false);
    } catch (error) {
      swapRunningLoop(previous);
      this.#finish(true, error);
      return;
    }
    swapRunningLoop(previous);
    if (loop._stopRequested()) {
      this.#finish(false, undefined);
    } else if (loop._hasReadyWork()) {
      this.wake();
    } else {
      this.#armNodeTimer();
      loop._setIdleDriver(this);
    }
  };

  #armNodeTimer(): void {
    const when = this.#loop._nextDeadline();
    if (when === this.#nodeTimerWhen) return;
    if (this.#nodeTimer !== null) clearTimeout(this.#nodeTimer);
    this.#nodeTimer = null;
    this.#nodeTimerWhen = when;
    if (when !== Infinity) {
      this.#nodeTimer = setTimeout(this.#onNodeTimer, nodeTimerDelay(when, performance.now()));
    }
  }

  #finish(failed: boolean, error: unknown): void {
    const loop = this.#loop;
    loop._hooks.stopWatch();
    if (this.#immediate !== null) clearImmediate(this.#immediate);
    if (this.#nodeTimer !== null) clearTimeout(this.#nodeTimer);
    this.#immediate = null;
    this.#nodeTimer = null;
    this.#nodeTimerWhen = Infinity;
    this.#active = false;
    loop._setIdleDriver(null);
    loop._stopRunning();
    const done = this.#done;
    this.#done = null;
    done?.(failed, error);
  }
}
