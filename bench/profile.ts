// Per-message cost of one echo server: CPU (user, system), system calls, and
// where the time outside the kernel goes.
//
//   npx tsx bench/profile.ts SERVER [--size 64] [--conns 10] [--seconds 5]
//       [--cpu-prof | --perf] [--top 25] [--root DIR] [--json]
//
// SERVER: c-epoll, ns-selector, ns-selector-example, ns-loop, ns-loop-uring
// (the command lines of bench/run.ts's rows of those names). The server runs
// pinned to CPU 0, bench/bin/loadgen (--engine auto, ping-pong) pinned to
// CPU 1. Three phases against the same warm server process:
//   1. CPU: loadgen runs --warmup 1 --duration SECONDS; /proc/PID/stat
//      (utime, stime: every thread of the process) is sampled at the start
//      and the end of a window inside its measured interval. Per message =
//      CPU in the window / (loadgen's msgs/s x the window's wall time).
//   2. System calls: a second, shorter loadgen run while `perf stat` counts
//      raw_syscalls:sys_enter and a few named syscalls for the server
//      (separately, so its cost does not count in phase 1).
//   3. With --perf, a third run under `perf record -g` (node servers get
//      --perf-basic-prof so JIT frames have names), summarised by self time
//      into kernel / JIT JS / node+V8 / addon / libc / GC. With --cpu-prof,
//      node --cpu-prof records the server's whole life; after the third run
//      SIGTERM makes it exit and write the profile (only servers that handle
//      SIGTERM: ns-loop*, ns-selector-example), summarised by self time per
//      function. (Driving the profiler from a worker through the inspector
//      slowed the server tenfold, so it is not used.)
// --root DIR runs the servers of another checkout (A/B against a base
// build); --json prints one JSON line instead of the tables. Node built-ins only.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const BENCH = path.dirname(fileURLToPath(import.meta.url));
const HOST = '127.0.0.1';

// ---------------------------------------------------------------- arguments
const argv = process.argv.slice(2);
function option(name: string, fallback: string): string {
  const at = argv.indexOf(`--${name}`);
  if (at < 0) return fallback;
  const value = argv[at + 1];
  if (value === undefined) usage(`--${name} needs a value`);
  argv.splice(at, 2);
  return value;
}
function flag(name: string): boolean {
  const at = argv.indexOf(`--${name}`);
  if (at >= 0) argv.splice(at, 1);
  return at >= 0;
}
function usage(why: string): never {
  console.error(`profile: ${why}\nusage: npx tsx bench/profile.ts SERVER [--size 64] [--conns 10] [--seconds 5] ` +
    '[--cpu-prof | --perf] [--top 25] [--root DIR] [--json]');
  process.exit(1);
}
const size = Number(option('size', '64'));
const conns = Number(option('conns', '10'));
const seconds = Number(option('seconds', '5'));
const top = Number(option('top', '25'));
const ROOT = path.resolve(option('root', path.dirname(BENCH)));
const cpuProf = flag('cpu-prof');
const perfRecord = flag('perf');
const asJson = flag('json');
const serverName = argv[0] ?? usage('SERVER is missing');
if (argv.length > 1) usage(`unknown arguments: ${argv.slice(1).join(' ')}`);
if (cpuProf && perfRecord) usage('--cpu-prof and --perf are exclusive');
for (const [k, v] of Object.entries({ size, conns, seconds, top })) {
  if (!Number.isFinite(v) || v <= 0) usage(`--${k} must be a positive number`);
}

// ---------------------------------------------------------------- servers
// Same command lines as bench/run.ts (copied, not imported: run.ts runs on import).
const BIN = path.join(BENCH, 'bin');
const node = process.execPath;
const tsxLoader = pathToFileURL(path.join(ROOT, 'node_modules', 'tsx', 'dist', 'loader.mjs')).href;
const tsx = (file: string, ...args: string[]) => (nodeFlags: string[]) =>
  [node, ...nodeFlags, '--import', tsxLoader, path.join(ROOT, file), ...args];
