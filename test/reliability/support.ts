// Helpers for the load, fault and scale tests of the example servers.
//
// - `startServer`: runs examples/NAME.ts --quiet as a child process (as
//   test/e2e/run-example.ts does, but optionally under `ulimit -n N` through
//   `sh -c '...; exec node ...'`, so the pid is still node's), remembered
//   for `stopAll()`.
// - `buildClient` / `runClient`: the C client in clients/echo-client.c,
//   compiled with `cc` at test time into a temporary directory, run as a
//   child process whose stdout lines are JSON events and a JSON result.
// - `/proc` readings of a server: open fds, RSS (and its peak), CPU time.
// - `waitUntil`: polls a condition with a deadline (for states another
//   process reaches, such as "the server has closed the connection").
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { RunningExample, ROOT } from '../e2e/run-example.js';

const CLIENT_SOURCE = fileURLToPath(new URL('./clients/echo-client.c', import.meta.url));

/** The echo servers the tests drive: examples/NAME.ts. */
export const ECHO_SERVERS = ['selector-echo', 'loop-echo'];

// ---- servers ----

const servers = new Set<RunningExample>();
const clients = new Set<ClientRun>();

export interface ServerOptions {
  /** Runs the server under `ulimit -n` of this (a number, or 'hard' for the hard limit). */
  nofile?: number | 'hard';
  readyTimeoutMs?: number;
}

/** Starts examples/NAME.ts --quiet on 127.0.0.1, a free port; resolves once it listens. */
export async function startServer(name: string, options: ServerOptions = {}): Promise<RunningExample> {
  const node = [process.execPath, '--import', 'tsx', `examples/${name}.ts`, '127.0.0.1', '0', '--quiet'];
  const env = { ...process.env, HOST: '127.0.0.1', PORT: '0' };
  const child = options.nofile === undefined
    ? spawn(node[0]!, node.slice(1), { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] })
    : spawn('sh', ['-c', `ulimit -n ${options.nofile === 'hard' ? '"$(ulimit -Hn)"' : options.nofile} && exec "$@"`, 'sh', ...node],
      { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const server = new RunningExample(name, child);
  servers.add(server);
  void server.closed.then(() => servers.delete(server));
  const { index, match } = await server.waitForLine(/^listening on \[?([^\]]*?)\]?:(\d+)$/, {
    timeoutMs: options.readyTimeoutMs ?? 20_000,
  });
  if (index !== 0) throw new Error(`${name} printed other lines before its ready line\n${server.output()}`);
  server.host = match[1]!;
  server.port = Number(match[2]);
  return server;
}

/** Kills every server and client still running and waits until they are gone. */
export async function stopAll(): Promise<void> {
  await Promise.all([...clients].map((client) => client.kill()));
  await Promise.all([...servers].map((server) => server.stop()));
}

/** Fails with the server's output if it has exited. */
export function expectRunning(server: RunningExample): void {
  if (server.exited) throw new Error(`${server.name} is gone\n${server.output()}`);
}

// ---- /proc ----

/** The number of open fds of process `pid`. */
export function fdCount(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

/** VmRSS and VmHWM (peak RSS) of `pid`, in bytes. */
export function memory(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kB = (field: string): number => Number(new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(status)![1]) * 1024;
  return { rss: kB('VmRSS'), peak: kB('VmHWM') };
}

/** Resets `pid`'s peak RSS (VmHWM) to its current RSS (Linux >= 4.0). */
export function resetPeak(pid: number): void {
  writeFileSync(`/proc/${pid}/clear_refs`, '5');
}

/** CPU time (user + system) used so far by `pid`, in seconds. */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // After "pid (comm) ": state is field 3, utime 14, stime 15 (1-based).
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
}
const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

/**
 * Reads `/proc/PID/...` of a server with `read`. If the server has died,
 * fails with how it exited and what it printed, rather than with ENOENT.
 */
export async function fromProc<T>(server: RunningExample, read: (pid: number) => T): Promise<T> {
  try {
    return read(server.child.pid!);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT' && (error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
    const exit = await server.waitForExit(5000).catch(() => 'still exiting');
    throw new Error(`${server.name} is gone (${JSON.stringify(exit)})\n${server.output()}`);
  }
}

