// examples/task-errors.ts, run as a process and talked to by Python's socket.
import { afterEach, describe, expect, it } from 'vitest';

import { Driver, stopAllPython } from './python-client.js';
import { startExample, stopAllExamples, type RunningExample } from './run-example.js';

afterEach(async () => {
  await stopAllPython();
  await stopAllExamples();
});

// How long a client listens for an answer that must not come. The server
// has already printed that it read the line, so waiting longer would not
// bring one: this only bounds how long we look.
const SILENCE_MS = 500;

/** `['127.0.0.1', 54321]` as a RegExp source, the way the example names a client. */
function named([host, port]: [string, number]): string {
  return `\\['${host.replace(/\./g, '\\.')}', ${port}\\]`;
}

async function echoes(clients: Driver, id: string, line: string): Promise<void> {
  await clients.send(id, line);
  expect((await clients.recv(id, { until: line })).data.toString()).toBe(line);
}

/** Connects `id`, has a line echoed, then sends `boom` and waits until the server has read it. */
async function boom(example: RunningExample, clients: Driver, id: string): Promise<[string, number]> {
  const address = await clients.connect(id, example);
  await echoes(clients, id, 'hello\r\n');
  await clients.send(id, 'boom\r\n');
  // The task reads the line, prints it and throws, all in one step.
  await example.waitForLine(new RegExp(`^I got data from ${named(address)}: "boom\\\\r\\\\n"$`));
  return address;
}

describe('examples/task-errors.ts, unhandled (the default)', () => {
  it('leaves the client of a failed task without an answer and without a close, and serves the others', async () => {
    const example = await startExample('task-errors');
    const clients = new Driver();
    await boom(example, clients, 'victim');
    expect(await clients.recv('victim', { n: 1, timeoutMs: SILENCE_MS })).toEqual({
      data: Buffer.alloc(0), eof: false, timedOut: true,
    });
    await clients.connect('other', example);
    await echoes(clients, 'other', 'still serving\r\n');
    expect(example.exited).toBe(false);
    await clients.quit();
  });

  it('reports "Task exception was never retrieved" with the stack once the loop closes, not before', async () => {
    const example = await startExample('task-errors');
    const clients = new Driver();
    const [host, port] = await boom(example, clients, 'victim');
    // Another client's round trip: the loop has gone on since the failure.
    await clients.connect('other', example);
    await echoes(clients, 'other', 'anyone there?\r\n');
    expect(example.stderr).toBe('');

    example.child.kill('SIGINT');
    expect(await example.waitForExit(5000)).toEqual({ code: 0, signal: null });
    const report = example.stderr;
    expect(report.split('Task exception was never retrieved')).toHaveLength(2); // exactly once
    expect(report).toContain(`task: <Task finished name='echo ${host}:${port}' exception=Error("Unexpected network error")>`);
    expect(report).toContain('Error: Unexpected network error');
    expect(report).toMatch(/\n\s+at echo \(\S*task-errors\.ts:\d+:\d+\)/);
    expect(example.lines.at(-1)).toBe('Server stopped');
    await clients.quit();
  });
});

describe('examples/task-errors.ts --handled', () => {
  it('logs the error with its stack and closes the connection of the failed task', async () => {
    const example = await startExample('task-errors', { args: ['--handled'] });
    const clients = new Driver();
    const address = await boom(example, clients, 'victim');
    expect(await clients.recv('victim', { timeoutMs: 2000 })).toEqual({ data: Buffer.alloc(0), eof: true, timedOut: false });
    await example.waitForLine(new RegExp(`^Closed the connection from ${named(address)}$`));
    expect(example.stderr).toMatch(new RegExp(
      `^Error in the connection from ${named(address)}: Error: Unexpected network error\\n\\s+at echo \\(\\S*task-errors\\.ts:\\d+:\\d+\\)`,
    ));
    // The server goes on.
    await clients.connect('other', example);
    await echoes(clients, 'other', 'still serving\r\n');
    await clients.quit();
  });

  it('has nothing left to report at exit, and closes the open connections when cancelled', async () => {
    const example = await startExample('task-errors', { env: { HANDLED: '1' } });
    const clients = new Driver();
    await boom(example, clients, 'victim');
    await clients.recv('victim', { timeoutMs: 2000 });
    const open = await clients.connect('open', example);
    await echoes(clients, 'open', 'hi\r\n');

    example.child.kill('SIGINT');
    expect(await example.waitForExit(5000)).toEqual({ code: 0, signal: null });
    // Cancelling its task ran its `finally`: the connection was closed.
    expect(await clients.recv('open', { timeoutMs: 2000 })).toEqual({ data: Buffer.alloc(0), eof: true, timedOut: false });
    expect(example.lines).toContain(`Closed the connection from ['${open[0]}', ${open[1]}]`);
    expect(example.stderr).toContain('Error: Unexpected network error'); // the log line, from before
    expect(example.stderr).not.toContain('never retrieved');
    expect(example.lines.at(-1)).toBe('Server stopped');
    await clients.quit();
  });
});
