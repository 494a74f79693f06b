// Echo-server benchmark runner (issue 6).
//
//   npx tsx bench/run.ts [--quick] [--servers a,b,...] [--repeats N] [--list]
//
// Starts every server of SERVERS once, pinned to CPU 0, and pauses it; then, for
// each repeat and each point of the matrix, wakes one server at a time and
// drives it with bench/bin/loadgen pinned to CPU 1. Writes the medians and the
// ratios to bench/results/latest.{json,md,svg}. Only Node built-ins.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const BENCH = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.dirname(BENCH);
const BIN = path.join(BENCH, 'bin');
const LOADGEN = path.join(BIN, 'loadgen');
// BENCH_RESULTS_DIR redirects the output (CI's smoke run keeps the committed results).
const RESULTS = process.env.BENCH_RESULTS_DIR ? path.resolve(process.env.BENCH_RESULTS_DIR) : path.join(BENCH, 'results');
const HOST = '127.0.0.1'; // loopback only, by design
const SERVER_CPU = '0';
const LOADGEN_CPU = '1';

// ---------------------------------------------------------------------------
// Servers. Each entry is one line; `cmd` gets the host and a free port.
// `optional` servers run only when named with --servers.

interface ServerSpec {
  name: string;
  cmd: (host: string, port: number) => string[];
  optional?: boolean;
  startTimeoutMs?: number;
  /** The loadgen's engine for this row (default epoll: see HARNESS_CHECK). */
  engine?: 'epoll' | 'auto';
}

const node = process.execPath;
// The interpreter itself, not a version-manager shim (pyenv's shim is a shell
// script that adds a process and ~100 ms to every start).
const python = process.env.PYTHON ?? (spawnSync('python3', ['-c', 'import sys; print(sys.executable)'],
  { encoding: 'utf8' }).stdout?.trim() || 'python3');
// A TypeScript server as one process (tsx's CLI would add a parent process,
// which would be the one pinned and paused).
const tsxLoader = pathToFileURL(path.join(ROOT, 'node_modules', 'tsx', 'dist', 'loader.mjs')).href;
const tsx = (file: string, ...args: string[]) => [node, '--import', tsxLoader, path.join(ROOT, file), ...args];
const script = (file: string) => path.join(BENCH, 'servers', file);

const HARNESS_CHECK = 'c-epoll (uring loadgen)';

