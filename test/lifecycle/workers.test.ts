// worker_threads that use the package and end in every way: the process
// never crashes, every fd the worker made is closed by the time its `exit`
// event fires (a detached one excepted), and terminate() of a worker blocked
// in select completes within about a second.
//
// Each case runs in a child process whose main thread never loads the addon
// (fixtures/worker-parent.mjs): when only the worker has loaded it, Node
// unloads it with the worker, and any libuv callback the addon left behind
// would run in unmapped code.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

import { describe, expect, it } from 'vitest';

import { availableBackends, ioUringAvailable, Selector } from '../../src/index.js';

interface Outcome {
  exitCode: number;
  terminateMs: number | null;
  leaked: Array<[number, string]>;
  detachedOpen: boolean;
  blockedIn: string | null;
  made: number;
  failure: string | null;
}

const parent = fileURLToPath(new URL('./fixtures/worker-parent.mjs', import.meta.url));
const root = fileURLToPath(new URL('../..', import.meta.url));
// Under the sanitizer build (an explicit addon) a node start takes seconds.
const CHILD_LIMIT_MS = process.env.NATIVE_SELECTORS_ADDON ? 80_000 : 15_000;

// Runs the parent process; resolves with its status and the workers' outcomes.
function runWorkers(scenario: object): Promise<{ code: number | null; signal: string | null; outcomes: Outcome[]; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [parent, JSON.stringify(scenario)], {
      cwd: root, stdio: ['ignore', 'pipe', 'pipe'], timeout: CHILD_LIMIT_MS, killSignal: 'SIGKILL',
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => { stdout += chunk; });
    child.stderr.on('data', (chunk: Buffer) => { stderr += chunk; });
    child.once('error', reject);
    child.once('close', (code, signal) => {
      const line = stdout.trim().split('\n').pop() ?? '';
      let outcomes: Outcome[] = [];
      try {
        outcomes = JSON.parse(line) as Outcome[];
      } catch {
        // reported through code/signal and stderr below
      }
      resolve({ code, signal, outcomes, stderr });
    });
  });
}

async function expectClean(scenario: object, count = 1): Promise<Outcome[]> {
  const { code, signal, outcomes, stderr } = await runWorkers({ ...scenario, count });
  expect({ code, signal }, stderr.slice(0, 2000)).toEqual({ code: 0, signal: null });
  expect(outcomes).toHaveLength(count);
  for (const outcome of outcomes) {
    expect(outcome.failure).toBeNull();
    expect(outcome.made).toBeGreaterThan(0);
    expect(outcome.leaked, 'fds the worker made that are still open after its exit event').toEqual([]);
    expect(outcome.detachedOpen, 'the fd the worker detached stays open').toBe(true);
  }
  return outcomes;
}

// The backends whose selector has an fd that Node's loop can watch.
const asyncBackends = availableBackends.filter((backend) => {
  const sel = new Selector({ backend });
  try {
    return sel.fileno() >= 0;
  } finally {
    sel.close();
  }
});

const cases = [
  ...availableBackends.map((backend) => ({ mode: 'blocking', backend, io: 'selector' })),
  ...asyncBackends.map((backend) => ({ mode: 'async', backend, io: 'selector' })),
  ...(ioUringAvailable() ? ['blocking', 'async'].map((mode) => ({ mode, backend: 'epoll', io: 'io_uring' })) : []),
];

describe.each(cases)('a worker running its loop with $mode ($backend, io $io)', ({ mode, backend, io }) => {
  it('ends without crashing and closes every fd it made when a task calls process.exit()', async () => {
    const [outcome] = await expectClean({ mode, backend, io, end: 'exit' });
    expect(outcome!.exitCode).toBe(0);
  });

  it('ends within about a second of terminate() while blocked, and closes every fd it made', async () => {
    const [outcome] = await expectClean({ mode, backend, io, end: 'terminate' });
    expect(outcome!.exitCode).toBe(1);
    if (outcome!.blockedIn !== null) expect(outcome!.blockedIn).toMatch(/poll|select|kevent|io_cqring_wait/);
    expect(outcome!.terminateMs).toBeLessThan(1500);
  });

  it('closes every fd it made when its code returns with sockets, selectors and signal handlers open', async () => {
    const [outcome] = await expectClean({ mode, backend, io, end: 'return' });
    expect(outcome!.exitCode).toBe(0);
  });
});

describe('several workers at once', () => {
  it('each leave no fd behind when they end with sockets open', async () => {
    await expectClean({ mode: 'blocking', backend: availableBackends[0], end: 'return' }, 4);
  });
});
