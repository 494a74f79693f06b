// The blocking run driver: the thread waits in select itself. The fastest
// way to run: nothing stands between the kernel and the tasks.
import type { BaseEventLoop } from './core.js';
import { BLOCKING, swapRunningLoop } from './running.js';
import type { Awaitable } from './task.js';

/** loop.runForever(): iterations, blocking the thread, until `stop()` is called. */
export function runForever(loop: BaseEventLoop): void {
  loop._checkCanRun();
  const previous = swapRunningLoop(loop);
  loop._startRunning(BLOCKING);
  try {
    do loop._runOnce(true);
    while (!loop._stopRequested());
  } finally {
    loop._stopRunning();
    swapRunningLoop(previous);
  }
}

/** loop.runUntilComplete(): runs, blocking the thread, until `main` is done; its result or exception. */
export function runUntilComplete<T>(loop: BaseEventLoop, main: Awaitable<T>): T {
  loop._checkCanRun();
  const task = loop._ensureTask(main);
  const stopLoop = (): void => loop.stop();
  task.addDoneCallback(stopLoop);
  try {
    runForever(loop);
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
