// SignalReader: signals as a FileObject. Real signals go to child processes
// (fixtures/signal-reader.ts), so that a reader that fails to catch one
// kills the child, not the test; argument checks and the garbage-collector
// safety net run here, without sending any signal.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readlinkSync } from 'node:fs';
import { constants } from 'node:os';
import { fileURLToPath } from 'node:url';

import { describe, expect, it } from 'vitest';

import { availableBackends, EVENT_READ, Selector, SignalReader } from '../src/index.js';
import { native } from '../src/native.js';

const fixture = fileURLToPath(new URL('./fixtures/signal-reader.ts', import.meta.url));

function fdIsOpen(fd: number): boolean {
  try {
    readlinkSync(`/proc/self/fd/${fd}`);
    return true;
  } catch {
    return false;
  }
}

interface Outcome {
  lines: string[];
  code: number | null;
  signal: NodeJS.Signals | null;
}

// Runs the fixture; every "ready" line is answered with `signal`, every
// "ready SIGX" with SIGX. The child bounds each of its own waits (5 s);
// `select(null)` waits are bounded here.
async function runChild(signal: NodeJS.Signals, steps: string[], limitMs = 15_000): Promise<Outcome> {
  const child = spawn(process.execPath, ['--import', 'tsx', fixture, signal, ...steps], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const limit = setTimeout(() => child.kill('SIGKILL'), limitMs);
  const lines: string[] = [];
  let buffered = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    buffered += chunk;
    let newline: number;
    while ((newline = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, newline);
      buffered = buffered.slice(newline + 1);
      if (line === 'ready') process.kill(child.pid!, signal);
      else if (line.startsWith('ready ')) process.kill(child.pid!, line.slice(6) as NodeJS.Signals);
      else lines.push(line);
    }
  });
  const [code, exitSignal] = (await once(child, 'close')) as [number | null, NodeJS.Signals | null];
  clearTimeout(limit);
  return { lines, code, signal: exitSignal };
}

const got = (r1: number, r2: number, loop: number, node: number): string =>
  `got r1=${r1} r2=${r2} loop=${loop} node=${node}`;

describe('SignalReader wakes a selector', () => {
  it('wakes a Selector blocked in select(null) at once on SIGINT, SIGTERM and SIGUSR2, and read() names each', async () => {
    const outcome = await runChild('SIGUSR2', ['block:SIGINT,SIGTERM,SIGUSR2']);
    expect(outcome).toEqual({ lines: ['woke SIGINT', 'woke SIGTERM', 'woke SIGUSR2'], code: 0, signal: null });
  });

  // The same wait on every backend this build has, in every trigger mode it
  // supports: a reader is an ordinary fd to each of them.
  for (const backend of availableBackends) {
    const probe = new Selector({ backend });
    const supportsEdge = probe.supportsEdge;
    probe.close();
    for (const mode of ['level', 'edge', 'oneshot', 'edge-oneshot'] as const) {
      if (mode.startsWith('edge') && !supportsEdge) continue;
      it(`wakes a ${backend} Selector registered in ${mode} mode, once per signal`, async () => {
        const outcome = await runChild('SIGUSR2', [`blockon:${backend}/${mode}/SIGUSR2,SIGINT,SIGUSR2`]);
        expect(outcome).toEqual({ lines: ['woke SIGUSR2', 'woke SIGINT', 'woke SIGUSR2'], code: 0, signal: null });
      });
    }
  }

  it('read() returns the signals received since the last read, oldest first, each once', async () => {
    // Not in signal-number order (SIGTERM 15, SIGUSR2 12, SIGINT 2, SIGHUP 1).
    const outcome = await runChild('SIGUSR2', ['order:SIGTERM,SIGUSR2,SIGINT,SIGHUP']);
    expect(outcome).toEqual({ lines: ['read SIGTERM,SIGUSR2,SIGINT,SIGHUP'], code: 0, signal: null });
  });
});

