// examples/chat-server.ts, run as a process, with Python clients.
import { afterEach, describe, expect, it } from 'vitest';

import { Driver, stopAllPython } from './python-client.js';
import { startExample, stopAllExamples } from './run-example.js';

afterEach(async () => {
  await stopAllPython();
  await stopAllExamples();
});

function named([host, port]: [string, number]): string {
  return `['${host}', ${port}]`;
}

describe('examples/chat-server.ts', () => {
  it('passes each client\'s lines to the other clients, not back to the sender', async () => {
    const example = await startExample('chat-server');
    const clients = new Driver();
    const a = await clients.connect('a', example);
    expect((await clients.recv('a', { until: 'here\n' })).data.toString()).toBe(`welcome, ${named(a)}; 0 other(s) here\n`);
    const b = await clients.connect('b', example);
    await clients.recv('b', { until: 'here\n' });
    expect((await clients.recv('a', { until: 'joined\n' })).data.toString()).toBe(`* ${named(b)} joined\n`);

    await clients.send('a', 'hello from a\n');
    expect((await clients.recv('b', { until: '\n' })).data.toString()).toBe(`${named(a)}: hello from a\n`);
    await clients.send('b', 'and from b\n');
    expect((await clients.recv('a', { until: '\n' })).data.toString()).toBe(`${named(b)}: and from b\n`);
    // Nothing came back to the sender meanwhile.
    expect((await clients.recv('b', { until: '\n', timeoutMs: 200 })).timedOut).toBe(true);

    await clients.close('a');
    expect((await clients.recv('b', { until: 'left\n' })).data.toString()).toBe(`* ${named(a)} left\n`);
    await clients.quit();
  });

  it('keeps the others chatting at full speed while one client reads nothing, then drops that one', async () => {
    const example = await startExample('chat-server');
    const clients = new Driver();
    const slow = await clients.connect('slow', example, { rcvbuf: 4096 });
    await clients.recv('slow', { until: 'here\n' });
    const talker = await clients.connect('talker', example);
    await clients.recv('talker', { until: 'here\n' });
    await clients.connect('listener', example);
    await clients.recv('listener', { until: 'here\n' });
    await example.waitForLine(/joined$/, { from: 3 });

    // 8 MiB of lines, in rounds the listener keeps up with: more than the
    // slow client's socket buffers, its writer's high-water mark and its
    // queue of 1000 lines can hold together.
    const line = 'x'.repeat(1000);
    let received = 0;
    for (let round = 0; round < 64; round++) {
      const lines = Array.from({ length: 128 }, (_, i) => `${round}.${i} ${line}\n`).join('');
      await clients.send('talker', lines);
      const got = await clients.recv('listener', { until: `${round}.127 ${line}\n`, timeoutMs: 10_000 });
      expect(got.timedOut).toBe(false);
      received += got.data.toString().split('\n').filter((l) => l.startsWith(`${named(talker)}: `)).length;
    }
    expect(received).toBe(64 * 128);
    await example.waitForLine(new RegExp(`^\\['127\\.0\\.0\\.1', ${slow[1]}\\] is too slow: disconnecting it$`));
    await clients.quit();
  });
});
