// runAsync: the loop's iterations as callbacks of Node's own event loop, so
// Node's timers, fs and net keep working beside it.
import { readFile } from 'node:fs/promises';
import { createServer as createNodeServer, type AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';

import { describe, expect, it } from 'vitest';

import {
  CancelledError, type Coro, EventLoop, fromPromise, gather, PollSelector, sleep, Socket,
} from '../../src/index.js';

describe('runAsync', () => {
  it('progresses alongside a Node setTimeout, an fs.promises read and a Node net server', async () => {
    const server = createNodeServer((conn) => {
      conn.on('data', (data) => conn.write(data));
      conn.on('end', () => conn.end());
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    let nodeTicks = 0;
    const interval = setInterval(() => nodeTicks++, 1);
    const loop = new EventLoop();
    try {
      const result = await loop.runAsync((function* () {
        let loopTicks = 0;
        const ticker = loop.createTask((function* (): Coro<void> {
          for (;;) {
            yield* sleep(1);
            loopTicks++;
          }
        })());
        const nodeTimer = function* (): Coro<string> {
          yield* fromPromise(new Promise((resolve) => setTimeout(resolve, 30)));
          return 'timer fired';
        };
        const fileRead = function* (): Coro<string> {
          const text = yield* fromPromise(readFile(fileURLToPath(import.meta.url), 'utf8'));
          return text.includes('runAsync') ? 'file read' : 'wrong file';
        };
        const netEcho = function* (): Coro<string> {
          const sock = new Socket();
          sock.setBlocking(false);
          try {
            yield* loop.sockConnect(sock, ['127.0.0.1', port]);
            let echoed = '';
            for (let i = 0; i < 10; i++) {
              yield* loop.sockSendall(sock, Buffer.from(`${i};`));
              echoed += (yield* loop.sockRecv(sock, 100)).toString();
            }
            return echoed === '0;1;2;3;4;5;6;7;8;9;' ? 'net echoed' : `bad echo: ${echoed}`;
          } finally {
            sock.close();
          }
        };
        const nodeTicksBefore = nodeTicks;
        const results = yield* gather(nodeTimer(), fileRead(), netEcho());
        ticker.cancel();
        return { results, loopTicks, nodeTicks: nodeTicks - nodeTicksBefore };
      })());
      expect(result.results).toEqual(['timer fired', 'file read', 'net echoed']);
      expect(result.loopTicks).toBeGreaterThan(0); // the loop's own timers ran meanwhile
      expect(result.nodeTicks).toBeGreaterThan(0); // and Node's loop was never blocked
    } finally {
      clearInterval(interval);
      loop.close();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('resolves with main\'s result and rejects with its exception', async () => {
    const loop = new EventLoop();
    try {
      await expect(loop.runAsync(sleep(2, 'value'))).resolves.toBe('value');
      await expect(loop.runAsync((function* (): Coro<never> {
        yield* sleep(1);
        throw new Error('main failed');
      })())).rejects.toThrow('main failed');
      expect(loop.isRunning()).toBe(false);
    } finally {
      loop.close();
    }
  });

  it('wakes up for work scheduled from Node callbacks while it is idle', async () => {
    const loop = new EventLoop();
    try {
      const main = loop.createTask(sleep(60_000));
      setTimeout(() => main.cancel('from a Node timer'), 5);
      const started = performance.now();
      await expect(loop.runAsync(main)).rejects.toBeInstanceOf(CancelledError);
      expect(performance.now() - started).toBeLessThan(10_000);
    } finally {
      loop.close();
    }
  });

  it('delivers signals to their handlers', async () => {
    const loop = new EventLoop();
    try {
      const main = loop.createTask(sleep(60_000));
      loop.addSignalHandler('SIGUSR2', () => main.cancel('signalled'));
      setImmediate(() => process.kill(process.pid, 'SIGUSR2'));
      await expect(loop.runAsync(main)).rejects.toThrow('signalled');
    } finally {
      loop.close();
    }
  });

  it('refuses to run twice at once, and ends with an error when stopped early', async () => {
    const loop = new EventLoop();
    try {
      const running = loop.runAsync(sleep(50));
      await expect(loop.runAsync(sleep(1))).rejects.toThrow(/already running/);
      expect(() => loop.runUntilComplete(sleep(1))).toThrow(/already running/);
      loop.stop();
      await expect(running).rejects.toThrow(/stopped before the task completed/);
    } finally {
      loop.close();
    }
  });

  it('rejects clearly on the poll backend, which has no fd for Node to watch', async () => {
    const loop = new EventLoop({ selector: new PollSelector() });
    try {
      await expect(loop.runAsync(sleep(1))).rejects.toThrow(/poll backend/);
    } finally {
      loop.close();
    }
  });
});
