// Signal handlers: ordinary loop callbacks, delivered even while the loop
// is blocked in select. SIGUSR2 and SIGHUP here: SIGUSR1 belongs to Node's
// inspector, and SIGINT/SIGTERM to the test runner.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

import { describe, expect, it } from 'vitest';

import {
  CancelledError, currentTask, EventLoop, getRunningLoop, sleep, socketpair,
} from '../../src/index.js';
import { withLoop } from './support.js';

describe('signal handlers', () => {
  it('runs the handler while the loop sits in a long select, when another process sends the signal', async () => {
    const pid = process.pid;
    // The child waits for our "go", then until our main thread is asleep in
    // epoll_wait or io_uring_enter (or, without /proc, asleep at all), and only then signals.
    const script = `read go
i=0
while :; do
  if [ -r /proc/${pid}/wchan ]; then read -r w < /proc/${pid}/wchan; { [ "$w" = do_epoll_wait ] || [ "$w" = io_cqring_wait ]; } && break
  else [ "$(ps -o state= -p ${pid} | cut -c1)" = S ] && break; fi
  i=$((i+1)); [ $i -gt 200000 ] && exit 3
done
kill -USR2 ${pid}`;
    const [ours, theirs] = socketpair();
    const child = spawn('sh', ['-c', script], { stdio: [theirs.fileno(), 'ignore', 'inherit'] });
    theirs.close();
    const exited = once(child, 'exit');
    const loop = new EventLoop();
    let handled = 0;
    let elapsed = 0;
    try {
      const main = loop.createTask((function* () {
        yield* loop.sockSendall(ours, Buffer.from('go\n'));
        yield* sleep(20_000); // the long select the signal must interrupt
      })());
      loop.addSignalHandler('SIGUSR2', () => {
        handled++;
        main.cancel();
      });
      const start = loop.time();
      expect(() => loop.runUntilComplete(main)).toThrow(CancelledError);
      elapsed = loop.time() - start;
    } finally {
      loop.close();
      ours.close();
    }
    const [code] = await exited;
    expect(code).toBe(0); // it saw us blocked in select before it signalled
    expect(handled).toBe(1);
    expect(elapsed).toBeLessThan(15_000);
  });

  it('runs the handler on the loop as an ordinary callback, outside any task', () => {
    withLoop((loop) => {
      const seen: unknown[] = [];
      loop.addSignalHandler('SIGUSR2', () => {
        seen.push(getRunningLoop() === loop, currentTask());
      });
      loop.runUntilComplete((function* () {
        process.kill(process.pid, 'SIGUSR2');
        while (seen.length === 0) yield* sleep(1);
      })());
      expect(seen).toEqual([true, null]);
    });
  });

  it('replaces the handler of a signal, and removing it returns true once, then false', () => {
    withLoop((loop) => {
      const calls: string[] = [];
      loop.addSignalHandler('SIGHUP', () => calls.push('first'));
      loop.addSignalHandler('SIGHUP', () => calls.push('second'));
      loop.runUntilComplete((function* () {
        process.kill(process.pid, 'SIGHUP');
        while (calls.length === 0) yield* sleep(1);
      })());
      expect(calls).toEqual(['second']);
      expect(loop.removeSignalHandler('SIGHUP')).toBe(true);
      expect(loop.removeSignalHandler('SIGHUP')).toBe(false);
    });
  });

  it('accepts signal names with or without SIG and numbers, and refuses the rest', () => {
    withLoop((loop) => {
      loop.addSignalHandler('USR2', () => {});
      expect(loop.removeSignalHandler('SIGUSR2')).toBe(true);
      expect(() => loop.addSignalHandler('SIGNOPE', () => {})).toThrow(RangeError);
      expect(() => loop.addSignalHandler(12345, () => {})).toThrow(RangeError);
      expect(() => loop.addSignalHandler({} as never, () => {})).toThrow(TypeError);
      for (const name of ['SIGKILL', 'SIGSTOP', 'SIGSEGV', 'SIGBUS', 'SIGFPE', 'SIGILL']) {
        expect(() => loop.addSignalHandler(name, () => {})).toThrow(/cannot be handled/);
      }
      expect(() => loop.addSignalHandler('SIGHUP', 'no' as never)).toThrow(TypeError);
    });
  });

  it('handles SIGTERM while installed, and restores the default behaviour once removed', async () => {
    const fixture = fileURLToPath(new URL('./fixtures/sigterm-child.ts', import.meta.url));
    const child = spawn(process.execPath, ['--import', 'tsx', fixture], { stdio: ['ignore', 'pipe', 'inherit'] });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      output += chunk;
    });
    const [code, signal] = await once(child, 'close');
    expect(output).toBe('handled\n');
    expect([code, signal]).toEqual([null, 'SIGTERM']);
  });
});