describe('SignalReader and process.on listeners for the same signal', () => {
  it.each(['SIGUSR2', 'SIGINT'] as const)(
    '%s: a Node listener added after the reader gets it too; removing it leaves the reader; closing that restores the default',
    async (signal) => {
      const outcome = await runChild(signal, ['r1+', 'node+', 'signal', 'node-', 'signal', 'r1-', 'final']);
      expect(outcome).toEqual({ lines: [got(1, 0, 0, 1), got(1, 0, 0, 0)], code: null, signal });
    },
  );

  it.each(['SIGUSR2', 'SIGINT'] as const)(
    '%s: a reader added after a Node listener leaves it working; closing the reader leaves the listener',
    async (signal) => {
      const outcome = await runChild(signal, ['node+', 'r1+', 'signal', 'r1-', 'signal', 'node-', 'final']);
      expect(outcome).toEqual({ lines: [got(1, 0, 0, 1), got(0, 0, 0, 1)], code: null, signal });
    },
  );

  it('SIGUSR2: closing the reader first leaves a Node listener added after it working', async () => {
    const outcome = await runChild('SIGUSR2', ['r1+', 'node+', 'signal', 'r1-', 'signal', 'node-', 'final']);
    expect(outcome).toEqual({ lines: [got(1, 0, 0, 1), got(0, 0, 0, 1)], code: null, signal: 'SIGUSR2' });
  });

  it('SIGUSR2: removing the Node listener first leaves a reader added after it working', async () => {
    const outcome = await runChild('SIGUSR2', ['node+', 'r1+', 'signal', 'node-', 'signal', 'r1-', 'final']);
    expect(outcome).toEqual({ lines: [got(1, 0, 0, 1), got(1, 0, 0, 0)], code: null, signal: 'SIGUSR2' });
  });
});

describe('SignalReader beside other watches of the same signal', () => {
  it.each([
    ['the reader first', ['r1+', 'loop+']],
    ['the loop first', ['loop+', 'r1+']],
  ])('an EventLoop\'s addSignalHandler and a reader both see it, installed with %s', async (_, install) => {
    const outcome = await runChild('SIGUSR2', [...install, 'signal', 'loop-', 'signal', 'r1-', 'final']);
    expect(outcome).toEqual({ lines: [got(1, 0, 1, 0), got(1, 0, 0, 0)], code: null, signal: 'SIGUSR2' });
  });

  it('a loop\'s handler keeps working after a reader for the same signal closes', async () => {
    const outcome = await runChild('SIGINT', ['loop+', 'r1+', 'signal', 'r1-', 'signal', 'loop-', 'final']);
    expect(outcome).toEqual({ lines: [got(1, 0, 1, 0), got(0, 0, 1, 0)], code: null, signal: 'SIGINT' });
  });

  it('two readers of the same signal both see it, and closing one leaves the other', async () => {
    const outcome = await runChild('SIGTERM', ['r1+', 'r2+', 'signal', 'r1-', 'signal', 'r2-', 'final']);
    expect(outcome).toEqual({ lines: [got(1, 1, 0, 0), got(0, 1, 0, 0)], code: null, signal: 'SIGTERM' });
  });
});

describe('SignalReader.close()', () => {
  it('gives SIGUSR2 its default action back: the next one ends the process', async () => {
    const outcome = await runChild('SIGUSR2', ['r1+', 'signal', 'r1-', 'final']);
    expect(outcome).toEqual({ lines: [got(1, 0, 0, 0)], code: null, signal: 'SIGUSR2' });
  });

  it('gives SIGINT back to Node, which ends the process on the next one', async () => {
    const outcome = await runChild('SIGINT', ['r1+', 'signal', 'r1-', 'final']);
    expect(outcome).toEqual({ lines: [got(1, 0, 0, 0)], code: null, signal: 'SIGINT' });
  });

  it('gives SIGPIPE back its SIG_IGN (Node ignores it)', async () => {
    const outcome = await runChild('SIGPIPE', ['r1+', 'signal', 'r1-', 'selfsignal']);
    expect(outcome).toEqual({ lines: [got(1, 0, 0, 0), 'survived'], code: 0, signal: null });
  });
});

describe('SignalReader in a worker thread', () => {
  it('sees a signal sent to the process', async () => {
    const outcome = await runChild('SIGUSR2', ['worker']);
    expect(outcome).toEqual({ lines: ['worker SIGUSR2'], code: 0, signal: null });
  });

  it('has its fd closed and its watch released when the worker ends without close()', async () => {
    const outcome = await runChild('SIGUSR2', ['worker-exit', 'final']);
    expect(outcome).toEqual({ lines: ['worker fd closed=true'], code: null, signal: 'SIGUSR2' });
  });
});

