// What every example needs besides the point it makes: where to listen, how
// loud to be, and how to print an address or some bytes the way the
// chapter's Python prints them. Kept here so each example reads like its
// listing in the chapter.
//
//   npx tsx examples/NAME.ts [HOST] [PORT] [--quiet] [--duration SECONDS]
//
// HOST and PORT may also come from the environment (HOST=..., PORT=...), as
// may QUIET=1 and DURATION=...; the command line wins. An example may add
// switches of its own (task-errors.ts: --handled) and options with a value
// (reuseport-workers.ts: --workers N); each may also come from the
// environment, named in capitals (HANDLED=1, WORKERS=4). The default is
// 127.0.0.1:8000, loopback only, as in the chapter. PORT=0 lets the kernel
// pick a free port: the first line every server prints is
// `listening on HOST:PORT` with the real port, so a script can wait for it.
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

import { AF_INET, AF_INET6, AF_UNIX, type Address, OSError, SOCK_STREAM, Socket } from '../../src/index.js';

export interface ExampleOptions {
  host: string;
  port: number;
  /** AF_INET6 for a host written with ':' (such as ::1), else AF_INET. */
  family: number;
  /** --quiet or QUIET=1: no per-connection or per-event lines (for benchmarks). */
  quiet: boolean;
  /** --duration or DURATION, in seconds, for the examples that stop by themselves. */
  duration: number;
  /** The example's own switches, by name: `--handled` or HANDLED=1 -> flags.handled. */
  flags: Record<string, boolean>;
  /** The example's own options with a value: `--workers 4` or WORKERS=4 -> values.workers. */
  values: Record<string, string | undefined>;
}

/** What an example adds to the common options. */
export interface ExampleSpec {
  /** Default for --duration, in seconds (3 unless given). */
  duration?: number;
  /** Switches of its own, such as 'handled' for --handled. */
  flags?: string[];
  /** Options with a value, such as 'workers' for --workers N. */
  values?: string[];
}

const USAGE = 'usage: npx tsx examples/NAME.ts [HOST] [PORT] [--quiet] [--duration SECONDS]';

/** The options of this run, from the command line, then the environment, then the defaults. */
export function exampleOptions(spec: ExampleSpec = {}): ExampleOptions {
  try {
    return parseOptions(spec);
  } catch (error) {
    const own = [...(spec.flags ?? []).map((name) => `[--${name}]`), ...(spec.values ?? []).map((name) => `[--${name} N]`)];
    console.error(`${(error as Error).message}\n${[USAGE, ...own].join(' ')}`);
    process.exit(2);
  }
}

/** Whether an environment variable is set to something other than '' or '0'. */
function envFlag(value: string | undefined): boolean {
  return value !== undefined && value !== '' && value !== '0';
}

function parseOptions(spec: ExampleSpec): ExampleOptions {
  const own: Record<string, { type: 'boolean' | 'string' }> = {};
  for (const name of spec.flags ?? []) own[name] = { type: 'boolean' };
  for (const name of spec.values ?? []) own[name] = { type: 'string' };
  const { values: parsed, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      ...own,
      quiet: { type: 'boolean', short: 'q' },
      duration: { type: 'string' },
    },
  });
  const values = parsed as Record<string, string | boolean | undefined>;
  const env = process.env;
  if (positionals.length > 2) throw new Error(`too many arguments: ${positionals.join(' ')}`);
  const host = positionals[0] ?? (env.HOST || '127.0.0.1'); // an empty variable counts as unset
  const port = Number(positionals[1] ?? (env.PORT || 8000));
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new RangeError(`PORT must be an integer from 0 to 65535, got ${positionals[1] ?? env.PORT}`);
  }
  const duration = Number(values.duration ?? (env.DURATION || spec.duration || 3));
  if (!(duration > 0)) {
    throw new RangeError(`DURATION must be a positive number of seconds, got ${values.duration ?? env.DURATION}`);
  }
  const quiet = values.quiet === true || envFlag(env.QUIET);
  const flags: Record<string, boolean> = {};
  for (const name of spec.flags ?? []) flags[name] = values[name] === true || envFlag(env[name.toUpperCase()]);
  const ownValues: Record<string, string | undefined> = {};
  for (const name of spec.values ?? []) {
    const value = values[name] ?? env[name.toUpperCase()];
    ownValues[name] = typeof value === 'string' && value !== '' ? value : undefined;
  }
  return { host, port, family: host.includes(':') ? AF_INET6 : AF_INET, quiet, duration, flags, values: ownValues };
}