type Cmd = (nodeFlags: string[]) => string[];
const SERVERS: Record<string, (port: number) => { cmd: Cmd; isNode: boolean }> = {
  'c-epoll': (p) => ({ cmd: () => [path.join(BIN, 'c-epoll-echo'), HOST, `${p}`], isNode: false }),
  'ns-selector': (p) => ({ cmd: tsx('bench/servers/selector-echo.ts', HOST, `${p}`), isNode: true }),
  'ns-selector-example': (p) => ({ cmd: tsx('examples/selector-echo.ts', HOST, `${p}`, '--quiet'), isNode: true }),
  'ns-loop': (p) => ({ cmd: tsx('bench/servers/loop-echo.ts', HOST, `${p}`, 'blocking'), isNode: true }),
  'ns-loop-uring': (p) => ({
    cmd: tsx('bench/servers/loop-echo.ts', HOST, `${p}`, 'blocking', '--io', 'io_uring'), isNode: true,
  }),
};
const makeServer = SERVERS[serverName] ?? usage(`unknown SERVER ${serverName}; one of ${Object.keys(SERVERS).join(', ')}`);

// ---------------------------------------------------------------- processes
const children = new Set<ChildProcess>();
function start(args: string[], cpu: string | null, env?: NodeJS.ProcessEnv): ChildProcess {
  const full = cpu === null ? args : ['taskset', '-c', cpu, ...args];
  const child = spawn(full[0]!, full.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], detached: true, env: env ?? process.env });
  children.add(child);
  child.on('exit', () => children.delete(child));
  return child;
}
function killAll(): void {
  for (const child of children) {
    try { process.kill(-child.pid!, 'SIGKILL'); } catch { /* already gone */ }
  }
}
process.on('exit', killAll);
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => { killAll(); process.exit(130); });

function collect(child: ChildProcess): Promise<{ code: number | null; out: string; err: string }> {
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => { out += d; });
  child.stderr!.on('data', (d: Buffer) => { err += d; });
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, out, err })));
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, HOST, () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}
async function waitListening(port: number, child: ChildProcess, ms: number): Promise<void> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, HOST, () => { s.destroy(); resolve(true); });
      s.on('error', () => resolve(false));
    });
    if (ok) return;
    await sleep(100);
  }
  throw new Error(`server not listening on ${port} after ${ms} ms`);
}

// ---------------------------------------------------------------- measuring
const TICK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;
function cpuOf(pid: number): { user: number; sys: number } {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // f[0] is field 3 (state)
  return { user: Number(f[11]) / TICK, sys: Number(f[12]) / TICK };
}

interface LoadResult { msgs_per_sec: number; messages: number; cpu_pct: number; engine: string }
function loadgen(port: number, warmup: number, duration: number): { child: ChildProcess; done: Promise<LoadResult> } {
  const child = start([path.join(BIN, 'loadgen'), '--host', HOST, '--port', `${port}`, '--conns', `${conns}`,
    '--size', `${size}`, '--warmup', `${warmup}`, '--duration', `${duration}`, '--mode', 'pingpong',
    '--engine', 'auto'], '1');
  const done = collect(child).then(({ code, out, err }) => {
    const line = out.trim().split('\n').pop() ?? '';
    if (code !== 0 || !line.startsWith('{')) throw new Error(`loadgen failed (${code}): ${err.trim()}`);
    return JSON.parse(line) as LoadResult;
  });
  return { child, done };
}

// The syscalls worth naming, where this kernel has a tracepoint for them.
const NAMED = ['recvfrom', 'sendto', 'read', 'write', 'epoll_wait', 'epoll_pwait', 'epoll_ctl', 'io_uring_enter',
  'futex', 'getsockopt', 'clock_gettime', 'accept4', 'madvise', 'mprotect', 'munmap', 'mmap'];
