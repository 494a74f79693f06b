// run(), as asyncio.run: a fresh loop for one main coroutine, and the
// clean-up after it.
import type { EventLoopOptions } from './core.js';
import { EventLoop } from './event-loop.js';
import { runningLoop } from './running.js';
import { type Coro, untilDone } from './futures.js';
import type { Task } from './task.js';

/**
 * Runs `main` on a fresh loop until it is done, as `asyncio.run`: then
 * cancels the tasks still pending and waits for them, reports failures
 * nobody retrieved, and closes the loop. Returns main's result.
 */
export function run<T>(main: (() => Coro<T>) | Coro<T>, options?: EventLoopOptions): T {
  if (runningLoop() !== null) throw new Error('run() cannot be called while an event loop is running on this thread');
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
