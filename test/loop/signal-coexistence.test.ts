// A loop's signal handlers and Node's process.on listeners for the same
// signal, installed and removed in either order, in child processes sent
// real signals: both keep working, removing one leaves the other, and
// removing the last gives the signal back its default action.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

import { describe, expect, it } from 'vitest';

const fixture = fileURLToPath(new URL('./fixtures/signal-coexist.ts', import.meta.url));
const threadsFixture = fileURLToPath(new URL('./fixtures/signal-threads.ts', import.meta.url));

interface Outcome {
  lines: string[];
  code: number | null;
  signal: NodeJS.Signals | null;
}

// Runs the fixture; every "ready" line it prints is answered with `signal`.
async function runChild(signal: NodeJS.Signals, mode: string, steps: string[], script = fixture): Promise<Outcome> {
  const child = spawn(process.execPath, ['--import', 'tsx', script, signal, mode, ...steps], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines: string[] = [];
  let buffered = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    buffered += chunk;
    let newline: number;
    while ((newline = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, newline);
      buffered = buffered.slice(newline + 1);
      if (line === 'ready') process.kill(child.pid!, signal);
      else lines.push(line);
    }
  });
  const [code, exitSignal] = (await once(child, 'close')) as [number | null, NodeJS.Signals | null];
  return { lines, code, signal: exitSignal };
}

const BOTH = 'got loop=1 node=1';
const LOOP_ONLY = 'got loop=1 node=0';
const NODE_ONLY = 'got loop=0 node=1';

describe.each(['blocking', 'async'])('signals in %s mode', (mode) => {
  it.each(['SIGUSR2', 'SIGINT'] as const)(
    '%s: a Node listener added after the loop\'s handler gets the signal too, and removing it leaves the loop\'s',
    async (signal) => {
      const outcome = await runChild(signal, mode,
        ['loop+', 'node+', 'signal', 'node-', 'signal', 'loop-', 'final']);
      expect(outcome).toEqual({ lines: [BOTH, LOOP_ONLY], code: null, signal });
    },
  );

  it.each(['SIGUSR2', 'SIGINT'] as const)(
    '%s: a loop handler added after a Node listener leaves it working, and removing the loop\'s leaves Node\'s',
    async (signal) => {
      const outcome = await runChild(signal, mode,
        ['node+', 'loop+', 'signal', 'loop-', 'signal', 'node-', 'final']);
      expect(outcome).toEqual({ lines: [BOTH, NODE_ONLY], code: null, signal });
    },
  );

  it('SIGUSR2: removing the loop\'s handler first leaves a Node listener added after it working', async () => {
    const outcome = await runChild('SIGUSR2', mode,
      ['loop+', 'node+', 'signal', 'loop-', 'signal', 'node-', 'final']);
    expect(outcome).toEqual({ lines: [BOTH, NODE_ONLY], code: null, signal: 'SIGUSR2' });
  });

  it('SIGUSR2: removing the Node listener first leaves a loop handler added after it working', async () => {
    const outcome = await runChild('SIGUSR2', mode,
      ['node+', 'loop+', 'signal', 'node-', 'signal', 'loop-', 'final']);
    expect(outcome).toEqual({ lines: [BOTH, LOOP_ONLY], code: null, signal: 'SIGUSR2' });
  });
});

describe('the disposition the process had', () => {
  it('comes back as SIG_IGN for SIGPIPE (Node ignores it) once the loop\'s handler is removed', async () => {
    const outcome = await runChild('SIGPIPE', 'blocking', ['loop+', 'signal', 'loop-', 'selfsignal']);
    expect(outcome).toEqual({ lines: [LOOP_ONLY, 'survived'], code: 0, signal: null });
  });

  // (Removing Node's listener last leaves SIG_DFL, as Node does on its own.)
  it('comes back as SIG_IGN for SIGPIPE after a Node listener came and went while the loop handled it', async () => {
    const outcome = await runChild('SIGPIPE', 'async',
      ['loop+', 'node+', 'signal', 'node-', 'loop-', 'selfsignal']);
    expect(outcome).toEqual({ lines: [BOTH, 'survived'], code: 0, signal: null });
  });
});

describe('signals and process.removeAllListeners', () => {
  it('keeps the loop\'s handler working after process.removeAllListeners(signal)', async () => {
    const outcome = await runChild('SIGUSR2', 'blocking',
      ['loop+', 'node+', 'node-all', 'signal', 'loop-', 'final']);
    expect(outcome).toEqual({ lines: [LOOP_ONLY], code: null, signal: 'SIGUSR2' });
  });
});

describe('signals and worker threads', () => {
  it('keeps a worker loop\'s handler when a main-thread loop removes its own for the same signal', async () => {
    const outcome = await runChild('SIGUSR2', 'blocking', [], threadsFixture);
    expect(outcome).toEqual({ lines: ['worker=1'], code: 0, signal: null });
  });
});
