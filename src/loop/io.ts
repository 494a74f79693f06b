// Which tasks wait on which sockets, and what the selector must watch for
// them. One registration per fd, shared by its reader and its writer
// (modify, not a second register). A waiter that leaves (woken or
// cancelled) does not unregister at once: the fd is only reviewed before
// the next select, so a task that reads, echoes and reads again keeps its
// registration and the steady state makes no epoll_ctl/kevent call at all.
//
// The same entry holds the user's fd callbacks (loop.addReader/addWriter).
// A direction has one owner: a task's socket operation or a callback, never
// both. asyncio keeps one reader slot per fd, so its add_reader silently
// takes a pending sock_recv's wake-up and the task hangs; we refuse instead.
import {
  addCloseWatcher, type CloseWatcher, removeCloseWatcher, type SelectorRegistry,
} from '../loop-interface.js';
import { EVENT_READ, EVENT_WRITE, type SelectorKey } from '../selector.js';
import type { Socket } from '../socket.js';
import type { Parking, Task } from './task.js';
import type { Handle, Runnable } from './timers.js';

/** One fd the loop watches: its interest, the (at most) two tasks waiting on it, and its callbacks. */
export class FdState implements Parking {
  /** Events registered with the selector now. */
  events = 0;
  reader: Task<unknown> | null = null;
  writer: Task<unknown> | null = null;
  /** addReader's callback, queued each iteration the fd is readable (level-triggered). */
  readCallback: Handle | null = null;
  writeCallback: Handle | null = null;
  /** Queued for review before the next select. */
  queued = false;
  /**
   * The last read was short, so the socket is most likely empty now: the
   * next read parks at once instead of making a system call just to hear
   * EAGAIN (libuv makes the same inference). Level-triggered readiness keeps
   * this safe: if data did arrive meanwhile, the next select reports it.
   * Syscalls cost ~2.5 us here, a third of an echo's server-side work.
   */
  drained = false;

  /** `sock`: the Socket that owns the fd, or null for a plain fd watched through callbacks. */
  constructor(readonly watcher: IoWatcher, public sock: Socket | null, readonly fd: number) {}

  /** The events someone waits for now. */
  wanted(): number {
    return (this.reader !== null || this.readCallback !== null ? EVENT_READ : 0) |
      (this.writer !== null || this.writeCallback !== null ? EVENT_WRITE : 0);
  }

  /** @internal */
  _unpark(task: Task<unknown>): void {
    this.watcher.abandon(this, task);
  }
}

/** The loop's table of fds with waiting tasks, kept in step with its selector. */
export class IoWatcher implements CloseWatcher {
  readonly #selector: SelectorRegistry<FdState>;
  readonly #enqueue: (item: Runnable) => void;
  // What each watched socket holds of us: weak, so a socket the user keeps
  // does not keep a dropped loop alive.
  readonly #ref = new WeakRef<CloseWatcher>(this);
  readonly #fds = new Map<number, FdState>();
  #review: FdState[] = [];
  #spare: FdState[] = [];
  /** Tasks parked on fds. */
  waiting = 0;
  /** fd callbacks installed (addReader/addWriter). */
  callbacks = 0;

  /** `enqueue` puts a ready fd's callback on the loop's ready queue. */
  constructor(selector: SelectorRegistry<FdState>, enqueue: (item: Runnable) => void) {
    this.#selector = selector;
    this.#enqueue = enqueue;
  }

  /** The entry for `fd`, made if need be; `sock` (when known) is the Socket that owns it. */
  #entry(fd: number, sock: Socket | null): FdState {
    let state = this.#fds.get(fd);
    if (state !== undefined && sock !== null && state.sock !== sock) {
      if (state.sock === null) {
        // A plain fd's callbacks came first; now a Socket with that fd shows up.
        state.sock = sock;
        addCloseWatcher(sock, this.#ref);
        return state;
      }
      // The fd number now belongs to another Socket object (the old one was
      // detached and its fd wrapped anew): the old entry is stale.
      this.#forget(state);
      state = undefined;
    }
    if (state === undefined) {
      state = new FdState(this, sock, fd);
      this.#fds.set(fd, state);
      if (sock !== null) addCloseWatcher(sock, this.#ref);
    }
    return state;
  }

  // Widens the fd's registration to include `event`, registering it now so
  // an fd the OS refuses fails in the caller.
  #watch(state: FdState, event: number): void {
    if ((state.events & event) !== 0) return;
    const events = state.events | event;
    try {
      if (state.events === 0) this.#selector.register(state.fd, events, state);
      else this.#selector.modify(state.fd, events, state);
    } catch (error) {
      // A failed modify leaves the fd unregistered (as in CPython).
      this.#forget(state, false);
      throw error;
    }
    state.events = events;
  }

