// What the benchmark runs: the servers, the matrix of points, and the
// targets the ratios are held to.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const BENCH = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
export const ROOT = path.dirname(BENCH);
export const BIN = path.join(BENCH, 'bin');
export const LOADGEN = path.join(BIN, 'loadgen');
// BENCH_RESULTS_DIR redirects the output (CI's smoke run keeps the committed results).
export const RESULTS = process.env.BENCH_RESULTS_DIR ? path.resolve(process.env.BENCH_RESULTS_DIR) : path.join(BENCH, 'results');
export const RUNS_DIR = path.join(RESULTS, 'runs'); // every full run, for bench/summary.ts
export const HOST = '127.0.0.1'; // loopback only, by design
export const SERVER_CPU = '0';
export const LOADGEN_CPU = '1';

// ---------------------------------------------------------------------------
// Servers. Each entry is one line; `cmd` gets the host and a free port.
// `optional` servers run only when named with --servers.

export interface ServerSpec {
  name: string;
  cmd: (host: string, port: number) => string[];
  optional?: boolean;
  startTimeoutMs?: number;
  /** The loadgen's engine for this row (default auto: io_uring where the kernel allows it). */
  engine?: 'epoll' | 'auto';
}

const node = process.execPath;
// The interpreter itself, not a version-manager shim (pyenv's shim is a shell
// script that adds a process and ~100 ms to every start). Looked up on first
// use, so importing this module runs nothing.
let pythonPath: string | undefined;
export function python(): string {
  pythonPath ??= process.env.PYTHON ?? (spawnSync('python3', ['-c', 'import sys; print(sys.executable)'],
    { encoding: 'utf8' }).stdout?.trim() || 'python3');
  return pythonPath;
}
// A TypeScript server as one process (tsx's CLI would add a parent process,
// which would be the one pinned and paused).
const tsxLoader = pathToFileURL(path.join(ROOT, 'node_modules', 'tsx', 'dist', 'loader.mjs')).href;
const tsx = (file: string, ...args: string[]) => [node, '--import', tsxLoader, path.join(ROOT, file), ...args];
const script = (file: string) => path.join(BENCH, 'servers', file);

export const HARNESS_CHECK = 'c-epoll (epoll loadgen)';

// Every row is driven by the loadgen's io_uring engine (`--engine auto`:
// epoll where the kernel has no usable io_uring; each row records which ran).
// It makes about half the system calls per message of the epoll engine and
// measured the C reference higher, so it is the one least likely to be the
// limit: the loadgen must never be what a figure measures.
export const SERVERS: ServerSpec[] = [
  { name: 'c-epoll', cmd: (h, p) => [path.join(BIN, 'c-epoll-echo'), h, `${p}`] },
  // The harness check: the same C server driven by the loadgen's epoll
  // engine, which answers each echo with its own send and recv. Beside the
  // row above it shows how much the loadgen's engine moves the C figure.
  { name: HARNESS_CHECK, engine: 'epoll', cmd: (h, p) => [path.join(BIN, 'c-epoll-echo'), h, `${p}`] },
  { name: 'node-net-data', cmd: (h, p) => [node, script('node-net-echo.mjs'), 'data', h, `${p}`] },
  { name: 'node-net-pipe', cmd: (h, p) => [node, script('node-net-echo.mjs'), 'pipe', h, `${p}`] },
  { name: 'python-selectors', cmd: (h, p) => [python(), script('python-selectors-echo.py'), h, `${p}`] },
  { name: 'python-asyncio', cmd: (h, p) => [python(), script('python-asyncio-echo.py'), h, `${p}`, 'streams'] },
  { name: 'python-asyncio-sock', optional: true,
    cmd: (h, p) => [python(), script('python-asyncio-echo.py'), h, `${p}`, 'sock'] },
  { name: 'python-asyncio-protocol', optional: true,
    cmd: (h, p) => [python(), script('python-asyncio-echo.py'), h, `${p}`, 'protocol'] },

  // ===== native-selectors: the Selector loop and the coroutine loop in both modes =====
  { name: 'ns-selector', startTimeoutMs: 30_000,
    cmd: (h, p) => tsx('bench/servers/selector-echo.ts', h, `${p}`) },
  // The example users run (`npm start`), quiet: it should keep up with the row above.
  { name: 'ns-selector-example', startTimeoutMs: 30_000,
    cmd: (h, p) => tsx('examples/selector-echo.ts', h, `${p}`, '--quiet') },
  { name: 'ns-loop', startTimeoutMs: 30_000,
    cmd: (h, p) => tsx('bench/servers/loop-echo.ts', h, `${p}`, 'blocking') },
  { name: 'ns-loop-async', startTimeoutMs: 30_000,
    cmd: (h, p) => tsx('bench/servers/loop-echo.ts', h, `${p}`, 'async') },
  // The streams (StreamReader/StreamWriter) over the same loop, blocking.
  { name: 'ns-streams', startTimeoutMs: 30_000,
    cmd: (h, p) => tsx('bench/servers/streams-echo.ts', h, `${p}`) },
  { name: 'ns-loop-uring', startTimeoutMs: 30_000, optional: process.platform !== 'linux',
    cmd: (h, p) => tsx('bench/servers/loop-echo.ts', h, `${p}`, 'blocking', '--io', 'io_uring') },
];