// perf needs tracefs for the syscall tracepoints; some machines boot without
// it mounted (mounting needs root; without it the counts are left out).
const TRACING = ['/sys/kernel/tracing', '/sys/kernel/debug/tracing'];
function syscallEvents(): string[] | null {
  const find = () => TRACING.map((t) => `${t}/events/syscalls`).find((d) => fs.existsSync(d));
  if (find() === undefined) spawnSync('mount', ['-t', 'tracefs', 'nodev', TRACING[0]!], { stdio: 'ignore' });
  const dir = find();
  if (dir === undefined) return null;
  const named = dir ? NAMED.filter((n) => fs.existsSync(path.join(dir, `sys_enter_${n}`))).map((n) => `syscalls:sys_enter_${n}`) : [];
  return ['raw_syscalls:sys_enter', ...named];
}

// ---------------------------------------------------------------- summaries
type Category = 'kernel' | 'JIT JS' | 'node/V8' | 'addon' | 'libc' | 'GC' | 'other';
const GC = /Heap::|Scavenge|MarkCompact|Sweeper|GCTracer|Evacuat|ConcurrentMarking|MinorMC|Heap\b|Marking|heap::base/;
function categorise(dso: string, sym: string): Category {
  if (dso.includes('kernel') || sym.startsWith('[k]')) return 'kernel';
  if (dso.includes('native_selectors')) return 'addon';
  if (dso.startsWith('perf-') || dso.includes('.map') || dso.startsWith('[JIT]') || /^\[\.\] (LazyCompile|JS|Builtin|Function|Stub|BytecodeHandler|Interpreted):/.test(sym)) {
    return sym.includes('Builtin:') || sym.includes('BytecodeHandler:') || sym.includes('Stub:') ? 'node/V8' : 'JIT JS';
  }
  if (/libc[.-]|ld-linux|libpthread|libstdc\+\+|libm\./.test(dso)) return 'libc';
  if (GC.test(sym)) return 'GC';
  if (dso === 'node' || dso.includes('node')) return 'node/V8';
  return 'other';
}

function perfReport(file: string): { byCategory: Record<string, number>; rows: Array<[number, string, string, Category]> } {
  const r = spawnSync('perf', ['report', '-i', file, '--no-children', '--sort', 'dso,sym', '--stdio', '--percent-limit', '0',
    '-g', 'none'], { encoding: 'utf8', maxBuffer: 64 << 20 });
  const rows: Array<[number, string, string, Category]> = [];
  const byCategory: Record<string, number> = {};
  for (const line of r.stdout.split('\n')) {
    const m = /^\s+([\d.]+)%\s+(.+?)\s+(\[[.k]\] .*)$/.exec(line);
    if (!m) continue;
    const pct = Number(m[1]);
    const cat = categorise(m[2]!, m[3]!);
    byCategory[cat] = (byCategory[cat] ?? 0) + pct;
    rows.push([pct, m[2]!, m[3]!.trim(), cat]);
  }
  return { byCategory, rows };
}

interface ProfileNode { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; hitCount?: number }
function cpuProfSummary(file: string): { total: number; rows: Array<[number, string]> } {
  const prof = JSON.parse(fs.readFileSync(file, 'utf8')) as { nodes: ProfileNode[]; samples: number[] };
  const hits = new Map<number, number>();
  for (const s of prof.samples) hits.set(s, (hits.get(s) ?? 0) + 1);
  const bySelf = new Map<string, number>();
  for (const n of prof.nodes) {
    const h = hits.get(n.id) ?? 0;
    if (h === 0) continue;
    const { functionName, url, lineNumber } = n.callFrame;
    const where = url ? ` ${path.relative(ROOT, url.replace(/^file:\/\//, ''))}:${lineNumber + 1}` : '';
    const name = `${functionName || '(anonymous)'}${where}`;
    bySelf.set(name, (bySelf.get(name) ?? 0) + h);
  }
  const total = prof.samples.length;
  const rows = [...bySelf.entries()].sort((a, b) => b[1] - a[1]).map(([k, v]) => [100 * v / total, k] as [number, string]);
  return { total, rows };
}

