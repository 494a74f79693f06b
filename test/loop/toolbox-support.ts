// Runs a toolbox test's main coroutine in each of the loop's run modes.
import { type Coro, EventLoop, type Task } from '../../src/index.js';

export const MODES = ['blocking', 'runAsync'] as const;
export type Mode = (typeof MODES)[number];

/** Runs `main` on a fresh loop in `mode`, cancels leftover tasks, closes the loop. */
export async function runIn<T>(mode: Mode, main: () => Coro<T>): Promise<T> {
  const loop = new EventLoop();
  try {
    const task = loop.createTask(main());
    try {
      if (mode === 'blocking') loop.runUntilComplete(task);
      else await loop.runAsync(task);
    } finally {
      const left = [...loop._pendingTasks()];
      if (left.length > 0) {
        for (const t of left) t.cancel();
        const sweep = loop.createTask(waitAll(left));
        if (mode === 'blocking') loop.runUntilComplete(sweep);
        else await loop.runAsync(sweep);
      }
    }
    return task.result();
  } finally {
    loop.close();
  }
}

function* waitAll(tasks: Task<unknown>[]): Coro<void> {
  for (const task of tasks) {
    while (!task.done()) {
      try {
        yield* task;
      } catch {
        // Its outcome was the test's business, not the sweep's.
      }
    }
  }
}

/** Lets every ready task run `n` times (bare yields: no time passes). */
export function* ticks(n = 5): Coro<void> {
  for (let i = 0; i < n; i++) yield;
}