// The rows the tables divide by, when they are part of the run.
export const BASELINE_NODE = 'node-net-data';
export const BASELINE_C = 'c-epoll';
export const BASELINE_PYTHON = 'python-selectors';

// ---------------------------------------------------------------------------
// Targets: a ratio of two rows (paired per repeat, median) at some points.

export interface Target {
  label: string;
  server: string;
  base: string; // any row of SERVERS
  points: string[];
  min: number;
  strict?: boolean; // "faster than": > min instead of >= min
}

const SMALL = ['64 B × 10', '1 KiB × 100'];
const LARGE = ['16 KiB × 10', '100 KiB × 10'];
const EVERY = [...SMALL, ...LARGE, '1 KiB × 1000'];
export const TARGETS: Target[] = [
  { label: 'coroutine loop, io_uring ÷ C reference, every point',
    server: 'ns-loop-uring', base: BASELINE_C, points: EVERY, min: 1.0 },
  { label: 'coroutine loop, io_uring ÷ the same loop in epoll mode, small messages',
    server: 'ns-loop-uring', base: 'ns-loop', points: SMALL, min: 1.25 },
  { label: 'Selector echo ÷ C reference, every point', server: 'ns-selector', base: BASELINE_C, points: EVERY, min: 0.95 },
  { label: 'the Selector example (--quiet) ÷ Selector echo, every point',
    server: 'ns-selector-example', base: 'ns-selector', points: EVERY, min: 0.9 },
  { label: 'Selector echo ÷ Node net, small messages', server: 'ns-selector', base: BASELINE_NODE, points: SMALL, min: 2.0 },
  { label: 'Selector echo ÷ Node net, large messages', server: 'ns-selector', base: BASELINE_NODE, points: LARGE, min: 3.0 },
  { label: 'Selector echo ÷ Python selectors, every point',
    server: 'ns-selector', base: BASELINE_PYTHON, points: EVERY, min: 1.0, strict: true },
  { label: 'coroutine loop (blocking) ÷ Node net, every point',
    server: 'ns-loop', base: BASELINE_NODE, points: EVERY, min: 1.5 },
  { label: 'coroutine loop (runAsync) ÷ Node net, every point',
    server: 'ns-loop-async', base: BASELINE_NODE, points: EVERY, min: 1.2 },
];

export const targetMet = (t: Target, v: number) => (t.strict ? v > t.min : v >= t.min);
export const targetBar = (t: Pick<Target, 'min' | 'strict'>) => `${t.strict ? '>' : '≥'} ${t.min.toFixed(2)}×`;

// ---------------------------------------------------------------------------
// The matrix. Full mode: 5 points x 3 repeats x ~3.3 s = ~50 s per server.

export interface Point { mode: 'pingpong' | 'stream'; size: number; conns: number }
export interface Plan {
  name: 'quick' | 'full'; points: Point[]; repeats: number; warmup: number; duration: number;
  budgetS: number; // retries of noisy runs stop once they would push the whole run past this
}

const pp = (size: number, conns: number): Point => ({ mode: 'pingpong', size, conns });
export const PLANS: Record<Plan['name'], Plan> = {
  full: {
    name: 'full', repeats: 3, warmup: 0.5, duration: 2.5, budgetS: 9 * 60,
    points: [pp(64, 10), pp(1024, 100), pp(16384, 10), pp(102400, 10), pp(1024, 1000)],
    // A throughput point, if wanted (adds ~15 s per server):
    // { mode: 'stream', size: 65536, conns: 10 },
  },
  quick: {
    name: 'quick', repeats: 1, warmup: 0.3, duration: 1.0, budgetS: 45,
    points: [pp(64, 10), pp(1024, 100), pp(102400, 10), pp(1024, 1000)],
  },
};

function sizeLabel(bytes: number): string {
  if (bytes % 1024 === 0) return `${bytes / 1024} KiB`;
  return `${bytes} B`;
}

export const pointId = (p: Point) => `${p.mode === 'stream' ? 'stream ' : ''}${sizeLabel(p.size)} × ${p.conns}`;
