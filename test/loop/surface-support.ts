// The runs the fd-callback, UDP, sendfile and wake-up tests repeat on: each
// backend in the blocking driver, and runAsync on every backend with a
// pollable fd (not poll, nor kqueue emulated by libkqueue).
import {
  availableBackends, type BackendName, type Coro, EventLoop, Selector, type Task,
} from '../../src/index.js';

function hasPollableFd(backend: BackendName): boolean {
  const selector = new Selector({ backend });
  try {
    return selector.fileno() >= 0;
  } finally {
    selector.close();
  }
}

export interface LoopRun {
  backend: BackendName;
  mode: 'blocking' | 'runAsync';
}

export const RUNS: LoopRun[] = [
  ...availableBackends.map((backend): LoopRun => ({ backend, mode: 'blocking' })),
  ...availableBackends.filter(hasPollableFd).map((backend): LoopRun => ({ backend, mode: 'runAsync' })),
];

/** For describe.each: `[name, run]` pairs. */
export const RUN_TABLE: Array<[string, LoopRun]> = RUNS.map((r) => [`${r.backend}, ${r.mode}`, r]);

/** Runs `main(loop)` on a fresh loop as `run` says, cancels leftover tasks, closes the loop. */
export async function runOn<T>(run: LoopRun, main: (loop: EventLoop) => Coro<T>,
  setup?: (loop: EventLoop) => void): Promise<T> {
  const loop = new EventLoop({ selector: new Selector({ backend: run.backend }) });
  const drive = async (task: Task<unknown>): Promise<void> => {
    if (run.mode === 'blocking') loop.runUntilComplete(task);
    else await loop.runAsync(task);
  };
  try {
    setup?.(loop);
    const task = loop.createTask(main(loop));
    try {
      await drive(task);
    } finally {
      const left = [...loop._pendingTasks()];
      for (const t of left) t.cancel();
      if (left.length > 0) {
        await drive(loop.createTask((function* sweep(): Coro<void> {
          for (const t of left) {
            try {
              yield* t;
            } catch {
              // cancelled
            }
          }
        })()));
      }
    }
    return task.result();
  } finally {
    loop.close();
  }
}
