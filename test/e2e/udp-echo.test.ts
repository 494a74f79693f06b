// examples/udp-echo.ts, run as a process and talked to by Python's socket,
// OpenBSD nc -u and socat: datagrams of every size come back whole, to the
// client that sent them.
import { spawn } from 'node:child_process';

import { afterEach, describe, expect, it } from 'vitest';

import { clientEnv } from '../support/client-env.js';
import { runPython, stopAllPython } from './python-client.js';
import { type RunningExample, startExample, stopAllExamples } from './run-example.js';

afterEach(async () => {
  await stopAllPython();
  await stopAllExamples();
});

/** Runs `command` with `input` on stdin; its stdout, once it exits (killed past `timeoutMs`). */
function runTool(command: string, args: string[], input: string, timeoutMs = 5000): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env: clientEnv(), stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => { stdout += chunk; });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', reject);
    child.once('close', () => {
      clearTimeout(timer);
      resolve(stdout);
    });
    child.stdin.end(input);
  });
}

interface PythonReport {
  clients: Array<{ local: [string, number]; exact: number; wrong: number }>;
  interleaved_exact: boolean;
}

async function pythonClients(example: RunningExample): Promise<PythonReport> {
  const out = await runPython('udp.py', [JSON.stringify({
    host: example.host, port: example.port, clients: 4, sizes: [0, 1, 100, 1400, 9000, 65507], timeout: 5,
  })], 20_000);
  return JSON.parse(out) as PythonReport;
}

describe('examples/udp-echo.ts', () => {
  it('echoes datagrams of every size, empty to 65507 bytes, to each of several Python clients', async () => {
    const example = await startExample('udp-echo', { args: ['--quiet'] });
    const report = await pythonClients(example);
    expect(report.clients.map((c) => [c.exact, c.wrong])).toEqual(Array(4).fill([6, 0]));
    expect(report.interleaved_exact).toBe(true);
  });

  it('logs each datagram with its sender', async () => {
    const example = await startExample('udp-echo');
    const report = await pythonClients(example);
    const [host, port] = report.clients[0]!.local;
    await example.waitForLine(new RegExp(`^\\['${host.replace(/\./g, '\\.')}', ${port}\\] sent `));
    // Every datagram is logged: 6 sizes per client, then one each at once.
    let from = 0;
    for (let i = 0; i < 4 * 6 + 4; i++) from = (await example.waitForLine(/ sent /, { from })).index + 1;
    expect(example.lines.filter((line) => / sent /.test(line))).toHaveLength(4 * 6 + 4);
  });

  it('echoes a line to nc -u', async () => {
    const example = await startExample('udp-echo');
    // -w1: nc quits a second after stdin ends and nothing more arrives.
    const out = await runTool('nc', ['-u', '-w1', example.host, String(example.port)], 'hello over udp\n');
    expect(out).toBe('hello over udp\n');
    await example.waitForLine(/ sent "hello over udp\\n"$/);
  });

  it('echoes a line to socat', async () => {
    const example = await startExample('udp-echo');
    const out = await runTool('socat', ['-t1', '-', `UDP:${example.host}:${example.port}`], 'hi socat\n');
    expect(out).toBe('hi socat\n');
  });

  it('stops on SIGINT with "Server stopped" and exit code 0', async () => {
    const example = await startExample('udp-echo');
    example.interrupt('SIGINT');
    const exit = await example.waitForExit();
    expect(exit).toEqual({ code: 0, signal: null });
    expect(example.lines.at(-1)).toBe('Server stopped');
  });
});