  /**
   * Installs (or replaces) the callback run whenever `fd` is ready for
   * `event`. Throws if a task's socket operation waits on that direction.
   */
  addCallback(fd: number, sock: Socket | null, event: number, handle: Handle): void {
    const state = this.#entry(fd, sock);
    const task = event === EVENT_READ ? state.reader : state.writer;
    if (task !== null) throw fdInUse(fd, task.name, event);
    const old = event === EVENT_READ ? state.readCallback : state.writeCallback;
    if (old === null) {
      this.#watch(state, event);
      this.callbacks++;
    } else {
      old.cancel();
    }
    if (event === EVENT_READ) state.readCallback = handle;
    else state.writeCallback = handle;
  }

  /** Queues `fd`'s read callback as if select said readable; false if it has none. */
  queueReadCallback(fd: number): boolean {
    const handle = this.#fds.get(fd)?.readCallback ?? null;
    if (handle !== null) this.#enqueue(handle);
    return handle !== null;
  }

  /** Removes `fd`'s callback for `event`, narrowing its registration at once; false if there was none. */
  removeCallback(fd: number, event: number): boolean {
    const state = this.#fds.get(fd);
    const handle = state === undefined ? null : event === EVENT_READ ? state.readCallback : state.writeCallback;
    if (state === undefined || handle === null) return false;
    handle.cancel(); // it may be queued already this iteration
    if (event === EVENT_READ) state.readCallback = null;
    else state.writeCallback = null;
    this.callbacks--;
    // At once, not at the next review: a user who removes a plain fd and
    // closes it must not leave a registration for a number the kernel reuses.
    this.#narrow(state);
    return true;
  }

  /**
   * Parks `task` until `fd` (of `sock`) is ready for `event`, registering
   * the interest now so that an fd the OS refuses fails here, in the task.
   */
  park(sock: Socket, fd: number, event: number, task: Task<unknown>): FdState {
    const state = this.#entry(fd, sock);
    const busy = event === EVENT_READ ? state.reader : state.writer;
    if (busy !== null) {
      throw new Error(`fd ${fd} already has a task waiting to ${event === EVENT_READ ? 'read' : 'write'} ` +
        `(${busy.name}); two tasks ${event === EVENT_READ ? 'reading' : 'writing'} one socket at once would race`);
    }
    this.#checkNoCallbackOn(state, event); // state is the fd's entry: no second lookup
    this.#watch(state, event);
    if (event === EVENT_READ) state.reader = task;
    else state.writer = task;
    task._waitingOn = state;
    this.waiting++;
    return state;
  }

  /** Throws if `fd` has an fd callback for `event`: a socket operation must not wait beside it. */
  checkNoCallback(fd: number, event: number): void {
    const state = this.#fds.get(fd);
    if (state !== undefined) this.#checkNoCallbackOn(state, event);
  }