// Every other row is driven by the epoll engine: it answers each echo the
// moment it sees it, as independent clients would; the uring engine answers a
// whole round at once, and in side-by-side runs the servers (C included) were
// up to ~25 % slower under those bursts.
const SERVERS: ServerSpec[] = [
  { name: 'c-epoll', cmd: (h, p) => [path.join(BIN, 'c-epoll-echo'), h, `${p}`] },
  // The harness check: the same C server driven by the loadgen's io_uring
  // engine, which makes about half the system calls per message. If the
  // cheaper loadgen does not raise the C reference's rate, the epoll loadgen
  // was not what held it (or anything slower) back.
  { name: HARNESS_CHECK, engine: 'auto', cmd: (h, p) => [path.join(BIN, 'c-epoll-echo'), h, `${p}`] },
  { name: 'node-net-data', cmd: (h, p) => [node, script('node-net-echo.mjs'), 'data', h, `${p}`] },
  { name: 'node-net-pipe', cmd: (h, p) => [node, script('node-net-echo.mjs'), 'pipe', h, `${p}`] },
  { name: 'python-selectors', cmd: (h, p) => [python, script('python-selectors-echo.py'), h, `${p}`] },
  { name: 'python-asyncio', cmd: (h, p) => [python, script('python-asyncio-echo.py'), h, `${p}`, 'streams'] },
  { name: 'python-asyncio-sock', optional: true,
    cmd: (h, p) => [python, script('python-asyncio-echo.py'), h, `${p}`, 'sock'] },
  { name: 'python-asyncio-protocol', optional: true,
    cmd: (h, p) => [python, script('python-asyncio-echo.py'), h, `${p}`, 'protocol'] },

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

// Ratios are computed against these two, when they are part of the run.
const BASELINE_NODE = 'node-net-data';
const BASELINE_C = 'c-epoll';
const BASELINE_PYTHON = 'python-selectors';

// Issue 6's targets: a ratio (from the same run) per server and point.
interface Target { label: string; server: string; base: 'vs_node' | 'vs_c' | 'vs_python'; points: string[]; min: number }
const SMALL = ['64 B × 10', '1 KiB × 100'];
const LARGE = ['16 KiB × 10', '100 KiB × 10'];
const EVERY = [...SMALL, ...LARGE, '1 KiB × 1000'];
const TARGETS: Target[] = [
  { label: 'Selector echo ÷ Node net, small messages', server: 'ns-selector', base: 'vs_node', points: SMALL, min: 2.0 },
  { label: 'Selector echo ÷ C reference, small messages', server: 'ns-selector', base: 'vs_c', points: SMALL, min: 0.9 },
  { label: 'Selector echo ÷ Node net, large messages', server: 'ns-selector', base: 'vs_node', points: LARGE, min: 3.0 },
  { label: 'Selector echo ÷ C reference, large messages', server: 'ns-selector', base: 'vs_c', points: LARGE, min: 0.85 },
  { label: 'Selector echo ÷ Python selectors, every point', server: 'ns-selector', base: 'vs_python', points: EVERY, min: 1.0 },
  { label: 'coroutine loop (blocking) ÷ Node net, every point', server: 'ns-loop', base: 'vs_node', points: EVERY, min: 1.5 },
  { label: 'coroutine loop (runAsync) ÷ Node net, every point', server: 'ns-loop-async', base: 'vs_node', points: EVERY, min: 1.2 },
];

// ---------------------------------------------------------------------------
// The matrix. Full mode: 5 points x 3 repeats x ~3.3 s = ~50 s per server,
// so the 8 servers fit in the 10-minute budget.

interface Point { mode: 'pingpong' | 'stream'; size: number; conns: number }
interface Plan {
  name: 'quick' | 'full'; points: Point[]; repeats: number; warmup: number; duration: number;
  budgetS: number; // retries of noisy runs stop once they would push the whole run past this
}

const pp = (size: number, conns: number): Point => ({ mode: 'pingpong', size, conns });
const PLANS: Record<Plan['name'], Plan> = {
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

const CONNECT_TIMEOUT_S = 10;
// Other processes using more than this (% of one core) make a run noisy: it is
// run again, up to MAX_ATTEMPTS times in all, while the time budget allows,
// and the quietest attempt is kept. The choice looks only at the other
// processes' CPU, never at the result.
const NOISY_PCT = 15;
const MAX_ATTEMPTS = 3;
// A loadgen busier than this (% of one core) while the server was not (below
// SERVER_SATURATED_PCT) was a limit itself: the figure is a floor for the
// server. When both are busy, the server is saturated too and the figure is
// its own rate under this load; the harness-check row tells whether a
// cheaper loadgen would change that.
const LOADGEN_BOUND_PCT = 90;
const SERVER_SATURATED_PCT = 90;
const harnessBound = (s: { loadgen_cpu_pct: number | null; server_cpu_pct: number | null }) =>
  (s.loadgen_cpu_pct ?? 0) >= LOADGEN_BOUND_PCT && (s.server_cpu_pct ?? 0) < SERVER_SATURATED_PCT;

// ---------------------------------------------------------------------------
// Child processes. Every child leads its own process group, so killing the
// group also reaches grandchildren (tsx runs the script in a child node). A
// group stays listed until it is stopped on purpose, even after its leader
// exits, because a grandchild may outlive the leader.

const children = new Set<ChildProcess>();

function spawnGroup(argv: string[]): ChildProcess {
  const child = spawn(argv[0]!, argv.slice(1), {
    cwd: ROOT, detached: true, stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  return child;
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // ESRCH: the whole group is already gone
  }
}

async function stopGroup(child: ChildProcess, graceMs = 2000): Promise<void> {
  if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    killGroup(child, 'SIGTERM');
    killGroup(child, 'SIGCONT'); // a stopped process acts on SIGTERM only once resumed
    await Promise.race([exited, sleep(graceMs)]);
  }
  killGroup(child, 'SIGKILL'); // stragglers of the group, if any
  children.delete(child);
}

function killAllNow(): void {
  for (const child of children) killGroup(child, 'SIGKILL');
  children.clear();
}

process.on('exit', killAllNow);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(sig, () => {
    console.error(`\nrun: ${sig}, stopping every child`);
    killAllNow();
    process.exit(128 + os.constants.signals[sig]);
  });
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function pinned(cpu: string, argv: string[]): string[] {
  return pinning ? ['taskset', '-c', cpu, ...argv] : argv;
}

// ---------------------------------------------------------------------------
// CPU time of a process group, from /proc (in clock ticks of 1/100 s).

const CLK_TCK = 100; // USER_HZ: fixed at 100 for /proc on Linux

function groupCpuTicks(pgid: number): number {
  let ticks = 0;
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // exited meanwhile
    }
    // Fields after the parenthesised command name, which may contain spaces.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(f[2]) === pgid) ticks += Number(f[11]) + Number(f[12]);
  }
  return ticks;
}

// Busy time of the whole machine (user + nice + system; interrupts are left
// out because loopback TCP spends ours there), to tell how much CPU processes
// other than ours took during a run: on a shared machine that is the noise.
function machineBusyTicks(): number {
  const f = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/);
  return Number(f[1]) + Number(f[2]) + Number(f[3]);
}

async function otherLoadPct(ms: number): Promise<number> {
  const b0 = machineBusyTicks(), t0 = Date.now();
  await sleep(ms);
  return ((machineBusyTicks() - b0) / CLK_TCK / ((Date.now() - t0) / 1000)) * 100;
}

// ---------------------------------------------------------------------------
// Servers: start, wait for "listening on HOST:PORT", stop.

