// Which loop is running on this thread now, as asyncio's get_running_loop:
// the one blocked in select, or the one whose runAsync iteration is
// executing. Set by the run drivers.
import type { LoopCore } from './task.js';

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
