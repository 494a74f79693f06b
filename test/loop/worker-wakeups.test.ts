// A loop woken from another thread: a Waker it watches with addReader, and
// messages it takes with receiveMessageOnPort, in both run modes and on
// every backend; the loop runs in a worker, then in this thread.
import { MessageChannel, type MessagePort, receiveMessageOnPort, Worker } from 'node:worker_threads';

import { describe, expect, it } from 'vitest';

import { Event, Waker } from '../../src/index.js';
import { RUN_TABLE, runOn } from './surface-support.js';

type FromWorker = { wakeFd: number } | string | { done: true; wakeups: number };

/** A worker running `file` (TypeScript) with `port` transferred to it in workerData. */
function tsWorkerWithPort(file: URL, port: MessagePort, data: Record<string, unknown>): Worker {
  const bootstrap = `
    import('tsx/esm/api')
      .then(({ register }) => { register(); return import(${JSON.stringify(file.href)}); })
      .catch((error) => { process.nextTick(() => { throw error; }); });`;
  return new Worker(bootstrap, { eval: true, workerData: { ...data, port }, transferList: [port] });
}

/** The next `count` messages on `port`. */
function messages(port: MessagePort, count: number): Promise<FromWorker[]> {
  return new Promise((resolve) => {
    const got: FromWorker[] = [];
    const onMessage = (m: FromWorker): void => {
      got.push(m);
      if (got.length === count) {
        port.off('message', onMessage);
        resolve(got);
      }
    };
    port.on('message', onMessage);
  });
}

describe.each(RUN_TABLE)('cross-thread wake-ups (%s)', (_name, run) => {
  it('wakes a loop in a worker, which takes the posted messages with receiveMessageOnPort', async () => {
    const channel = new MessageChannel();
    const worker = tsWorkerWithPort(new URL('./fixtures/message-loop-worker.ts', import.meta.url), channel.port2,
      { backend: run.backend, mode: run.mode });
    const exited = new Promise<number>((resolve) => worker.once('exit', resolve));
    try {
      const [hello] = await messages(channel.port1, 1);
      const waker = Waker.fromFd((hello as { wakeFd: number }).wakeFd);
      const replies = messages(channel.port1, 3);
      for (const text of ['one', 'two', 'three']) {
        channel.port1.postMessage(text);
        waker.wake();
      }
      expect(await replies).toEqual(['ONE', 'TWO', 'THREE']);
      const done = messages(channel.port1, 1);
      channel.port1.postMessage('stop');
      waker.wake();
      waker.close();
      const [last] = await done;
      expect(last).toMatchObject({ done: true });
      expect((last as { wakeups: number }).wakeups).toBeGreaterThanOrEqual(1);
      expect(await exited).toBe(0);
    } finally {
      channel.port1.close();
      await worker.terminate();
    }
  });

  it('wakes this thread\'s loop from a worker that posts and wakes', async () => {
    const channel = new MessageChannel();
    const waker = new Waker();
    const worker = tsWorkerWithPort(new URL('./fixtures/message-poster-worker.ts', import.meta.url), channel.port2,
      { fd: waker.remoteFd });
    const exited = new Promise<number>((resolve) => worker.once('exit', resolve));
    try {
      const got = await runOn(run, function* (loop) {
        const received: string[] = [];
        const all = new Event();
        loop.addReader(waker, () => {
          waker.drain();
          for (let m = receiveMessageOnPort(channel.port1); m !== undefined; m = receiveMessageOnPort(channel.port1)) {
            received.push(m.message as string);
          }
          if (received.length === 3) all.set();
        });
        // Nothing else can wake this loop: no timer, no socket.
        yield* all.wait();
        loop.removeReader(waker);
        return received;
      });
      expect(got).toEqual(['a', 'b', 'c']);
      expect(await exited).toBe(0);
    } finally {
      channel.port1.close();
      await worker.terminate();
      waker.close();
    }
  });
});
