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
import { parseArgs } from 'node:util';

import { AF_INET, AF_INET6, type Address, type Socket } from '../../src/index.js';

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

/** Prints `listening on HOST:PORT` with the port the kernel really bound. */
export function announce(server: Socket): void {
  const [host, port] = server.getsockname() as [string, number];
  console.log(`listening on ${host.includes(':') ? `[${host}]` : host}:${port}`);
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
