// Real clients for the examples, written with Python's standard `socket`
// module (python3 is on every machine that builds the addon): code this
// project did not write, speaking plain TCP.
//
// - `Driver`: one python3 process holding any number of named connections,
//   steered a step at a time (clients/driver.py), for scenarios whose order
//   matters: connect, send, expect a reply or expect silence, close.
// - `runPython`: runs a script of clients/ to completion, with a deadline.
//
// Every process started here is remembered; `stopAllPython()` (afterEach)
// kills what still runs and waits until its pipes are closed.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { clientEnv } from '../support/client-env.js';

const CLIENTS = fileURLToPath(new URL('./clients/', import.meta.url));
const PYTHON = process.env.PYTHON ?? 'python3';

const running = new Set<ChildProcess>();

function start(args: string[]): { child: ChildProcess; closed: Promise<number | null> } {
  const child = spawn(PYTHON, ['-u', ...args], { env: clientEnv(), stdio: ['pipe', 'pipe', 'pipe'] });
  running.add(child);
  const closed = new Promise<number | null>((resolve) => {
    child.once('close', (code) => {
      running.delete(child);
      resolve(code);
    });
  });
  return { child, closed };
}

/** Kills every Python client still running and waits for them to be gone. */
export async function stopAllPython(): Promise<void> {
  await Promise.all([...running].map((child) => new Promise<void>((resolve) => {
    child.once('close', () => resolve());
    child.kill('SIGKILL');
  })));
}

export interface Received {
  data: Buffer;
  eof: boolean;
  timedOut: boolean;
}

type Reply = { ok: true; [field: string]: unknown } | { ok: false; error: string; message: string };

/** A python3 process holding named TCP connections, one command at a time. */
export class Driver {
  readonly #child: ChildProcess;
  readonly #closed: Promise<number | null>;
  readonly #replies: Array<(reply: Reply) => void> = [];
  #partial = '';
  #stderr = '';

  constructor() {
    const { child, closed } = start([`${CLIENTS}driver.py`]);
    this.#child = child;
    this.#closed = closed;
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      const lines = (this.#partial + chunk).split('\n');
      this.#partial = lines.pop()!;
      for (const line of lines) this.#replies.shift()?.(JSON.parse(line) as Reply);
    });
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
      this.#stderr += chunk;
    });
    void closed.then((code) => {
      const error: Reply = { ok: false, error: 'DriverExited', message: `driver.py exited (${code}): ${this.#stderr}` };
      for (const reply of this.#replies.splice(0)) reply(error);
    });
  }

  /** Sends one command; resolves with its answer, rejects if Python raised. */
  async request(command: Record<string, unknown>): Promise<Record<string, unknown>> {
    const reply = await new Promise<Reply>((resolve) => {
      this.#replies.push(resolve);
      this.#child.stdin!.write(`${JSON.stringify(command)}\n`);
    });
    if (!reply.ok) throw new Error(`${command.op} ${String(command.id)}: ${reply.error}: ${reply.message}`);
    return reply;
  }

  /** Resolves once python3 is up and answering (it takes a while on a busy machine). */
  async ready(): Promise<void> {
    await this.request({ op: 'ping' });
  }

  /** Connects `id` to `server`; returns its local [host, port], as the server will print it. */
  async connect(id: string, server: { host: string; port: number }, options: { rcvbuf?: number } = {}): Promise<[string, number]> {
    const reply = await this.request({ op: 'connect', id, host: server.host, port: server.port, ...options });
    return reply.local as [string, number];
  }

  async send(id: string, data: string | Uint8Array): Promise<void> {
    await this.request({ op: 'send', id, data: Buffer.from(data).toString('hex') });
  }

  /**
   * Reads until the data ends with `until`, or `n` bytes came, or (with
   * neither) until EOF; gives up after `timeoutMs` and says so.
   */
  async recv(id: string, options: { until?: string; n?: number; timeoutMs?: number } = {}): Promise<Received> {
    const reply = await this.request({
      op: 'recv', id, timeout: (options.timeoutMs ?? 5000) / 1000,
      ...(options.until !== undefined ? { until: Buffer.from(options.until).toString('hex') } : {}),
      ...(options.n !== undefined ? { n: options.n } : {}),
    });
    return { data: Buffer.from(reply.data as string, 'hex'), eof: reply.eof as boolean, timedOut: reply.timedOut as boolean };
  }

  async shutdownWrite(id: string): Promise<void> {
    await this.request({ op: 'shutdown_write', id });
  }

  /** Closes `id`; with `reset`, abortively (the peer gets RST, not FIN). */
  async close(id: string, options: { reset?: boolean } = {}): Promise<void> {
    await this.request({ op: 'close', id, reset: options.reset ?? false });
  }

  /** Sends a known pattern without reading until `max` bytes or a stall of `stallMs`; returns the count. */
  async fill(id: string, max: number, stallMs = 1000): Promise<number> {
    const reply = await this.request({ op: 'fill', id, max, stall: stallMs / 1000 });
    return reply.sent as number;
  }

  /** Reads `n` bytes and checks them against the pattern `fill` sent. */
  async drain(id: string, n: number, timeoutMs = 10_000): Promise<{ received: number; match: boolean }> {
    const reply = await this.request({ op: 'drain', id, n, timeout: timeoutMs / 1000 });
    return { received: reply.received as number, match: reply.match as boolean };
  }

  /** Closes every connection and ends the process. */
  async quit(): Promise<void> {
    this.#child.stdin!.end();
    await this.#closed;
  }
}

/** Runs clients/SCRIPT with `args`; resolves with its stdout, or rejects past `timeoutMs`. */
export async function runPython(script: string, args: string[], timeoutMs: number): Promise<string> {
  const { child, closed } = start([`${CLIENTS}${script}`, ...args]);
  let stdout = '';
  let stderr = '';
  child.stdin!.end();
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => { stdout += chunk; });
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => { stderr += chunk; });
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const code = await closed;
  clearTimeout(timer);
  if (code !== 0) throw new Error(`${script} exited with ${code ?? 'a signal'} (deadline ${timeoutMs} ms): ${stderr}`);
  return stdout;
}