// ---------------------------------------------------------------- main
const fmt = (v: number, d = 2) => v.toFixed(d);

async function main(): Promise<void> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ns-profile-'));
  const port = await freePort();
  const { cmd, isNode } = makeServer(port);
  const warm = 1;
  const phase3 = Math.min(seconds, 3);
  const nodeFlags: string[] = [];
  if (perfRecord && isNode) nodeFlags.push('--perf-basic-prof');
  if (cpuProf && isNode) nodeFlags.push('--cpu-prof', '--cpu-prof-dir', tmp);
  if (cpuProf && !isNode) usage('--cpu-prof needs a Node server');
  const server = start(cmd(nodeFlags), '0');
  void collect(server);
  await waitListening(port, server, 30_000);
  const pid = server.pid!;

  // Phase 1: CPU per message over a window inside the loadgen's measured interval.
  const margin = Math.min(0.25, seconds / 10);
  const lg = loadgen(port, warm, seconds);
  await sleep((warm + 0.15 + margin) * 1000); // connect takes well under 0.15 s
  const c0 = cpuOf(pid);
  const t0 = performance.now();
  await sleep((seconds - 2 * margin) * 1000);
  const c1 = cpuOf(pid);
  const window = (performance.now() - t0) / 1000;
  const r1 = await lg.done;
  const msgs = r1.msgs_per_sec * window;
  const user = ((c1.user - c0.user) / msgs) * 1e6;
  const sys = ((c1.sys - c0.sys) / msgs) * 1e6;

  // Phase 2: system calls per message.
  const events = syscallEvents();
  const lg2 = loadgen(port, 0.5, 2);
  await sleep(650);
  const statFile = path.join(tmp, 'stat.txt');
  const ps = start(events === null ? ['sleep', '1.5']
    : ['perf', 'stat', '-x', ',', '-o', statFile, '-e', events.join(','), '-p', `${pid}`, '--', 'sleep', '1.5'], null);
  const t2 = performance.now();
  await collect(ps);
  const window2 = (performance.now() - t2) / 1000;
  const r2 = await lg2.done;
  const msgs2 = r2.msgs_per_sec * Math.min(window2, 1.5);
  const syscalls: Record<string, number> = {};
  const stat = fs.existsSync(statFile) ? fs.readFileSync(statFile, 'utf8') : '';
  for (const line of stat.split('\n')) {
    const f = line.split(',');
    if (f.length < 3 || !/^\d+$/.test(f[0]!)) continue;
    syscalls[f[2]!.replace(/^(raw_)?syscalls:sys_enter_?/, '') || 'all'] = Number(f[0]) / msgs2;
  }

  // Phase 3: where the time goes.
  let breakdown: ReturnType<typeof perfReport> | null = null;
  let jsProfile: ReturnType<typeof cpuProfSummary> | null = null;
  let r3: LoadResult | null = null;
  if (perfRecord) {
    const data = path.join(tmp, 'perf.data');
    const lg3 = loadgen(port, 0.5, phase3 + 0.5);
    await sleep(700);
    const rec = start(['perf', 'record', '-g', '-o', data, '-p', `${pid}`, '--', 'sleep', `${phase3}`], null);
    await collect(rec);
    r3 = await lg3.done;
    breakdown = perfReport(data);
    fs.rmSync(`/tmp/perf-${pid}.map`, { force: true }); // --perf-basic-prof's symbol file
  } else if (cpuProf) {
    // Node writes the profile when the process exits normally: SIGTERM
    // makes the servers that handle it close and exit.
    const lg3 = loadgen(port, 0.5, phase3);
    r3 = await lg3.done;
    const exited = new Promise((resolve) => server.on('exit', resolve));
    process.kill(pid, 'SIGTERM');
    await Promise.race([exited, sleep(10_000)]);
    const file = fs.readdirSync(tmp).find((f) => f.endsWith('.cpuprofile'));
    if (file) jsProfile = cpuProfSummary(path.join(tmp, file));
  }

  const result = {
    server: serverName, root: ROOT, size, conns, seconds, engine: r1.engine, load: os.loadavg().map((v) => fmt(v)).join(' '),
    msgs_per_sec: Math.round(r1.msgs_per_sec), loadgen_cpu_pct: r1.cpu_pct,
    user_us: user, sys_us: sys, cpu_us: user + sys, cpu_window_s: window, syscalls_per_msg: syscalls,
    breakdown: breakdown?.byCategory ?? null,
  };
  if (asJson) {
    process.stdout.write(`${JSON.stringify(result)}\n`);
  } else {
    const out: string[] = [];
    out.push(`${serverName} (${path.relative(process.cwd(), ROOT) || '.'}), ${size} B x ${conns}, loadgen ${r1.engine}, ` +
      `load ${result.load}`);
    out.push(`  ${result.msgs_per_sec} msgs/s (loadgen at ${fmt(r1.cpu_pct, 0)} % CPU)`);
    out.push(`  per message: user ${fmt(user)} us, system ${fmt(sys)} us, total ${fmt(user + sys)} us ` +
      `(/proc/PID/stat over ${fmt(window)} s of the measured interval)`);
    if (Object.keys(syscalls).length === 0) out.push('  syscalls per message: not counted (perf stat or tracefs unavailable)');
    else out.push(`  syscalls per message: ${Object.entries(syscalls).filter(([, v]) => v >= 0.005)
      .map(([k, v]) => `${k} ${fmt(v)}`).join(', ')}` + ` (perf stat, ${Math.round(r2.msgs_per_sec)} msgs/s while counted)`);
    if (breakdown) {
      out.push(`  perf record -g, self time by category (${r3 ? Math.round(r3.msgs_per_sec) : '?'} msgs/s while recorded):`);
      const cats = Object.entries(breakdown.byCategory).sort((a, b) => b[1] - a[1]);
      const cpu = user + sys;
      for (const [k, v] of cats) out.push(`    ${k.padEnd(8)} ${fmt(v, 1).padStart(5)} %  ~${fmt((v / 100) * cpu)} us/msg`);
      out.push(`  top ${top} symbols (self):`);
      for (const [pct, dso, sym, cat] of breakdown.rows.slice(0, top)) {
        out.push(`    ${fmt(pct, 2).padStart(6)} %  ${cat.padEnd(8)} ${dso.slice(0, 28).padEnd(28)} ${sym.slice(0, 90)}`);
      }
      out.push(`  top ${top} outside the kernel:`);
      for (const [pct, dso, sym, cat] of breakdown.rows.filter((r) => r[3] !== 'kernel').slice(0, top)) {
        out.push(`    ${fmt(pct, 2).padStart(6)} %  ${cat.padEnd(8)} ${dso.slice(0, 28).padEnd(28)} ${sym.slice(0, 90)}`);
      }
    }
    if (cpuProf) {
      if (!jsProfile) out.push('  V8 CPU profile: none written (the server did not exit on SIGTERM: ns-selector has no ' +
        'signal handling; profile ns-selector-example, the same loop, or use --perf)');
      else {
        out.push(`  V8 CPU profile of the whole run (start-up included; a native call's time, system calls included, ` +
          `counts as its JS caller's), self time (${jsProfile.total} samples, ` +
          `${r3 ? Math.round(r3.msgs_per_sec) : '?'} msgs/s while profiled):`);
        for (const [pct, name] of jsProfile.rows.slice(0, top)) out.push(`    ${fmt(pct, 2).padStart(6)} %  ${name}`);
      }
    }
    process.stdout.write(`${out.join('\n')}\n`);
  }
  killAll();
  if (process.env.NS_PROFILE_KEEP) console.error(`profile: kept ${tmp}`);
  else fs.rmSync(tmp, { recursive: true, force: true });
}

main().catch((error: unknown) => {
  console.error(`profile: ${error instanceof Error ? error.message : String(error)}`);
  killAll();
  process.exitCode = 1;
});