describe('SignalReader arguments and lifetime', () => {
  it('refuses anything but a non-empty array of catchable signals, naming `signals`', () => {
    expect(() => new SignalReader('SIGINT' as never)).toThrow(TypeError);
    expect(() => new SignalReader('SIGINT' as never)).toThrow(/^signals must be an array/);
    expect(() => new SignalReader(undefined as never)).toThrow(/^signals must be an array/);
    expect(() => new SignalReader([])).toThrow(RangeError);
    expect(() => new SignalReader([])).toThrow(/^signals must name at least one signal/);
    expect(() => new SignalReader(['SIGNOPE'])).toThrow(/^signals\[0\]: unknown signal: "SIGNOPE"$/);
    expect(() => new SignalReader(['SIGUSR2', {} as never])).toThrow(TypeError);
    expect(() => new SignalReader(['SIGUSR2', {} as never])).toThrow(/^signals\[1\]: /);
    expect(() => new SignalReader([1.5 as never])).toThrow(/^signals\[0\]: unknown signal number/);
    for (const uncatchable of ['SIGKILL', 'SIGSTOP', 'SIGSEGV', 'SIGBUS', 'SIGFPE', 'SIGILL']) {
      expect(() => new SignalReader([uncatchable])).toThrow(RangeError);
      expect(() => new SignalReader([uncatchable])).toThrow(new RegExp(`^signals\\[0\\]: signal "${uncatchable}" cannot be handled`));
    }
  });

  it('leaves no watch behind when one of its signals is refused', () => {
    const before = process.listenerCount('SIGUSR2');
    expect(() => new SignalReader(['SIGUSR2', 'SIGKILL'])).toThrow(RangeError);
    expect(process.listenerCount('SIGUSR2')).toBe(before);
  });

  it('is not readable and reads [] when no signal came, and closes once', () => {
    // The same signal three ways: one watch.
    const reader = new SignalReader(['USR2', 'SIGUSR2', constants.signals.SIGUSR2]);
    const fd = reader.fileno();
    expect(fdIsOpen(fd)).toBe(true);
    const selector = new Selector();
    selector.register(reader, EVENT_READ);
    expect(selector.select(0)).toEqual([]);
    selector.close();
    expect(reader.read()).toEqual([]);
    expect(process.listenerCount('SIGUSR2')).toBe(1);
    reader.close();
    reader.close();
    expect(reader.fileno()).toBe(-1);
    expect(fdIsOpen(fd)).toBe(false);
    expect(process.listenerCount('SIGUSR2')).toBe(0);
    expect(() => reader.read()).toThrow(/closed SignalReader/);
  });

  it('closes through Symbol.dispose', () => {
    let fd = -1;
    {
      using reader = new SignalReader(['SIGUSR2']);
      fd = reader.fileno();
    }
    expect(fdIsOpen(fd)).toBe(false);
    expect(process.listenerCount('SIGUSR2')).toBe(0);
  });

  it('a SignalReader dropped without close() has its fd closed by the garbage collector, with a ResourceWarning', async () => {
    const gc = (globalThis as { gc?: () => void }).gc!;
    const warnings: Error[] = [];
    const onWarning = (w: Error) => warnings.push(w);
    process.on('warning', onWarning);
    let fd = -1;
    (() => {
      fd = new SignalReader(['SIGUSR2']).fileno();
    })();
    for (let i = 0; i < 50 && fdIsOpen(fd); i++) {
      gc();
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    process.off('warning', onWarning);
    expect(fdIsOpen(fd)).toBe(false);
    expect(process.listenerCount('SIGUSR2')).toBe(0);
    expect(warnings.some((w) => w.name === 'ResourceWarning' && w.message.includes(`unclosed SignalReader (fd ${fd})`))).toBe(true);
  });
});

describe('NativeSignalPipe (the native half) under hostile arguments', () => {
  it('methods called on something that is not a pipe throw TypeError', () => {
    const proto = native.NativeSignalPipe.prototype as unknown as Record<string, (...args: unknown[]) => unknown>;
    for (const method of ['fileno', 'watchSignal', 'unwatchSignal', 'read', 'close']) {
      for (const self of [{}, 5, null, undefined, Object.create(native.NativeSignalPipe.prototype)]) {
        expect(() => proto[method]!.call(self, 12), `${method} on ${String(self)}`).toThrow(TypeError);
      }
    }
  });

  it('checks signal numbers, refuses uncatchable ones with EINVAL, and answers EBADF once closed', () => {
    const pipe = new native.NativeSignalPipe();
    try {
      for (const bad of [undefined, '12', 1.5, NaN, 2 ** 31]) {
        expect(() => pipe.watchSignal(bad as number)).toThrow(TypeError);
        expect(() => pipe.unwatchSignal(bad as number)).toThrow(TypeError);
      }
      const EINVAL = constants.errno.EINVAL;
      for (const signo of [0, -1, 64, 2 ** 31 - 1, constants.signals.SIGKILL, constants.signals.SIGSTOP,
        constants.signals.SIGSEGV, constants.signals.SIGBUS, constants.signals.SIGFPE, constants.signals.SIGILL]) {
        expect(pipe.watchSignal(signo), `watchSignal(${signo})`).toBe(-EINVAL);
        pipe.unwatchSignal(signo); // nothing to undo: no effect, no error
      }
      expect(pipe.read()).toEqual([]);
    } finally {
      pipe.close();
    }
    pipe.close();
    expect(pipe.fileno()).toBe(-1);
    expect(pipe.read()).toBe(-constants.errno.EBADF);
    expect(pipe.watchSignal(constants.signals.SIGUSR2)).toBe(-constants.errno.EBADF);
  });
});