  #checkNoCallbackOn(state: FdState, event: number): void {
    if ((event === EVENT_READ ? state.readCallback : state.writeCallback) !== null) {
      throw new Error(`fd ${state.fd} has an fd callback for ${event === EVENT_READ ? 'reading (addReader)' : 'writing (addWriter)'}; ` +
        'remove it before a socket operation waits on the same direction');
    }
  }

  /** The entry for `sock`'s fd, if the loop watches it. */
  lookup(sock: Socket, fd: number): FdState | undefined {
    const state = this.#fds.get(fd);
    return state !== undefined && state.sock === sock ? state : undefined;
  }

  /** `task` stops waiting on `state` (it is being cancelled). */
  abandon(state: FdState, task: Task<unknown>): void {
    if (state.reader === task) {
      state.reader = null;
      this.waiting--;
    } else if (state.writer === task) {
      state.writer = null;
      this.waiting--;
    }
    this.#queueReview(state);
  }

  /** Wakes the tasks whose fds select reported ready. */
  dispatch(events: ReadonlyArray<[SelectorKey<FdState>, number]>): void {
    for (let i = 0; i < events.length; i++) {
      const event = events[i]!;
      const state = event[0].data;
      const mask = event[1];
      if ((mask & EVENT_READ) !== 0) {
        state.drained = false;
        const task = state.reader;
        if (task !== null) {
          state.reader = null;
          this.waiting--;
          task._wake(state);
        } else if (state.readCallback !== null) {
          this.#enqueue(state.readCallback);
        }
      }
      if ((mask & EVENT_WRITE) !== 0) {
        const task = state.writer;
        if (task !== null) {
          state.writer = null;
          this.waiting--;
          task._wake(state);
        } else if (state.writeCallback !== null) {
          this.#enqueue(state.writeCallback);
        }
      }
      this.#queueReview(state);
    }
  }

  /** True when some fd's interest may need narrowing before the next select. */
  get needsReview(): boolean {
    return this.#review.length > 0;
  }

  /**
   * Before select: drop the interest nobody waits for any more (a woken task
   * that went straight back to waiting has re-armed it, so nothing changes).
   */
  reviewRegistrations(): void {
    const list = this.#review;
    this.#review = this.#spare;
    for (let i = 0; i < list.length; i++) {
      const state = list[i]!;
      state.queued = false;
      if (this.#fds.get(state.fd) === state) this.#narrow(state);
    }
    list.length = 0;
    this.#spare = list;
  }

  // Drops the interest nobody waits for any more.
  #narrow(state: FdState): void {
    const want = state.wanted();
    if (want === state.events) return;
    if (want === 0) {
      this.#forget(state);
      return;
    }
    try {
      this.#selector.modify(state.fd, want, state);
      state.events = want;
    } catch {
      // The fd went bad behind our back; the selector dropped it. Wake the
      // waiter: its next system call reports the real error.
      this.#forget(state, false);
    }
  }

  /** Called just before `sock` is closed or detached: its waiters get an error, its callbacks go. */
  socketClosing(sock: Socket): void {
    const fd = sock.fileno();
    if (fd < 0) return;
    const state = this.#fds.get(fd);
    if (state !== undefined && state.sock === sock) this.#forget(state);
  }

  /** Forgets every fd (the loop is closing; waiting tasks stay pending, as in asyncio). */
  close(): void {
    for (const state of this.#fds.values()) {
      if (state.sock !== null) removeCloseWatcher(state.sock, this.#ref);
    }
    this.#fds.clear();
    this.#review.length = 0;
    this.waiting = 0;
    this.callbacks = 0;
  }

  #queueReview(state: FdState): void {
    if (state.queued) return;
    state.queued = true;
    this.#review.push(state);
  }

  // Drops the fd's registration and entry and wakes its waiters, who retry
  // their system call or find their socket closed.
  #forget(state: FdState, unregister = true): void {
    if (this.#fds.get(state.fd) === state) {
      this.#fds.delete(state.fd);
      if (state.sock !== null) removeCloseWatcher(state.sock, this.#ref);
    }
    if (unregister && state.events !== 0) {
      try {
        this.#selector.unregister(state.fd);
      } catch {
        // Not registered after all (a failed modify already removed it).
      }
    }
    state.events = 0;
    state.drained = false;
    for (const task of [state.reader, state.writer]) {
      if (task !== null) {
        this.waiting--;
        task._wake(state);
      }
    }
    state.reader = null;
    state.writer = null;
    for (const handle of [state.readCallback, state.writeCallback]) {
      if (handle !== null) {
        handle.cancel();
        this.callbacks--;
      }
    }
    state.readCallback = null;
    state.writeCallback = null;
  }
}

/** The error for an fd callback asked for where a task's socket operation waits in that direction. */
export function fdInUse(fd: number, taskName: string, event: number): Error {
  return new Error(`fd ${fd} is in use: a task (${taskName}) waits on it to ${event === EVENT_READ ? 'read' : 'write'} ` +
    'through a loop socket operation; an fd callback for the same direction would take its wake-ups');
}