/** Polls `check` every 20 ms until it returns true; rejects after `timeoutMs` with `what()`. */
export async function waitUntil(check: () => boolean | Promise<boolean>, timeoutMs: number, what: () => string): Promise<void> {
  const end = performance.now() + timeoutMs;
  while (!(await check())) {
    if (performance.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what()}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

export const MiB = 1024 * 1024;

// ---- the C client ----

let clientDir: string | null = null;

/** Compiles clients/echo-client.c (once per test file); returns the binary's path. */
export function buildClient(): string {
  clientDir ??= mkdtempSync(join(tmpdir(), 'echo-client-'));
  const binary = join(clientDir, 'echo-client');
  if (!existsSync(binary)) {
    execFileSync(process.env.CC ?? 'cc', ['-O2', '-Wall', '-o', binary, CLIENT_SOURCE], { stdio: 'pipe' });
  }
  return binary;
}

/** Removes the compiled client (afterAll). */
export function removeClient(): void {
  if (clientDir !== null) rmSync(clientDir, { recursive: true, force: true });
  clientDir = null;
}

export interface ClientResult {
  mode: string;
  conns: number;
  ok: number;
  failed: number;
  resets: number;
  resetSent: number;
  bytesSent: number;
  bytesVerified: number;
  minOutstandingAtShutdown: number;
  seconds: number;
  failures: unknown[];
}

/** A line such as {"event":"stalled","conns":1,"open":1,"sent":123,"unreadEcho":45,"seconds":0.5}. */
export interface ClientEvent {
  event: string;
  conns: number;
  /** Connections open at this point. */
  open: number;
  /** stalled: bytes sent in all; unreadEcho: echo bytes waiting in the client's receive buffers. */
  sent: number;
  unreadEcho: number;
  seconds: number;
}

/** One run of the C client: its JSON events, its stdin, its exit. */
export class ClientRun {
  // Its stdout lines, waits and output, as for an example server.
  readonly #proc: RunningExample;
  readonly closed: Promise<number | null>;
  #timer: NodeJS.Timeout;

  constructor(readonly args: string[], timeoutMs: number) {
    const child = spawn(buildClient(), args, { stdio: ['pipe', 'pipe', 'pipe'] });
    this.#proc = new RunningExample(`echo-client ${args.join(' ')}`, child);
    clients.add(this);
    child.stdin!.on('error', () => {}); // EPIPE if it has exited: its exit says why
    // Past its deadline the client gives up by itself; this is the backstop.
    this.#timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    this.closed = this.#proc.closed.then(({ code, signal }) => {
      clearTimeout(this.#timer);
      clients.delete(this);
      return code ?? (signal === null ? null : -1);
    });
  }

  get child(): ChildProcess {
    return this.#proc.child;
  }

  get lines(): string[] {
    return this.#proc.lines;
  }

  get stderr(): string {
    return this.#proc.stderr;
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** Waits for the JSON line with `"event": name` and returns it. */
  async event(name: string, timeoutMs = 30_000): Promise<ClientEvent> {
    const escaped = name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    const { match } = await this.#proc.waitForLine(new RegExp(`"event":"${escaped}"`), { timeoutMs });
    return JSON.parse(match.input) as ClientEvent;
  }

  /** Lets a client that waits on stdin go on. */
  proceed(): void {
    this.child.stdin!.write('go\n');
  }

  /** Waits for the exit; returns the result line and the exit code. */
  async result(): Promise<{ code: number | null; result: ClientResult }> {
    const code = await this.closed;
    const line = this.lines.find((l) => l.startsWith('{"mode"'));
    if (line === undefined) throw new Error(`echo-client ${this.args.join(' ')} exited (${code}) without a result: ${this.output()}`);
    return { code, result: JSON.parse(line) as ClientResult };
  }

  async kill(): Promise<void> {
    await this.#proc.stop();
    await this.closed;
  }

  output(): string {
    return this.#proc.output();
  }
}

/** Starts the C client: MODE against `server`, with key=value options. */
export function runClient(mode: string, server: { host: string; port: number }, options: Record<string, number>,
  timeoutMs = 60_000): ClientRun {
  const args = [mode, server.host, String(server.port), ...Object.entries(options).map(([k, v]) => `${k}=${v}`)];
  return new ClientRun(args, timeoutMs);
}

/** A seed for the clients' random streams: SEED=... reproduces a run. */
export const SEED = Number(process.env.SEED ?? Math.floor(Math.random() * 2 ** 31));
