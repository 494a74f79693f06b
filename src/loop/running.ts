// Which loop is running on this thread now, as asyncio's get_running_loop:
// the one blocked in select, or the one whose runAsync iteration is
// executing; and how a loop runs. Set by the run drivers.
import type { LoopCore } from './task.js';

/** How a loop is running: set by the run drivers. */
export const IDLE = 0;
export const BLOCKING = 1;
export const ASYNC = 2;

/** A run driver waiting in Node's loop with nothing to do: new work must wake it. */
export interface IdleDriver {
  wake(): void;
}

let running: LoopCore | null = null;

/** The running loop, or null. */
export function runningLoop(): LoopCore | null {
  return running;
}

/** Makes `loop` the running loop (null: none); returns the one it replaces. */
export function swapRunningLoop(loop: LoopCore | null): LoopCore | null {
  const previous = running;
  running = loop;
  return previous;
}

/** The running loop; throws when no loop is running. */
export function requireRunningLoop(): LoopCore {
  if (running === null) throw new Error('no running event loop');
  return running;
}
