// curl, the HTTP client everyone has, run against the HTTP examples: code
// this project did not write. Every curl started here is remembered;
// `stopAllCurl()` (afterEach) kills what still runs and waits for it.
import { spawn, type ChildProcess } from 'node:child_process';
import { clientEnv } from '../support/client-env.js';

const running = new Set<ChildProcess>();

export interface CurlResult {
  code: number | null;
  stdout: string;
  /** With -v: the connection log, `> ` request and `< ` response lines. */
  stderr: string;
}

/** Runs `curl ARGS` (with `input` on its stdin); resolves when it exits (killed past `timeoutMs`). */
export function curl(args: string[], options: { input?: Uint8Array; timeoutMs?: number } = {}): Promise<CurlResult> {
  const child = spawn('curl', args, { env: clientEnv(), stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
  running.add(child);
  child.stdin?.on('error', () => {}).end(options.input); // (an error shows in its exit code)
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => { stdout += chunk; });
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => { stderr += chunk; });
  const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 10_000);
  return new Promise((resolve, reject) => {
    child.once('error', reject); // no curl on this machine
    child.once('close', (code) => {
      clearTimeout(timer);
      running.delete(child);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Kills every curl still running and waits for them to be gone. */
export async function stopAllCurl(): Promise<void> {
  await Promise.all([...running].map((child) => new Promise<void>((resolve) => {
    child.once('close', () => resolve());
    child.kill('SIGKILL');
  })));
}
