// examples/blocking-multi-client.ts, run as a process and talked to by Python's socket.
import { afterEach, describe, expect, it } from 'vitest';

import { Driver, stopAllPython } from './python-client.js';
import { startExample, stopAllExamples } from './run-example.js';

afterEach(async () => {
  await stopAllPython();
  await stopAllExamples();
});

// How long the stalled client listens for a reply that must not come. The
// server is already parked in recv() on client 1 when this starts (it
// printed client 2's connection line), so no amount of waiting would bring
// the reply: this only bounds how long we look.
const SILENCE_MS = 750;

describe('examples/blocking-multi-client.ts', () => {
  it('echoes the first client', async () => {
    const example = await startExample('blocking-multi-client');
    const clients = new Driver();
    const [host, port] = await clients.connect('one', example);
    await example.waitForLine(new RegExp(`^I got a connection from \\['${host}', ${port}\\]$`));
    await clients.send('one', 'hello\r\n');
    expect((await clients.recv('one', { until: '\r\n' })).data.toString()).toBe('hello\r\n');
    await example.waitForLine(/^All the data is: "hello\\r\\n"$/);
    await clients.quit();
  });

  it('gives a second client no echo until the first one sends', async () => {
    const example = await startExample('blocking-multi-client');
    const clients = new Driver();

    await clients.connect('one', example);
    await clients.send('one', 'first\r\n');
    expect((await clients.recv('one', { until: '\r\n' })).data.toString()).toBe('first\r\n');

    // The server is back in accept(). Client 2 connects and sends a line...
    const [host, port] = await clients.connect('two', example);
    const accepted = await example.waitForLine(new RegExp(`^I got a connection from \\['${host}', ${port}\\]$`));
    await clients.send('two', 'second\r\n');
    // ...but the server went on to read from client 1, which is silent.
    const stalled = await clients.recv('two', { n: 1, timeoutMs: SILENCE_MS });
    expect(stalled).toEqual({ data: Buffer.alloc(0), eof: false, timedOut: true });
    expect(example.lines.slice(accepted.index + 1)).toEqual([]); // not a byte of "second" read

    // Client 1 speaks: it is echoed, and then, at last, client 2 too.
    await clients.send('one', 'go\r\n');
    expect((await clients.recv('one', { until: '\r\n' })).data.toString()).toBe('go\r\n');
    expect((await clients.recv('two', { until: '\r\n' })).data.toString()).toBe('second\r\n');
    const one = await example.waitForLine(/^All the data is: "go\\r\\n"$/, { from: accepted.index });
    const two = await example.waitForLine(/^All the data is: "second\\r\\n"$/, { from: accepted.index });
    expect(one.index).toBeLessThan(two.index);
    await clients.quit();
  });

  it('drops a client that hangs up and goes on serving the others', async () => {
    const example = await startExample('blocking-multi-client');
    const clients = new Driver();
    await clients.connect('one', example);
    await clients.send('one', 'a\r\n');
    await clients.recv('one', { until: '\r\n' });

    await clients.connect('two', example);
    await clients.close('one'); // the server, reading from client 1, gets EOF
    await example.waitForLine(/^A client hung up; dropping it$/);
    await clients.send('two', 'b\r\n');
    expect((await clients.recv('two', { until: '\r\n' })).data.toString()).toBe('b\r\n');
    expect(example.exited).toBe(false);
    await clients.quit();
  });
});