interface RunningServer { spec: ServerSpec; child: ChildProcess; port: number; stderr: string[] }

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', reject);
    probe.listen(0, HOST, () => {
      const { port } = probe.address() as net.AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

function keepTail(lines: string[], chunk: string, max = 20): void {
  lines.push(...chunk.split('\n').filter(Boolean));
  lines.splice(0, Math.max(0, lines.length - max));
}

async function startServer(spec: ServerSpec): Promise<RunningServer> {
  let lastError: unknown;
  // A port probed free can be taken before the server binds it: retry.
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const child = spawnGroup(pinned(SERVER_CPU, spec.cmd(HOST, port)));
    const stderr: string[] = [];
    child.stderr!.setEncoding('utf8').on('data', (d: string) => keepTail(stderr, d));
    try {
      const readyPort = await new Promise<number>((resolve, reject) => {
        let out = '';
        const timeoutMs = spec.startTimeoutMs ?? 15_000;
        const timer = setTimeout(() => reject(new Error(`no ready line within ${timeoutMs} ms`)), timeoutMs);
        child.stdout!.setEncoding('utf8').on('data', (d: string) => {
          if (out.length < 65536) out += d;
          const m = /listening on (.+):(\d+)\s*$/m.exec(out);
          if (m) {
            clearTimeout(timer);
            resolve(Number(m[2]));
          }
        });
        child.once('error', (e) => { clearTimeout(timer); reject(e); });
        child.once('exit', (code, sig) => {
          clearTimeout(timer);
          reject(new Error(`exited (${sig ?? code}) before it was ready`));
        });
      });
      child.stdout!.resume(); // keep draining: a server must never block on its stdout
      return { spec, child, port: readyPort, stderr };
    } catch (e) {
      await stopGroup(child);
      lastError = new Error(`${spec.name}: ${(e as Error).message}` +
        (stderr.length ? `\n  ${stderr.join('\n  ')}` : ''));
    }
  }
  throw lastError;
}

// ---------------------------------------------------------------------------
// One loadgen run against a running server.

interface LoadgenResult {
  mode: string; conns: number; size: number; seconds: number; messages: number;
  msgs_per_sec: number; mib_per_sec: number; p50_us: number; p99_us: number;
  byte_errors: number; connect_errors: number; disconnects: number; cpu_pct: number; cpu_total_s: number;
  engine?: string; // the loadgen's engine (older builds did not say: epoll)
}

interface Run {
  server: string; point: string; rep: number; ok: boolean; error?: string;
  result?: LoadgenResult; server_cpu_pct?: number;
  other_cpu_pct?: number; // CPU used by processes other than the server and loadgen, % of one core
  attempts?: number;
}

async function runLoadgen(srv: RunningServer, point: Point, plan: Plan): Promise<Omit<Run, 'server' | 'point' | 'rep'>> {
  const argv = [LOADGEN, '--engine', srv.spec.engine ?? 'epoll', '--host', HOST, '--port', `${srv.port}`, '--mode', point.mode,
    '--conns', `${point.conns}`, '--size', `${point.size}`, '--warmup', `${plan.warmup}`,
    '--duration', `${plan.duration}`, '--connect-timeout', `${CONNECT_TIMEOUT_S}`];
  const pgid = srv.child.pid!;
  const cpu0 = groupCpuTicks(pgid), busy0 = machineBusyTicks();
  const t0 = process.hrtime.bigint();
  const child = spawnGroup(pinned(LOADGEN_CPU, argv));
  let stdout = '';
  const stderr: string[] = [];
  child.stdout!.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
  child.stderr!.setEncoding('utf8').on('data', (d: string) => keepTail(stderr, d));
  const limitMs = (plan.warmup + plan.duration + CONNECT_TIMEOUT_S + 5) * 1000;
  const timer = setTimeout(() => killGroup(child, 'SIGKILL'), limitMs);
  const code = await new Promise<number | null>((resolve) => {
    child.once('error', () => resolve(null));
    child.once('close', (c) => resolve(c));
  });
  clearTimeout(timer);
  killGroup(child, 'SIGKILL'); // nothing of it may linger into the next run
  children.delete(child);
  const wallS = Number(process.hrtime.bigint() - t0) / 1e9;
  // Server CPU over the whole loadgen run (connect + warm-up + measure):
  // close enough to tell a saturated server (~100 %) from an idle one.
  const serverTicks = groupCpuTicks(pgid) - cpu0, busyTicks = machineBusyTicks() - busy0;
  const serverCpu = (serverTicks / CLK_TCK / wallS) * 100;

  const line = stdout.trim().split('\n').pop() ?? '';
  let result: LoadgenResult | undefined;
  try {
    result = line ? (JSON.parse(line) as LoadgenResult) : undefined;
  } catch {
    result = undefined;
  }
  const why = stderr.join(' | ');
  if (!result) return { ok: false, error: `loadgen exit ${code}: ${why || 'no output'}` };
  const ok = code === 0 && result.messages > 0;
  const otherS = busyTicks / CLK_TCK - serverTicks / CLK_TCK - (result.cpu_total_s ?? 0);
  return { ok, result, server_cpu_pct: round(serverCpu, 1),
    other_cpu_pct: round(Math.max(0, (otherS / wallS) * 100), 1),
    error: ok ? undefined : `loadgen exit ${code}${why ? `: ${why}` : ''}` };
}

// ---------------------------------------------------------------------------
// Statistics and formatting.

const round = (x: number, digits = 0) => Math.round(x * 10 ** digits) / 10 ** digits;

function median(xs: number[]): number | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

function sizeLabel(bytes: number): string {
  if (bytes % 1024 === 0) return `${bytes / 1024} KiB`;
  return `${bytes} B`;
}

const pointId = (p: Point) => `${p.mode === 'stream' ? 'stream ' : ''}${sizeLabel(p.size)} × ${p.conns}`;

const fmtInt = (x: number | null) => (x === null ? '–' : Math.round(x).toLocaleString('en-US'));
const fmtRatio = (x: number | null) => (x === null ? '–' : `${x.toFixed(2)}×`);
const fmtUs = (x: number | null) =>
  x === null ? '–' : x >= 10_000 ? `${(x / 1000).toFixed(0)} ms` : x >= 1000 ? `${(x / 1000).toFixed(1)} ms` : `${x.toFixed(0)} µs`;

interface Summary {
  server: string; point: string; runs: number; failed: number;
  msgs_per_sec: number | null; mib_per_sec: number | null; p50_us: number | null; p99_us: number | null;
  server_cpu_pct: number | null; loadgen_cpu_pct: number | null; other_cpu_pct: number | null;
  byte_errors: number; connect_errors: number; disconnects: number;
  vs_node: number | null; vs_c: number | null; vs_python: number | null;
  engine: string | null; // the loadgen's engine in these runs
  spread_pct: number | null; // half the range of msgs/s over repeats, % of the median
}

function summarise(servers: string[], points: Point[], runs: Run[]): Summary[] {
  const out: Summary[] = [];
  for (const server of servers) {
    for (const p of points) {
      const id = pointId(p);
      const mine = runs.filter((r) => r.server === server && r.point === id);
      const good = mine.filter((r) => r.ok && r.result);
      const pick = (f: (r: Run) => number) => median(good.map(f));
      const sum = (f: (r: LoadgenResult) => number) =>
        mine.reduce((acc, r) => acc + (r.result ? f(r.result) : 0), 0);
      const m = pick((r) => r.result!.msgs_per_sec);
      out.push({
        server, point: id, runs: good.length, failed: mine.length - good.length,
        msgs_per_sec: m === null ? null : round(m, 1),
        mib_per_sec: nullable(pick((r) => r.result!.mib_per_sec), 2),
        p50_us: nullable(pick((r) => r.result!.p50_us), 1),
        p99_us: nullable(pick((r) => r.result!.p99_us), 1),
        server_cpu_pct: nullable(pick((r) => r.server_cpu_pct ?? 0), 1),
        loadgen_cpu_pct: nullable(pick((r) => r.result!.cpu_pct), 1),
        other_cpu_pct: nullable(pick((r) => r.other_cpu_pct ?? 0), 1),
        byte_errors: sum((r) => r.byte_errors),
        connect_errors: sum((r) => r.connect_errors),
        disconnects: sum((r) => r.disconnects),
        vs_node: null, vs_c: null, vs_python: null, spread_pct: null,
        engine: [...new Set(good.map((r) => r.result!.engine ?? 'epoll'))].join(', ') || null,
      });
    }
  }
  // Ratios pair runs of the same repeat and point, which ran seconds apart,
  // then take the median: slow drift of the machine cancels out.
  const rates = (server: string, point: string) => new Map(runs
    .filter((r) => r.ok && r.result && r.server === server && r.point === point)
    .map((r) => [r.rep, r.result!.msgs_per_sec]));
  const pairedRatio = (mine: Map<number, number>, base: Map<number, number>) =>
    nullable(median([...mine].filter(([rep]) => base.get(rep)).map(([rep, v]) => v / base.get(rep)!)), 3);
  for (const s of out) {
    const mine = rates(s.server, s.point);
    s.vs_node = pairedRatio(mine, rates(BASELINE_NODE, s.point));
    s.vs_c = pairedRatio(mine, rates(BASELINE_C, s.point));
    s.vs_python = pairedRatio(mine, rates(BASELINE_PYTHON, s.point));
    const v = [...mine.values()];
    s.spread_pct = v.length > 1 && s.msgs_per_sec
      ? round(((Math.max(...v) - Math.min(...v)) / 2 / s.msgs_per_sec) * 100, 1) : null;
  }
  return out;
}

function nullable(x: number | null, digits: number): number | null {
  return x === null ? null : round(x, digits);
}

function markdown(meta: Meta, servers: string[], points: Point[], sums: Summary[]): string {
  const ids = points.map(pointId);
  const get = (server: string, id: string) => sums.find((s) => s.server === server && s.point === id)!;
  const table = (title: string, cell: (s: Summary) => string, note = '') => [
    `### ${title}`, '', ...(note ? [note, ''] : []),
    `| server | ${ids.join(' | ')} |`,
    `|---|${ids.map(() => '---:').join('|')}|`,
    ...servers.map((srv) => `| ${srv} | ${ids.map((id) => cell(get(srv, id))).join(' | ')} |`),
    '',
  ];
  const lines = [
    `## Echo benchmark (${meta.plan} mode, ${meta.date.slice(0, 10)})`,
    '',
    `${meta.machine.cpus} × ${meta.machine.cpu_model}, ${meta.machine.kernel}; ` +
      `Node ${meta.versions.node}, ${meta.versions.python}. ` +
      (meta.pinning ? `Server pinned to CPU ${SERVER_CPU}, loadgen to CPU ${LOADGEN_CPU}; ` +
        'the servers not being measured are paused (SIGSTOP). '
        : 'No CPU pinning (taskset unavailable or fewer than 2 CPUs). ') +
      `Ping-pong: each connection sends a message and waits for its echo. ` +
      `Warm-up ${meta.warmup_s} s, measure ${meta.duration_s} s, ` +
      `median of ${meta.repeats} run${meta.repeats > 1 ? 's' : ''} (ratios: median of the ratios ` +
      'of runs made back to back); columns are message size × connections. ' +
      `A run during which other processes used ≥ ${NOISY_PCT} % of a core is repeated, time ` +
      `permitting, up to ${MAX_ATTEMPTS} attempts, and the quietest attempt kept.`,
    '',
    ...table('Messages per second', (s) => fmtInt(s.msgs_per_sec) +
      (s.spread_pct === null ? '' : ` ±${s.spread_pct.toFixed(0)}%`) + (harnessBound(s) ? ' †' : ''),
      (meta.repeats > 1 ? '± is half the range over the repeats: how noisy the machine was. ' : '') +
      `† the loadgen was ≥ ${LOADGEN_BOUND_PCT} % busy and the server was not (< ${SERVER_SATURATED_PCT} %): ` +
      'the figure is the harness\'s limit, a floor for the server. ' +
      (servers.includes(HARNESS_CHECK) && servers.includes(BASELINE_C)
        ? `\`${HARNESS_CHECK}\` is the harness check: the C reference driven by the loadgen's io_uring engine ` +
          `(${engineOf(sums, HARNESS_CHECK)}), which spends about half the system calls per message; ` +
          'every other row uses the epoll engine.' : '')),
    ...(servers.includes(BASELINE_NODE)
      ? table(`Relative to Node \`net\` (${BASELINE_NODE})`, (s) => fmtRatio(s.vs_node) + (harnessBound(s) ? ' †' : '')) : []),
    ...(servers.includes(BASELINE_C)
      ? table(`Relative to the C reference (${BASELINE_C})`, (s) => fmtRatio(s.vs_c) + (harnessBound(s) ? ' †' : ''),
        `Where the C reference itself is marked †, the loadgen, not the C server, set the 1.00; ` +
        'ratios near or above 1 then only say "as fast as the harness can tell".' +
        (servers.includes(HARNESS_CHECK)
          ? ` The \`${HARNESS_CHECK}\` row near or below 1.00: a cheaper loadgen does not make the C ` +
            'reference faster, so the epoll loadgen is not its limit.' : '')) : []),
    ...targetTable(servers, sums),
    ...table('Latency p50 / p99', (s) => `${fmtUs(s.p50_us)} / ${fmtUs(s.p99_us)}`),
    ...table('CPU, server / loadgen / other processes (% of one core)',
      (s) => (s.server_cpu_pct === null ? '–'
        : `${s.server_cpu_pct.toFixed(0)} / ${s.loadgen_cpu_pct!.toFixed(0)} / ${s.other_cpu_pct!.toFixed(0)}`),
      'A server near 100 % with the loadgen well below it: the server is the bottleneck. ' +
      'Both near 100 %: they are evenly matched and the figure is a floor for the server. ' +
      'Both well below: the run waited on wake-ups between the two CPUs (latency-bound), ' +
      'or other processes took the CPUs (the third figure).'),
  ];
  const noisy = Math.max(0, ...sums.map((s) => s.other_cpu_pct ?? 0));
  if (noisy >= NOISY_PCT) {
    lines.push(`**Noisy machine:** other processes used up to ${noisy.toFixed(0)} % of a core ` +
      'during the runs (median per point); treat these figures as rough.', '');
  }
  const problems = sums.filter((s) => s.failed || s.byte_errors || s.connect_errors || s.disconnects);
  lines.push(problems.length === 0
    ? 'Every echoed byte was checked: no corrupted bytes, no failed or lost connections.'
    : `**Problems:** ${problems.map((s) => `${s.server} @ ${s.point}: ${s.failed} failed runs, ` +
        `${s.byte_errors} wrong bytes, ${s.connect_errors} connect errors, ${s.disconnects} lost connections`).join('; ')}`);
  return `${lines.join('\n')}\n`;
}

// The targets as a checklist: each ratio, and whether it reached its bar
// (> for "faster than", >= otherwise).
function targetTable(servers: string[], sums: Summary[]): string[] {
  const rows: string[] = [];
  for (const t of TARGETS) {
    const baseName = { vs_node: BASELINE_NODE, vs_c: BASELINE_C, vs_python: BASELINE_PYTHON }[t.base];
    if (!servers.includes(t.server) || !servers.includes(baseName)) continue;
    const cells = t.points.map((point) => {
      const s = sums.find((x) => x.server === t.server && x.point === point);
      const v = s?.[t.base] ?? null;
      if (v === null) return `${point}: –`;
      const met = t.min === 1.0 ? v > 1.0 : v >= t.min;
      // A base the loadgen held back (†) makes the ratio unreliable: say so.
      const base = sums.find((x) => x.server === baseName && x.point === point);
      const shown = `${v.toFixed(3)}×`; // three decimals: 2.00× must not hide a 1.997× miss
      return `${point}: ${shown} ${met ? '✓' : '✗'}${base && harnessBound(base) ? ' †' : ''}`;
    });
    rows.push(`| ${t.label} | ${t.min === 1.0 ? '> 1.00×' : `≥ ${t.min.toFixed(2)}×`} | ${cells.join('; ')} |`);
  }
  if (rows.length === 0) return [];
  return ['### Targets (issue 6)', '', 'Ratios as in the tables above (medians of back-to-back pairs); † the base ' +
    'of the ratio was held back by the loadgen at that point, so the ratio overstates the server.', '',
    '| target | bar | measured |', '|---|---|---|', ...rows, ''];
}

// Which engine the loadgen used for a row ("uring", or "epoll" where the
// kernel had no io_uring).
function engineOf(sums: Summary[], server: string): string {
  const seen = [...new Set(sums.filter((s) => s.server === server).map((s) => s.engine).filter(Boolean))];
  return seen.length ? `used: ${seen.join(', ')}` : 'no run';
}

// Grouped bars: one group per point, one bar per server, height = throughput
// relative to the C reference (or to Node net, or to the best server), because
// absolute rates differ by orders of magnitude between points.
function svgChart(meta: Meta, servers: string[], points: Point[], sums: Summary[]): string {
  const PALETTE = ['#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f', '#edc948', '#b07aa1',
    '#ff9da7', '#9c755f', '#bab0ac'];
  const ids = points.map(pointId);
  const get = (server: string, id: string) => sums.find((s) => s.server === server && s.point === id)!;
  const base = servers.includes(BASELINE_C) ? BASELINE_C : servers.includes(BASELINE_NODE) ? BASELINE_NODE : null;
  const value = (s: Summary): number | null => {
    if (s.msgs_per_sec === null) return null;
    if (base === BASELINE_C) return s.vs_c;
    if (base === BASELINE_NODE) return s.vs_node;
    const best = Math.max(...servers.map((srv) => get(srv, s.point).msgs_per_sec ?? 0));
    return best ? s.msgs_per_sec / best : null;
  };
  const top = Math.max(1, ...sums.map((s) => value(s) ?? 0));
  const step = [0.25, 0.5, 1, 2, 5, 10, 20, 50].find((st) => top / st <= 8) ?? 100;
  const yMax = Math.ceil(top / step - 1e-9) * step;

  const barW = 16, barGap = 2;
  const groupW = servers.length * (barW + barGap) - barGap;
  const left = 56, right = 16, plotTop = 64 + 18 * Math.ceil(servers.length / 4), plotH = 260;
  const width = Math.max(640, left + right + ids.length * (groupW + 28));
  const slot = (width - left - right) / ids.length; // each group centred in its slot
  const height = plotTop + plotH + 56;
  const y = (v: number) => plotTop + plotH - (v / yMax) * plotH;
  const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" ` +
    `viewBox="0 0 ${width} ${height}" font-family="system-ui, sans-serif" font-size="11">`);
  out.push(`<rect width="${width}" height="${height}" fill="#fff"/>`);
  out.push(`<text x="${left}" y="20" font-size="14" font-weight="bold">${esc(
    `Echo throughput relative to ${base ?? 'the fastest server'} (= 1.0), higher is better`)}</text>`);
  out.push(`<text x="${left}" y="36" fill="#555">${esc(
    `${meta.plan} mode, median of ${meta.repeats}, ${meta.date.slice(0, 10)}; ` +
    'hover a bar for messages/s')}</text>`);
  servers.forEach((srv, i) => {
    const lx = left + (i % 4) * 150, ly = 52 + 18 * Math.floor(i / 4);
    out.push(`<rect x="${lx}" y="${ly - 9}" width="10" height="10" fill="${PALETTE[i % PALETTE.length]}"/>`);
    out.push(`<text x="${lx + 14}" y="${ly}">${esc(srv)}</text>`);
  });
  for (let i = 0; i * step <= yMax + 1e-9; i++) {
    const v = i * step;
    out.push(`<line x1="${left}" x2="${width - right}" y1="${y(v)}" y2="${y(v)}" stroke="${v === 0 ? '#333' : '#ddd'}"/>`);
    out.push(`<text x="${left - 6}" y="${y(v) + 4}" text-anchor="end" fill="#555">${v.toFixed(2)}</text>`);
  }
  ids.forEach((id, g) => {
    const gx = left + g * slot + (slot - groupW) / 2;
    servers.forEach((srv, i) => {
      const s = get(srv, id), v = value(s), x = gx + i * (barW + barGap);
      if (v === null) {
        out.push(`<text x="${x + barW / 2}" y="${y(0) - 4}" text-anchor="middle" fill="#999">×</text>`);
        return;
      }
      out.push(`<rect x="${x}" y="${y(v)}" width="${barW}" height="${y(0) - y(v)}" fill="${PALETTE[i % PALETTE.length]}">` +
        `<title>${esc(`${srv}, ${id}: ${fmtInt(s.msgs_per_sec)} msg/s, ${v.toFixed(2)}×`)}</title></rect>`);
      out.push(`<text x="${x + barW / 2}" y="${y(v) - 3}" text-anchor="middle" font-size="8" fill="#333">${
        v >= 10 ? v.toFixed(0) : v.toFixed(2).replace(/^0/, '')}${harnessBound(s) ? '†' : ''}</text>`);
    });
    out.push(`<text x="${gx + groupW / 2}" y="${plotTop + plotH + 18}" text-anchor="middle">${esc(id)}</text>`);
  });
  out.push(`<text x="${left}" y="${height - 10}" fill="#555">${esc(
    `message size × connections, ping-pong; × no result; † loadgen ≥ ${LOADGEN_BOUND_PCT} % busy: harness limit`)}</text>`);
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

// ---------------------------------------------------------------------------
// Main.

interface Meta {
  date: string; plan: string; repeats: number; warmup_s: number; duration_s: number; pinning: boolean;
  machine: { cpus: number; cpu_model: string; kernel: string };
  versions: { node: string; python: string; cc: string };
  wall_s?: number;
  other_cpu_pct_before?: number;
}

let pinning = false;

function parseArgs(argv: string[]) {
  const args = { quick: false, servers: null as string[] | null, repeats: null as number | null, list: false,
    render: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--quick') args.quick = true;
    else if (a === '--list') args.list = true;
    else if (a === '--render') args.render = true;
    else if (a === '--servers') args.servers = (argv[++i] ?? '').split(',').filter(Boolean);
    else if (a === '--repeats') args.repeats = Number(argv[++i]);
    else {
      console.error('usage: npx tsx bench/run.ts [--quick] [--servers a,b,...] [--repeats N] [--list | --render]');
      process.exit(1);
    }
  }
  if (args.repeats !== null && !(Number.isInteger(args.repeats) && args.repeats >= 1 && args.repeats <= 20)) {
    console.error('run: --repeats must be an integer from 1 to 20');
    process.exit(1);
  }
  return args;
}

function writeReports(meta: Meta, servers: string[], points: Point[], sums: Summary[]): void {
  const md = markdown(meta, servers, points, sums);
  fs.writeFileSync(path.join(RESULTS, 'latest.md'), md);
  fs.writeFileSync(path.join(RESULTS, 'latest.svg'), svgChart(meta, servers, points, sums));
  console.log(md);
}

function firstLine(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return `${r.stdout ?? ''}${r.stderr ?? ''}`.trim().split('\n')[0] || 'unknown';
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  if (args.list) {
    for (const s of SERVERS) console.log(`${s.name}${s.optional ? ' (optional)' : ''}`);
    return;
  }
  if (args.render) { // redraw latest.md and latest.svg from latest.json, without running anything
    const saved = JSON.parse(fs.readFileSync(path.join(RESULTS, 'latest.json'), 'utf8'));
    writeReports(saved.meta, saved.servers, saved.points, summarise(saved.servers, saved.points, saved.runs));
    return;
  }
  const plan: Plan = { ...PLANS[args.quick ? 'quick' : 'full'] };
  if (args.repeats !== null) plan.repeats = args.repeats;
  // The harness check answers a question about full runs; quick mode (CI's
  // smoke test, under a minute) leaves it out unless named.
  let servers = SERVERS.filter((s) => !s.optional && !(plan.name === 'quick' && s.name === HARNESS_CHECK));
  if (args.servers) {
    const unknown = args.servers.filter((n) => !SERVERS.some((s) => s.name === n));
    if (unknown.length) {
      console.error(`run: unknown server(s): ${unknown.join(', ')} (see --list)`);
      process.exit(1);
    }
    servers = SERVERS.filter((s) => args.servers!.includes(s.name));
  }

  const build = spawnSync('sh', [path.join(BENCH, 'build.sh')], { stdio: 'inherit' });
  if (build.status !== 0) throw new Error('bench/build.sh failed');

  pinning = os.cpus().length >= 2 && spawnSync('taskset', ['-c', '1', 'true']).status === 0;
  if (!pinning) console.error('run: warning: running without CPU pinning; figures will be noisier');

  const meta: Meta = {
    date: new Date().toISOString(), plan: plan.name, repeats: plan.repeats,
    warmup_s: plan.warmup, duration_s: plan.duration, pinning,
    machine: { cpus: os.cpus().length, cpu_model: os.cpus()[0]?.model.trim() ?? 'unknown', kernel: `${os.type()} ${os.release()}` },
    versions: { node: process.version, python: firstLine(python, ['--version']), cc: firstLine('cc', ['--version']) },
  };

  const idleLoad = await otherLoadPct(500);
  if (idleLoad >= NOISY_PCT) {
    console.error(`run: warning: the machine is busy (${idleLoad.toFixed(0)} % of a core used by other ` +
      'processes before we start); figures will be noisy');
  }
  meta.other_cpu_pct_before = round(idleLoad, 1);

  const total = plan.repeats * servers.length * plan.points.length;
  const perRunS = plan.warmup + plan.duration + 0.4;
  const estimateS = total * perRunS + servers.length;
  console.error(`run: ${plan.name} mode, ${servers.length} servers × ${plan.points.length} points × ` +
    `${plan.repeats} repeats = ${total} runs, about ${Math.ceil(estimateS / 60)} min`);

  // Every server starts once and then sleeps under SIGSTOP except while it is
  // measured: a server that spins when idle (a bug in a new one, say) cannot
  // steal CPU 0 from the others, and servers alternate point by point, so the
  // runs compared in a ratio are seconds apart, not minutes, on a machine
  // whose speed drifts.
  const running = new Map<string, RunningServer | null>();
  const runs: Run[] = [];
  const started = Date.now();
  const deadline = started + plan.budgetS * 1000;
  try {
    for (const spec of servers) {
      try {
        const srv = await startServer(spec);
        killGroup(srv.child, 'SIGSTOP');
        running.set(spec.name, srv);
      } catch (e) {
        console.error(`run: ${(e as Error).message}`);
        running.set(spec.name, null);
      }
    }
    let done = 0;
    for (let rep = 0; rep < plan.repeats; rep++) {
      for (const [pi, point] of plan.points.entries()) {
        const id = pointId(point);
        // Rotate who goes first, so no server always runs right after another.
        const shift = (rep + pi) % servers.length;
        const order = servers.map((_, i) => servers[(i + shift) % servers.length]!);
        for (const spec of order) {
          done++;
          const srv = running.get(spec.name) ?? null;
          const base = { server: spec.name, point: id, rep };
          if (!srv || srv.child.exitCode !== null || srv.child.signalCode !== null) {
            const error = srv ? `server exited: ${srv.stderr.join(' | ')}` : 'server did not start';
            runs.push({ ...base, ok: false, error });
            console.error(`[${String(done).padStart(3)}/${total}] ${spec.name.padEnd(22)} ${id.padEnd(14)} FAILED: ${error}`);
            continue;
          }
          killGroup(srv.child, 'SIGCONT');
          let r = await runLoadgen(srv, point, plan);
          let attempts = 1;
          while (attempts < MAX_ATTEMPTS && (r.other_cpu_pct ?? 0) >= NOISY_PCT &&
                 Date.now() + (total - done + 1) * perRunS * 1000 < deadline) {
            await sleep(200);
            const again = await runLoadgen(srv, point, plan);
            attempts++;
            if ((again.other_cpu_pct ?? Infinity) < (r.other_cpu_pct ?? Infinity)) r = again;
          }
          await sleep(100); // let it close the finished connections before it sleeps
          killGroup(srv.child, 'SIGSTOP');
          runs.push({ ...base, ...r, attempts });
          const res = r.result;
          console.error(`[${String(done).padStart(3)}/${total}] ${spec.name.padEnd(22)} ${id.padEnd(14)} ` +
            (res ? `${fmtInt(res.msgs_per_sec).padStart(9)} msg/s  p50 ${fmtUs(res.p50_us).padStart(7)}  ` +
              `p99 ${fmtUs(res.p99_us).padStart(7)}  cpu srv ${r.server_cpu_pct!.toFixed(0).padStart(3)}% ` +
              `lg ${res.cpu_pct.toFixed(0).padStart(3)}% other ${r.other_cpu_pct!.toFixed(0).padStart(3)}%` +
              (attempts > 1 ? ` (quietest of ${attempts})` : '') : '') +
            (r.ok ? '' : `  FAILED: ${r.error}`));
        }
      }
    }
  } finally {
    await Promise.all([...running.values()].map((srv) => (srv ? stopGroup(srv.child) : undefined)));
  }
  meta.wall_s = round((Date.now() - started) / 1000, 1);

  const names = servers.map((s) => s.name);
  const sums = summarise(names, plan.points, runs);
  fs.mkdirSync(RESULTS, { recursive: true });
  const json = { meta, points: plan.points.map((p) => ({ id: pointId(p), ...p })), servers: names, summary: sums, runs };
  fs.writeFileSync(path.join(RESULTS, 'latest.json'), `${JSON.stringify(json, null, 2)}\n`);
  writeReports(meta, names, plan.points, sums);
  console.error(`run: ${meta.wall_s} s; wrote ${path.relative(ROOT, RESULTS) || '.'}/latest.{json,md,svg}`);
  if (runs.some((r) => !r.ok)) process.exitCode = 1;
}

main().catch((e) => {
  console.error(`run: ${(e as Error).stack ?? e}`);
  killAllNow();
  process.exit(1);
});
