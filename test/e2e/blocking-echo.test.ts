// examples/blocking-echo.ts, run as a process and talked to by Python's socket.
import { afterEach, describe, expect, it } from 'vitest';

import { Driver, stopAllPython } from './python-client.js';
import { startExample, stopAllExamples, unshowBytes, type RunningExample } from './run-example.js';

afterEach(async () => {
  await stopAllPython();
  await stopAllExamples();
});

/** The chunks the example printed as `I got data: "..."!`, as bytes. */
function chunksPrinted(example: RunningExample): Buffer[] {
  return example.lines
    .map((line) => /^I got data: (".*")!$/.exec(line))
    .filter((match) => match !== null)
    .map((match) => unshowBytes(match[1]!));
}

describe('examples/blocking-echo.ts', () => {
  it('reads a line in chunks of at most 2 bytes, answers "Buffer: " + the line, and exits 0', async () => {
    const example = await startExample('blocking-echo');
    const client = new Driver();
    const [host, port] = await client.connect('c', example);
    await example.waitForLine(new RegExp(`^I got a connection from \\['${host}', ${port}\\]!$`));

    // 13 bytes: the chunks are "He" "ll" "o," " T" "CP" "!\r" "\n", so the
    // "\r" and the "\n" arrive in different chunks and only the buffer, not
    // any one chunk, ends with "\r\n".
    await client.send('c', 'Hello, TCP!\r\n');
    const answer = await client.recv('c'); // until the server closes
    expect(answer.data.toString()).toBe('Buffer: Hello, TCP!\r\n');
    expect(answer.eof).toBe(true);

    expect(await example.waitForExit()).toEqual({ code: 0, signal: null });
    const chunks = chunksPrinted(example);
    expect(chunks.every((chunk) => chunk.length >= 1 && chunk.length <= 2)).toBe(true);
    expect(Buffer.concat(chunks).toString()).toBe('Hello, TCP!\r\n');
    expect(chunks.map(String)).toContain('\n');
    expect(example.lines).toContain('All the data is: "Hello, TCP!\\r\\n"');
    await client.quit();
  });

  it('keeps reading across separate sends until the buffer ends with \\r\\n', async () => {
    const example = await startExample('blocking-echo');
    const client = new Driver();
    await client.connect('c', example);
    await client.send('c', 'ab\r');
    // The server has read "ab" and "\r": a buffer that ends with "\r" is not done.
    await example.waitForLine(/^I got data: "\\r"!$/);
    expect((await client.recv('c', { n: 1, timeoutMs: 300 })).timedOut).toBe(true);
    await client.send('c', '\n');
    expect((await client.recv('c')).data.toString()).toBe('Buffer: ab\r\n');
    expect(await example.waitForExit()).toEqual({ code: 0, signal: null });
    await client.quit();
  });

  it('answers with what it got when the client half-closes before "\\r\\n"', async () => {
    const example = await startExample('blocking-echo');
    const client = new Driver();
    await client.connect('c', example);
    await client.send('c', 'no newline');
    await client.shutdownWrite('c'); // recv() on the server returns an empty Buffer
    expect((await client.recv('c')).data.toString()).toBe('Buffer: no newline');
    expect(await example.waitForExit()).toEqual({ code: 0, signal: null });
    expect(example.lines).toContain('All the data is: "no newline"');
    await client.quit();
  });
});
