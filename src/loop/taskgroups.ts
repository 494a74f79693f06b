// Structured concurrency, as asyncio.TaskGroup (Python 3.13): the children
// a body starts never outlive it. When a child fails the group cancels the
// other children and the body (through the parent task, with a cancel it
// takes back afterwards), waits for every child, and throws the failures
// together as an AggregateError.
import { describe } from '../validate.js';
import { type EventLoop, getRunningLoop } from './event-loop.js';
import { CancelledError, type Coro, Future } from './futures.js';
import { currentTask, isCoro, type Task } from './task.js';

const NONE: unique symbol = Symbol('none');

/** The handle a `taskGroup` body gets to start children with. */
export class TaskGroup {
  readonly #loop: EventLoop;
  readonly #parent: Task<unknown>;
  readonly #tasks = new Set<Task<unknown>>();
  readonly #errors: unknown[] = [];
  #exiting = false;
  #aborting = false;
  #parentCancelRequested = false;
  #onCompleted: Future<boolean> | null = null;
  readonly #onTaskDone = (task: Task<unknown>): void => this.#taskDone(task);

  /** @internal Made by `taskGroup()`. */
  constructor(loop: EventLoop, parent: Task<unknown>) {
    this.#loop = loop;
    this.#parent = parent;
  }

  /**
   * Starts `coro` as a child task of the group. Throws once the group has
   * finished or is shutting down after a failure.
   */
  createTask<T>(coro: Coro<T>, options?: { name?: string }): Task<T> {
    if (!isCoro(coro)) throw new TypeError(`createTask() needs a coroutine (a generator object), got ${describe(coro)}`);
    if (this.#exiting && this.#tasks.size === 0) {
      coro.return(undefined as T);
      throw new Error('this TaskGroup is finished');
    }
    if (this.#aborting) {
      coro.return(undefined as T);
      throw new Error('this TaskGroup is shutting down');
    }
    const task = this.#loop.createTask(coro, options);
    this.#tasks.add(task as Task<unknown>);
    task.addDoneCallback(this.#onTaskDone);
    return task;
  }

  #abort(): void {
    this.#aborting = true;
    for (const task of this.#tasks) if (!task.done()) task.cancel();
  }

  #taskDone(task: Task<unknown>): void {
    this.#tasks.delete(task);
    if (this.#onCompleted !== null && this.#tasks.size === 0 && !this.#onCompleted.done()) {
      this.#onCompleted._setResult(true);
    }
    if (task.cancelled()) return;
    const error = task.exception();
    if (error === undefined) return;
    this.#errors.push(error);
    if (this.#parent.done()) {
      this.#loop.callExceptionHandler({
        message: 'Task was destroyed but its TaskGroup\'s parent had already finished', exception: error, task,
      });
      return;
    }
    if (!this.#aborting && !this.#parentCancelRequested) {
      // Interrupt whatever the body is waiting on; _exit takes this
      // cancellation back so the parent is not left cancelled.
      this.#abort();
      this.#parentCancelRequested = true;
      this.#parent.cancel();
    }
  }

  /** @internal The end of the body: wait for the children, then decide what to throw. */
  *_exit(bodyError: unknown): Coro<void> {
    this.#exiting = true;
    let propagateCancel: unknown = bodyError instanceof CancelledError ? bodyError : null;
    if (bodyError !== NONE && !this.#aborting) this.#abort();
    while (this.#tasks.size > 0) {
      this.#onCompleted ??= new Future<boolean>(this.#loop);
      try {
        yield* this.#onCompleted;
      } catch (error) {
        if (!(error instanceof CancelledError)) throw error;
        // The parent was cancelled from outside while children still run:
        // cancel them, keep waiting, and end cancelled.
        if (!this.#aborting) {
          propagateCancel = error;
          this.#abort();
        }
      }
      this.#onCompleted = null;
    }
    if (this.#parentCancelRequested && this.#parent.uncancel() === 0) propagateCancel = null;
    // Failures take priority over a cancellation.
    if (propagateCancel !== null && this.#errors.length === 0) throw propagateCancel;
    if (bodyError !== NONE && !(bodyError instanceof CancelledError)) this.#errors.push(bodyError);
    if (this.#errors.length > 0) {
      // Cancelled from outside as well: keep the parent's cancel count stable.
      if (this.#parent.cancelling() > 0) {
        this.#parent.uncancel();
        this.#parent.cancel();
      }
      throw new AggregateError(this.#errors, 'unhandled errors in a TaskGroup');
    }
  }
}

/**
 * Runs `body` with a TaskGroup and returns its result once it and every
 * child started with `tg.createTask()` have finished (asyncio's
 * `async with TaskGroup() as tg:`). If a child or the body fails, the
 * others (and the body) are cancelled, all are awaited, and an
 * AggregateError of the failures is thrown. A cancelled parent cancels the
 * children and stays cancelled.
 *
 *   const [a, b] = yield* taskGroup(function* (tg) {
 *     const a = tg.createTask(fetch('a'));
 *     const b = tg.createTask(fetch('b'));
 *     return [a, b];
 *   });
 */
export function* taskGroup<T>(body: (tg: TaskGroup) => Coro<T>): Coro<T> {
  if (typeof body !== 'function') throw new TypeError(`body must be a generator function, got ${describe(body)}`);
  const parent = currentTask();
  if (parent === null) throw new Error('taskGroup() must run inside a task (yield* it from a coroutine the loop runs)');
  const tg = new TaskGroup(getRunningLoop(), parent);
  let result: T | undefined;
  let bodyError: unknown = NONE;
  try {
    result = yield* body(tg);
  } catch (error) {
    bodyError = error;
  }
  yield* tg._exit(bodyError);
  return result as T;
}
