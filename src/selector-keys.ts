// What Selector checks and keeps, beside the class itself: its argument
// checks (events, trigger mode, file object -> fd, as CPython's) and the
// read-only view of its fd -> key table.
import type { PollMode } from './selector.js';
import { checkFd, describe } from './validate.js';

// selector.ts's EVENT_READ and EVENT_WRITE (not imported: selector.ts imports this file).
const EVENT_READ = 1;
const EVENT_WRITE = 2;

// The native mode bits (kModeEdge, kModeOneshot in native/backend.h).
export const EDGE = 1;
export const ONESHOT = 2;
export const modeBits: Record<PollMode, number> = { level: 0, edge: EDGE, oneshot: ONESHOT, 'edge-oneshot': EDGE | ONESHOT };

/** The mode in `options`, checked; undefined if none is given. */
export function checkMode(options: unknown): PollMode | undefined {
  if (options === undefined) return undefined;
  if (typeof options !== 'object' || options === null) {
    throw new TypeError(`options must be an object, got ${describe(options)}`);
  }
  const mode = (options as { mode?: unknown }).mode;
  if (mode === undefined) return undefined;
  if (typeof mode !== 'string' || !Object.hasOwn(modeBits, mode)) {
    throw new RangeError(`options.mode must be 'level', 'edge', 'oneshot' or 'edge-oneshot', got ${describe(mode)}`);
  }
  return mode as PollMode;
}

export function checkEvents(events: unknown): number {
  if (typeof events !== 'number') {
    throw new TypeError(`events must be EVENT_READ, EVENT_WRITE or both, got ${describe(events)}`);
  }
  // Compared, not only masked: `&` truncates to 32 bits, so 2 ** 32 + 1 would pass a mask test.
  if (!Number.isInteger(events) || events <= 0 || events > (EVENT_READ | EVENT_WRITE)) {
    throw new RangeError(`Invalid events: ${describe(events)} (must be a non-zero mix of EVENT_READ and EVENT_WRITE)`);
  }
  return events;
}

/** The fd of a file object, checked as CPython's `_fileobj_to_fd` does. */
export function fileobjToFd(fileobj: unknown, name = 'fileobj'): number {
  let fd: unknown = fileobj;
  if (typeof fileobj === 'object' && fileobj !== null && typeof (fileobj as { fileno?: unknown }).fileno === 'function') {
    fd = (fileobj as { fileno(): unknown }).fileno();
    if (typeof fd !== 'number') {
      throw new TypeError(`${name}.fileno() must return an integer fd, got ${describe(fd)}`);
    }
  } else if (typeof fileobj !== 'number') {
    throw new TypeError(`${name} must be an fd or an object with a fileno() method, got ${describe(fileobj)}`);
  }
  if (!Number.isInteger(fd) || (fd as number) < 0) {
    throw new RangeError(`Invalid file descriptor: ${describe(fd)} (from ${name})`);
  }
  return checkFd(fd, name);
}

/** A read-only, live view of a selector's fd -> key table. */
export class SelectorMapping<K> implements ReadonlyMap<number, K> {
  readonly #keys: Map<number, K>;
  constructor(keys: Map<number, K>) {
    this.#keys = keys;
  }
  get size(): number { return this.#keys.size; }
  get(fd: number): K | undefined { return this.#keys.get(fd); }
  has(fd: number): boolean { return this.#keys.has(fd); }
  forEach(cb: (key: K, fd: number, map: ReadonlyMap<number, K>) => void, thisArg?: unknown): void {
    this.#keys.forEach((key, fd) => cb.call(thisArg, key, fd, this));
  }
  keys(): MapIterator<number> { return this.#keys.keys(); }
  values(): MapIterator<K> { return this.#keys.values(); }
  entries(): MapIterator<[number, K]> { return this.#keys.entries(); }
  [Symbol.iterator](): MapIterator<[number, K]> { return this.#keys.entries(); }
}
