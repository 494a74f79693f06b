// Every example that listens, started on a port that is taken: one line that
// says so and what to do, exit code 1, no stack.
import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:net';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { ROOT } from './run-example.js';

const LISTENING = [
  'blocking-echo', 'blocking-multi-client', 'nonblocking-busy-loop', 'selector-echo', 'loop-echo',
  'task-errors', 'graceful-shutdown', 'http-hello', 'reuseport-workers',
];

let taken: Server;
let port = 0;

beforeAll(async () => {
  taken = createServer();
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
  port = (taken.address() as { port: number }).port;
});

afterAll(async () => {
  await new Promise((resolve) => taken.close(resolve));
});

/** Runs examples/NAME.ts to its end (killed after 15 s); its exit code and output. */
function runToExit(name: string, env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', `examples/${name}.ts`], {
      cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe('an example whose port is taken', () => {
  it.each(LISTENING)('%s says the address is in use and exits 1', async (name) => {
    const result = await runToExit(name, { HOST: '127.0.0.1', PORT: String(port) });
    expect(result).toEqual({
      code: 1,
      stdout: '',
      stderr: `address 127.0.0.1:${port} is in use; set PORT=0 for a free one\n`,
    });
  });
});
