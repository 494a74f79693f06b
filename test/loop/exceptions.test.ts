// Failures nobody retrieved: reported through the exception handler once,
// when they can no longer be retrieved (garbage collection or loop close).
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

import { afterEach, describe, expect, it, vi } from 'vitest';

import { type Coro, EventLoop, type ExceptionContext, getRunningLoop, run, sleep } from '../../src/index.js';
import { captureExceptions } from './support.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

function* failing(message: string): Coro<never> {
  yield* sleep(1);
  throw new Error(message);
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe('unretrieved task exceptions', () => {
  it('reports a failure nobody retrieved when the loop closes, to stderr by default, with the stack', () => {
    const written: string[] = [];
    vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
      written.push(String(chunk));
      return true;
    });
    const loop = new EventLoop();
    const task = loop.createTask(failing('nobody looked'), { name: 'echo' });
    loop.runUntilComplete(sleep(10));
    expect(task.done()).toBe(true);
    loop.close();
    const text = written.join('');
    expect(text).toContain('Task exception was never retrieved');
    expect(text).toContain("name='echo'");
    expect(text).toContain('Error: nobody looked');
    expect(text).toMatch(/\n\s+at /); // the stack
  });

  it('reports each failure exactly once', () => {
    const loop = new EventLoop();
    const seen = captureExceptions(loop);
    loop.createTask(failing('once'));
    loop.runUntilComplete(sleep(10));
    loop.close();
    loop.close();
    expect(seen.map((c) => [c.message, (c.exception as Error).message])).toEqual([
      ['Task exception was never retrieved', 'once'],
    ]);
  });

  it('says nothing about a failure that was retrieved by yield*, result() or exception()', () => {
    const loop = new EventLoop();
    const seen = captureExceptions(loop);
    const a = loop.createTask(failing('a'));
    const b = loop.createTask(failing('b'));
    const c = loop.createTask(failing('c'));
    loop.runUntilComplete((function* () {
      try {
        yield* a;
      } catch {
        // retrieved
      }
    })());
    loop.runUntilComplete(sleep(5));
    expect(() => b.result()).toThrow('b');
    expect(c.exception()).toBeInstanceOf(Error);
    loop.close();
    expect(seen).toEqual([]);
  });

  it('says nothing about a cancelled task', () => {
    const loop = new EventLoop();
    const seen = captureExceptions(loop);
    const task = loop.createTask(sleep(1_000));
    loop.callSoon(() => task.cancel());
    loop.runUntilComplete(sleep(5));
    loop.close();
    expect(seen).toEqual([]);
  });

  it('reports a failed task as soon as it is garbage-collected', async () => {
    const loop = new EventLoop();
    const seen = captureExceptions(loop);
    try {
      // Created in a function so that no reference to the task survives.
      (() => {
        loop.createTask(failing('collected'));
      })();
      loop.runUntilComplete(sleep(5));
      // FinalizationRegistry callbacks run as their own macrotasks after a GC.
      for (let i = 0; i < 50 && seen.length === 0; i++) {
        gc();
        await new Promise((resolve) => setImmediate(resolve));
      }
      expect(seen.map((c) => (c.exception as Error).message)).toEqual(['collected']);
      expect(seen[0]!.taskName).toMatch(/^Task-\d+$/);
    } finally {
      loop.close();
    }
    expect(seen).toHaveLength(1); // not again at close
  });

  it('reports failures left behind by run() at shutdown', () => {
    const seen: ExceptionContext[] = [];
    run(function* () {
      const loop = getRunningLoop();
      loop.setExceptionHandler((_loop, context) => seen.push(context));
      const task = loop.createTask(failing('left behind'));
      // Wait for the failure itself (not a fixed time: a loaded machine can
      // let main's timer fall due first), without retrieving it.
      while (!task.done()) yield* sleep(0);
    });
    expect(seen.map((c) => (c.exception as Error).message)).toEqual(['left behind']);
  });

  it('falls back to the default handler when the custom handler throws', () => {
    const written: string[] = [];
    vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
      written.push(String(chunk));
      return true;
    });
    const loop = new EventLoop();
    loop.setExceptionHandler(() => {
      throw new Error('handler broke');
    });
    loop.callSoon(() => {
      throw new Error('callback broke');
    });
    loop.runUntilComplete(sleep(1));
    loop.close();
    const text = written.join('');
    expect(text).toContain('Unhandled error in exception handler');
    expect(text).toContain('handler broke');
    expect(text).toContain('callback broke');
  });
});
