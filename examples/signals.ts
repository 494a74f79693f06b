// Chapter 3, "Listening for signals": a signal handler on the event loop.
// The main task sleeps for 10 seconds; Ctrl-C (SIGINT) runs `cancelTasks`,
// which cancels every task, so the sleep ends early with a CancelledError
// that main catches.
//
//   node --import tsx examples/signals.ts [--duration SECONDS]   (default 10)
//   then press Ctrl-C, or from another terminal: kill -INT <pid>
//
//   sleeping for 10 second(s)
//   ^CGot a SIGNAL!
//   Cancelling 1 task(s).
//   Main task cancelled.
//
// loop.addSignalHandler() is not process.on('SIGINT'): the callback runs on
// the event loop, as an ordinary callback between tasks, even while the loop
// sleeps in select() (process.on listeners would wait for Node's own loop,
// which this thread does not return to until the coroutine loop is done).
// So the handler may use the loop: here allTasks() and Task.cancel().
//
// As in the chapter's Python 3.12 listing, we make the loop ourselves, add
// the handler, and run main with runUntilComplete(), then close the loop
// (which removes the handler: Ctrl-C then ends the process as usual).
import { allTasks, CancelledError, type Coro, EventLoop, sleep } from '../src/index.js';
import { exampleOptions, onSignal } from './support/cli.js';

const { duration } = exampleOptions({ duration: 10 });

// The chapter's `cancel_tasks`.
function cancelTasks(): void {
  console.log('Got a SIGNAL!');
  const tasks = allTasks();
  console.log(`Cancelling ${tasks.size} task(s).`);
  for (const task of tasks) task.cancel();
}

// The book's `util.delay_functions.delay`.
function* delay(seconds: number): Coro<number> {
  console.log(`sleeping for ${seconds} second(s)`);
  yield* sleep(seconds * 1000);
  console.log(`finished sleeping for ${seconds} second(s)`);
  return seconds;
}

function* main(): Coro<void> {
  try {
    yield* delay(duration);
  } catch (error) {
    if (!(error instanceof CancelledError)) throw error;
    console.log('Main task cancelled.');
  }
}

const loop = new EventLoop();
try {
  loop.addSignalHandler('SIGINT', onSignal('SIGINT', cancelTasks));
  loop.runUntilComplete(main());
} finally {
  loop.close();
}