/** `127.0.0.1:8000`, `[::1]:8000`. */
function showHostPort(host: string, port: number): string {
  return `${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/**
 * Runs `bind` (a bind() or a createServer()) and returns what it returns;
 * if the address is taken, says so in one line and exits with code 1
 * rather than showing the EADDRINUSE stack.
 */
export function bindOrExit<T>(host: string, port: number, bind: () => T): T {
  try {
    return bind();
  } catch (error) {
    if (!(error instanceof OSError) || error.code !== 'EADDRINUSE') throw error;
    console.error(`address ${showHostPort(host, port)} is in use; set PORT=0 for a free one`);
    process.exit(1);
  }
}

// One Ctrl-C, one signal, under every launcher.
//
// A terminal's Ctrl-C sends SIGINT to every process in its foreground
// group: the example, and whatever launched it. `node --import tsx` is the
// example itself. `npm start` passes the signal on to its shell, which does
// not pass it further. tsx's command line (`npx tsx`) is a parent process
// that passes SIGINT and SIGTERM on to the script unless the script tells it,
// within about 30 ms, that it got the signal itself, and kills it (SIGKILL)
// when a second wait passes without word. tsx's own hook in the script tells
// it from a process.on() listener, which runs only when Node's event loop
// gets a turn: a coroutine loop holding the thread in select() gives it
// none, so the script would get the signal twice and be killed a moment
// later. (Under `npx`, npm also passes the signal to tsx, which asks again.)
//
// So a loop's signal handler here tells tsx itself, over the Unix socket
// tsx listens on for its script (a 4-byte length, then JSON), and takes a
// repeat of the same signal within RELAY_WINDOW_MS as the relay of the one
// it just handled. Without tsx's socket neither happens.
const RELAY_WINDOW_MS = 250;
const launcherSocket = ((): string | null => {
  const user = typeof process.geteuid === 'function' ? process.geteuid() : null;
  if (user === null) return null;
  const path = join(tmpdir(), `tsx-${user}`, `${process.ppid}.pipe`);
  return existsSync(path) ? path : null;
})();

/** True when the parent is tsx's command line, which relays signals (see above). */
export const launcherRelaysSignals = launcherSocket !== null;

/** Tells tsx's command line, if it launched us, that `signal` arrived here. */
function tellLauncher(signal: string): void {
  if (launcherSocket === null) return;
  const body = Buffer.from(JSON.stringify({ type: 'signal', signal }));
  const frame = Buffer.alloc(4 + body.length);
  frame.writeInt32BE(body.length, 0);
  body.copy(frame, 4);
  const socket = new Socket(AF_UNIX, SOCK_STREAM);
  try {
    socket.connect(launcherSocket);
    socket.sendall(frame);
  } catch {
    // tsx gone or changed: it will relay the signal, which we then ignore.
  } finally {
    socket.close();
  }
}

/**
 * `handler` for `loop.addSignalHandler(signal, ...)`, made to run once per
 * signal sent, however the example was launched (see above).
 */
export function onSignal(signal: string, handler: () => void): () => void {
  let handledAt = -Infinity;
  return () => {
    tellLauncher(signal);
    const now = performance.now();
    if (launcherRelaysSignals && now - handledAt < RELAY_WINDOW_MS) return;
    handledAt = now;
    handler();
  };
}

/** Prints `listening on HOST:PORT` with the port the kernel really bound. */
export function announce(server: Socket): void {
  const [host, port] = server.getsockname() as [string, number];
  console.log(`listening on ${showHostPort(host, port)}`);
}

/** `['127.0.0.1', 54321]`: the chapter prints Python's `('127.0.0.1', 54321)`. */
export function showAddress(address: Address): string {
  return typeof address === 'string' ? JSON.stringify(address) : `['${address[0]}', ${address[1]}]`;
}

/**
 * Bytes as a quoted string, printable ASCII as is and the rest escaped
 * (`"hi\r\n"`, `"\xff"`), the way Python shows `b'hi\r\n'`, so the `\r\n`
 * that telnet adds is visible. Long buffers are summed up by their length.
 */
export function showBytes(data: Uint8Array, limit = 64): string {
  if (data.length > limit) return `(${data.length} bytes)`;
  let out = '"';
  for (const byte of data) {
    if (byte === 0x0d) out += '\\r';
    else if (byte === 0x0a) out += '\\n';
    else if (byte === 0x09) out += '\\t';
    else if (byte === 0x22 || byte === 0x5c) out += `\\${String.fromCharCode(byte)}`;
    else if (byte >= 0x20 && byte < 0x7f) out += String.fromCharCode(byte);
    else out += `\\x${byte.toString(16).padStart(2, '0')}`;
  }
  return `${out}"`;
}

/** True when `buffer` ends with `\r\n` (Python: `buffer[-2:] == b'\r\n'`). */
export function endsWithCRLF(buffer: Uint8Array): boolean {
  return buffer.length >= 2 && buffer[buffer.length - 2] === 0x0d && buffer[buffer.length - 1] === 0x0a;
}

/**
 * Starts measuring this process's CPU time (user + system) against wall
 * time; the returned function reports the share of one core used since.
 */
export function startCpuMeter(): () => { cpuSeconds: number; wallSeconds: number; percent: number } {
  const cpu0 = process.cpuUsage();
  const wall0 = performance.now();
  return () => {
    const cpu = process.cpuUsage(cpu0);
    const cpuSeconds = (cpu.user + cpu.system) / 1e6;
    const wallSeconds = (performance.now() - wall0) / 1000;
    return { cpuSeconds, wallSeconds, percent: wallSeconds > 0 ? (100 * cpuSeconds) / wallSeconds : 0 };
  };
}
