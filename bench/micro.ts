// Micro-benchmarks: what one call costs, as opposed to run.ts's echo
// throughput. Every figure is the median of several repeats; the cases of a
// section are measured interleaved (case A, case B, case A, ...) in one run,
// and every ratio is computed from figures of that same run.
//
//   npx tsx bench/micro.ts [--quick]      (full: about 80 s; quick: about 25 s)
//
// 1. Selector.select(0) with 10 / 1,000 / 10,000 registered fds, one ready
// 2. register+unregister, and modify (READ <-> WRITE), per operation
// 3. Socket.send + Socket.recvInto (64 B) per pair, against the same loop in C
// 4. EventLoop: task switches per second; sockSendall/sockRecv round trip
// 5. RSS per idle connection at 10,000 connections: selector-echo.ts,
//    loop-echo.ts (blocking) and node-net-echo.mjs (data)
//
// The process re-executes itself under `taskset -c 0` when taskset exists;
// the memory section's servers and client run unpinned (RSS does not care).
// MICRO_DEBUG=1 logs the memory section's raw RSS readings.
// Results: bench/results/micro.json and micro.md (or $BENCH_RESULTS_DIR).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import {
  EVENT_READ, EVENT_WRITE, EventLoop, Selector, Socket, availableBackends, gather, sleep,
  socketpair, type BackendName, type Coro,
} from '../src/index.js';

const BENCH = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.dirname(BENCH);
const BIN = path.join(BENCH, 'bin');
const RESULTS = process.env.BENCH_RESULTS_DIR ? path.resolve(process.env.BENCH_RESULTS_DIR) : path.join(BENCH, 'results');
const HOST = '127.0.0.1'; // loopback only
const node = process.execPath;
const tsxLoader = pathToFileURL(path.join(ROOT, 'node_modules', 'tsx', 'dist', 'loader.mjs')).href;
const tsx = (file: string, ...args: string[]) => [node, '--import', tsxLoader, path.join(ROOT, file), ...args];

const args = process.argv.slice(2);
for (const a of args) {
  if (a !== '--quick') {
    console.error('usage: npx tsx bench/micro.ts [--quick]');
    process.exit(2);
  }
}
const QUICK = args.includes('--quick');

// ---------------------------------------------------------------------------
// Pinning: re-execute under taskset -c 0 once.

const haveTaskset = spawnSync('taskset', ['-c', '0', 'true']).status === 0;
const twoCpus = os.cpus().length >= 2 && haveTaskset && spawnSync('taskset', ['-c', '1', 'true']).status === 0;
if (haveTaskset && process.env.MICRO_PINNED !== '1') {
  const r = spawnSync('taskset', ['-c', '0', node, '--import', tsxLoader, fileURLToPath(import.meta.url), ...args], {
    stdio: 'inherit', env: { ...process.env, MICRO_PINNED: '1' },
  });
  process.exit(r.status ?? 1);
}
const pinnedSelf = process.env.MICRO_PINNED === '1';

// ---------------------------------------------------------------------------
// Plan

const plan = QUICK
  ? { repeats: 7, batchMs: 8, sizes: [10, 1_000, 10_000], syscallIters: 20_000, switchTasks: 100, switchRounds: 200,
    pingPongs: 5_000, memConns: 1_000, memRepeats: 5 }
  : { repeats: 11, batchMs: 40, sizes: [10, 1_000, 10_000], syscallIters: 100_000, switchTasks: 100, switchRounds: 2_000,
    pingPongs: 30_000, memConns: 10_000, memRepeats: 5 };

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const debug = (msg: string) => { if (process.env.MICRO_DEBUG) console.error(msg); };
const nowNs = (): number => Number(process.hrtime.bigint());

interface Figure {
  section: string;
  name: string;
  unit: string;
  median: number;
  samples: number[];
}
const figures: Figure[] = [];
const ratios: Array<{ name: string; value: number; target?: string; pass?: boolean }> = [];

function record(section: string, name: string, unit: string, samples: number[]): Figure {
  const f = { section, name, unit, median: median(samples), samples };
  figures.push(f);
  return f;
}

/** A timed case: run(n) does n operations. */
interface Case { name: string; run: (n: number) => void }

/** Calibrates each case to about batchMs per batch, then times the batches interleaved; ns per op. */
function timeInterleaved(cases: Case[], repeats = plan.repeats, batchMs = plan.batchMs): Map<string, number[]> {
  const counts = new Map<string, number>();
  for (const c of cases) {
    let n = 1;
    for (;;) {
      const t0 = nowNs();
      c.run(n);
      const dt = (nowNs() - t0) / 1e6;
      if (dt >= batchMs / 4 || n >= 1 << 26) {
        counts.set(c.name, Math.max(1, Math.round(n * batchMs / Math.max(dt, 1e-3))));
        break;
      }
      n *= 4;
    }
  }
  const out = new Map<string, number[]>(cases.map((c) => [c.name, []]));
  for (let r = 0; r < repeats; r++) {
    for (const c of cases) {
      const n = counts.get(c.name)!;
      const t0 = nowNs();
      c.run(n);
      out.get(c.name)!.push((nowNs() - t0) / n);
    }
  }
  return out;
}

const backends = (['epoll', 'poll'] as BackendName[]).filter((b) => availableBackends.includes(b));

// ---------------------------------------------------------------------------
// 1. select(0) with N registered fds, one of them ready

function benchSelect(): void {
  const maxN = Math.max(...plan.sizes);
  const pairs: Array<[Socket, Socket]> = [];
  for (let i = 0; i < maxN / 2; i++) pairs.push(socketpair());
  const fds = pairs.flat();
  // pairs[0][0] has a byte waiting: readable, the one ready fd in every selector.
  pairs[0]![1].send(Buffer.from('x'));
  const cases: Case[] = [];
  const selectors: Selector[] = [];
  for (const backend of backends) {
    for (const n of plan.sizes) {
      const sel = new Selector({ backend });
      selectors.push(sel);
      for (let i = 0; i < n; i++) sel.register(fds[i]!, EVENT_READ);
      const ready = sel.select(0);
      if (ready.length !== 1 || ready[0]![0].fileobj !== pairs[0]![0]) {
        throw new Error(`select sanity: ${backend} with ${n} fds reported ${ready.length} ready`);
      }
      cases.push({ name: `${backend}:${n}`, run: (k) => { for (let i = 0; i < k; i++) sel.select(0); } });
    }
  }
  const res = timeInterleaved(cases);
  for (const backend of backends) {
    for (const n of plan.sizes) {
      record('select', `select(0), ${backend}, ${n.toLocaleString('en-US')} fds`, 'ns/call', res.get(`${backend}:${n}`)!);
    }
    const lo = median(res.get(`${backend}:${plan.sizes[0]}`)!);
    const hi = median(res.get(`${backend}:${plan.sizes[plan.sizes.length - 1]}`)!);
    ratios.push({
      name: `select ${backend}: 10,000 fds / 10 fds`, value: hi / lo,
      ...(backend === 'epoll' ? { target: '≤ 1.5', pass: hi / lo <= 1.5 } : {}),
    });
  }
  for (const sel of selectors) sel.close();
  for (const s of fds) s.close();
}

// ---------------------------------------------------------------------------
// 2. register+unregister and modify per operation

function benchRegister(): void {
  const [a, b] = socketpair();
  const cases: Case[] = [];
  const selectors: Selector[] = [];
  for (const backend of backends) {
    const regSel = new Selector({ backend });
    const modSel = new Selector({ backend });
    selectors.push(regSel, modSel);
    modSel.register(b, EVENT_READ);
    cases.push({
      name: `reg:${backend}`,
      run: (k) => { for (let i = 0; i < k; i++) { regSel.register(a, EVENT_READ); regSel.unregister(a); } },
    });
    cases.push({
      name: `mod:${backend}`,
      // k modify calls, alternating WRITE and READ (k rounded up to even).
      run: (k) => { for (let i = 0; i < k; i += 2) { modSel.modify(b, EVENT_WRITE); modSel.modify(b, EVENT_READ); } },
    });
  }
  const res = timeInterleaved(cases);
  for (const backend of backends) {
    record('register', `register + unregister, ${backend}`, 'ns/pair', res.get(`reg:${backend}`)!);
    record('register', `modify (READ↔WRITE), ${backend}`, 'ns/call', res.get(`mod:${backend}`)!);
  }
  for (const sel of selectors) sel.close();
  a.close();
  b.close();
}

// ---------------------------------------------------------------------------
// 3. Socket.send + Socket.recvInto, against C

function benchSocket(): void {
  const [a, b] = socketpair();
  const out = Buffer.alloc(64, 'x');
  const inBuf = Buffer.alloc(64);
  const ours: Case = {
    name: 'ts',
    run: (k) => {
      for (let i = 0; i < k; i++) {
        a.send(out);
        if (b.recvInto(inBuf, 64) !== 64) throw new Error('short recv');
      }
    },
  };
  const c: number[] = [];
  const tsSamples: number[] = [];
  const tsCount = plan.syscallIters; // the same iteration count as the C loop
  ours.run(1000); // warm-up
  for (let r = 0; r < plan.repeats; r++) {
    // One TS batch, then one C batch (a fresh process each time, one repeat).
    const t0 = nowNs();
    ours.run(tsCount);
    tsSamples.push((nowNs() - t0) / tsCount);
    const res = spawnSync(path.join(BIN, 'micro-syscalls'), [`${plan.syscallIters}`, '1'], { encoding: 'utf8' });
    if (res.status !== 0) throw new Error(`micro-syscalls failed: ${res.stderr}`);
    c.push(Number(res.stdout.trim()));
  }
  a.close();
  b.close();
  const t = record('socket', 'Socket.send + Socket.recvInto, 64 B', 'ns/pair', tsSamples);
  const cf = record('socket', 'send + recv in C (micro-syscalls), 64 B', 'ns/pair', c);
  ratios.push({ name: 'Socket send+recvInto / C', value: t.median / cf.median });
}

// ---------------------------------------------------------------------------
// 4. The coroutine loop

function benchLoop(): void {
  const switches: number[] = [];
  const trips: number[] = [];
  for (let r = -1; r < plan.repeats; r++) { // r = -1: a warm-up, not recorded
    // Task switches: N tasks, each yield* sleep(0) R times.
    {
      const loop = new EventLoop();
      let resumes = 0;
      function* spinner(rounds: number): Coro<void> {
        for (let i = 0; i < rounds; i++) {
          yield* sleep(0);
          resumes++;
        }
      }
      const t0 = nowNs();
      loop.runUntilComplete(gather(Array.from({ length: plan.switchTasks }, () => spinner(plan.switchRounds))));
      const dt = nowNs() - t0;
      loop.close();
      if (resumes !== plan.switchTasks * plan.switchRounds) throw new Error('switch count mismatch');
      if (r >= 0) switches.push(resumes / (dt / 1e9));
    }
    // Ping-pong: 64 B there and back per round trip.
    {
      const loop = new EventLoop();
      const [a, b] = socketpair();
      a.setBlocking(false);
      b.setBlocking(false);
      const msg = Buffer.alloc(64, 'p');
      const trips_ = plan.pingPongs;
      function* recvExactly(sock: Socket, n: number): Coro<number> {
        let got = 0;
        while (got < n) {
          const chunk = yield* loop.sockRecv(sock, n - got);
          if (chunk.length === 0) throw new Error('unexpected EOF');
          got += chunk.length;
        }
        return got;
      }
      function* pinger(): Coro<void> {
        for (let i = 0; i < trips_; i++) {
          yield* loop.sockSendall(a, msg);
          yield* recvExactly(a, 64);
        }
      }
      function* ponger(): Coro<void> {
        for (let i = 0; i < trips_; i++) {
          yield* recvExactly(b, 64);
          yield* loop.sockSendall(b, msg);
        }
      }
      const t0 = nowNs();
      loop.runUntilComplete(gather(pinger(), ponger()));
      if (r >= 0) trips.push((nowNs() - t0) / trips_);
      loop.close();
      a.close();
      b.close();
    }
  }
  record('loop', `task switches, ${plan.switchTasks} tasks × yield* sleep(0)`, 'resumes/s', switches);
  record('loop', 'sockSendall + sockRecv ping-pong, 64 B, blocking mode', 'ns/round trip', trips);
}

// ---------------------------------------------------------------------------
// 5. Memory per idle connection

interface MemServer { name: string; argv: string[] }
const memServers: MemServer[] = [
  { name: 'selector-echo.ts', argv: tsx('bench/servers/selector-echo.ts', HOST, '0') },
  { name: 'loop-echo.ts blocking', argv: tsx('bench/servers/loop-echo.ts', HOST, '0', 'blocking') },
  { name: 'node-net-echo.mjs data', argv: [node, path.join(BENCH, 'servers', 'node-net-echo.mjs'), 'data', HOST, '0'] },
];

const children = new Set<ChildProcess>();
function killAll(): void {
  for (const c of children) {
    try { if (c.pid !== undefined) process.kill(c.pid, 'SIGKILL'); } catch { /* gone */ }
  }
  children.clear();
}
process.on('exit', killAll);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(sig, () => { killAll(); process.exit(128 + os.constants.signals[sig]); });
}

// The memory section's children may use every CPU (RSS does not depend on
// placement, and three servers starting at once on one CPU are slow); this
// process itself is pinned to CPU 0, so they are widened explicitly.
const allCpus = `0-${os.cpus().length - 1}`;
const unpinned = (argv: string[]) => (haveTaskset ? ['taskset', '-c', allCpus, ...argv] : argv);
const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function startChild(argv: string[]): ChildProcess {
  // taskset execs the program: the pid is the server's own.
  const child = spawn(argv[0]!, argv.slice(1), { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
  children.add(child);
  child.on('exit', () => children.delete(child));
  return child;
}

/** Resolves with the first stdout line matching re, or rejects after ms. */
function waitLine(child: ChildProcess, re: RegExp, ms: number, what: string): Promise<RegExpMatchArray> {
  return new Promise((resolve, reject) => {
    let buf = '';
    let err = '';
    const timer = setTimeout(() => done(new Error(`${what}: no "${re}" within ${ms} ms; stderr: ${err.slice(-500)}`)), ms);
    const onData = (d: Buffer) => {
      buf += d.toString();
      const m = buf.match(re);
      if (m) done(null, m);
    };
    const onErr = (d: Buffer) => { err += d.toString(); };
    const onExit = (code: number | null) => done(new Error(`${what} exited (${code}); stderr: ${err.slice(-500)}`));
    function done(e: Error | null, m?: RegExpMatchArray) {
      clearTimeout(timer);
      child.stdout!.off('data', onData);
      child.stderr!.off('data', onErr);
      child.off('exit', onExit);
      if (e) reject(e); else resolve(m!);
    }
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onErr);
    child.once('exit', onExit);
  });
}

function rssKiB(pid: number): number {
  const m = fs.readFileSync(`/proc/${pid}/status`, 'utf8').match(/^VmRSS:\s+(\d+)\s+kB/m);
  if (!m) throw new Error(`no VmRSS for ${pid}`);
  return Number(m[1]);
}

async function stopChild(child: ChildProcess, graceMs = 2000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  await Promise.race([exited, delay(graceMs)]);
  if (child.exitCode === null && child.signalCode === null) {
    child.kill('SIGKILL');
    await Promise.race([exited, delay(graceMs)]);
  }
}

async function benchMemory(): Promise<void> {
  if (process.platform !== 'linux') {
    console.error('memory: needs /proc; skipped');
    return;
  }
  const n = plan.memConns;
  const perConn = new Map<string, number[]>(memServers.map((s) => [s.name, []]));
  const settle = QUICK ? 100 : 300;
  // A fresh server of each kind per repeat; the three measured one at a time.
  // The next repeat's servers start while this one is measured (startup
  // costs CPU time only, which RSS does not depend on).
  const startSet = () => {
    const running = memServers.map((s) => ({ spec: s, child: startChild(unpinned(s.argv)) }));
    const ports = Promise.all(running.map(({ spec, child }) =>
      waitLine(child, /listening on [^\s:]+:(\d+)/, 20_000, spec.name).then((m) => Number(m[1]))));
    ports.catch(() => {}); // handled where awaited
    return { running, ports };
  };
  const stopSet = (set: ReturnType<typeof startSet> | null) =>
    set ? Promise.all(set.running.map(({ child }) => stopChild(child))) : Promise.resolve([]);
  let next: ReturnType<typeof startSet> | null = startSet();
  try {
    for (let r = 0; r < plan.memRepeats; r++) {
      const cur = next!;
      next = null;
      try {
        const t0 = Date.now();
        const ports = await cur.ports;
        if (r + 1 < plan.memRepeats) next = startSet();
        for (let i = 0; i < cur.running.length; i++) {
          const { spec, child } = cur.running[i]!;
          await delay(settle);
          const before = rssKiB(child.pid!);
          debug(`memory rep ${r}: ${spec.name} before=${before} KiB (${Date.now() - t0} ms)`);
          const client = startChild(unpinned([path.join(BIN, 'micro-hold'), HOST, `${ports[i]}`, `${n}`]));
          try {
            await waitLine(client, /ready (\d+)/, 60_000, `micro-hold against ${spec.name}`);
            await delay(settle);
            const after = rssKiB(child.pid!);
            perConn.get(spec.name)!.push((after - before) / n);
            debug(`memory rep ${r}: ${spec.name} after=${after} KiB (${Date.now() - t0} ms)`);
          } finally {
            client.stdin!.end(); // EOF: it closes every connection and exits
            await stopChild(client);
          }
        }
      } finally {
        await stopSet(cur);
      }
    }
  } finally {
    await stopSet(next);
  }
  const label = n.toLocaleString('en-US');
  const sel = record('memory', `RSS per idle connection at ${label}, selector-echo.ts`, 'KiB/conn', perConn.get(memServers[0]!.name)!);
  const lp = record('memory', `RSS per idle connection at ${label}, loop-echo.ts blocking`, 'KiB/conn', perConn.get(memServers[1]!.name)!);
  const nn = record('memory', `RSS per idle connection at ${label}, node net (data)`, 'KiB/conn', perConn.get(memServers[2]!.name)!);
  ratios.push({ name: 'memory: selector-echo / node net', value: sel.median / nn.median, target: '≤ 0.5', pass: sel.median / nn.median <= 0.5 });
  ratios.push({ name: 'memory: loop-echo / node net', value: lp.median / nn.median, target: '≤ 0.5', pass: lp.median / nn.median <= 0.5 });
}

// ---------------------------------------------------------------------------
// Report

function fmt(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  const a = Math.abs(x);
  if (a >= 1e6) return x.toExponential(3);
  if (a >= 100) return Math.round(x).toLocaleString('en-US');
  if (a >= 10) return x.toFixed(1);
  return x.toFixed(2);
}

function markdown(meta: Record<string, unknown>): string {
  const lines: string[] = [];
  lines.push(`# Micro-benchmarks (${QUICK ? 'quick' : 'full'})`, '');
  lines.push(`${meta.date} · Node ${meta.node} · ${meta.cpu} · ${meta.pinning} · ` +
    `median of ${plan.repeats} repeats (memory: ${plan.memRepeats}, ${plan.memConns.toLocaleString('en-US')} connections), ` +
    'cases interleaved within one run', '');
  lines.push('| figure | median | unit | min | max |', '|---|---:|---|---:|---:|');
  for (const f of figures) {
    lines.push(`| ${f.name} | ${fmt(f.median)} | ${f.unit} | ${fmt(Math.min(...f.samples))} | ${fmt(Math.max(...f.samples))} |`);
  }
  lines.push('', '| ratio (same run) | value | target |', '|---|---:|---|');
  for (const r of ratios) {
    lines.push(`| ${r.name} | ${r.value.toFixed(2)}× | ${r.target ? `${r.target} ${r.pass ? '✓' : '✗'}` : ''} |`);
  }
  return lines.join('\n') + '\n';
}

async function main(): Promise<void> {
  const build = spawnSync('sh', [path.join(BENCH, 'build.sh')], { stdio: 'inherit' });
  if (build.status !== 0) throw new Error('bench/build.sh failed');
  const started = Date.now();
  const step = (what: string) => console.error(`micro: ${what} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
  step('select'); benchSelect();
  step('register/modify'); benchRegister();
  step('socket'); benchSocket();
  step('loop'); benchLoop();
  step('memory'); await benchMemory();
  step('done');
  const meta = {
    date: new Date().toISOString(),
    mode: QUICK ? 'quick' : 'full',
    node: process.version,
    cpu: os.cpus()[0]?.model ?? 'unknown',
    pinning: pinnedSelf ? (twoCpus ? 'pinned to CPU 0 (memory section: children on all CPUs)' : 'pinned to CPU 0') : 'not pinned (no taskset)',
    repeats: plan.repeats,
    plan,
    elapsedSeconds: (Date.now() - started) / 1000,
  };
  const md = markdown(meta);
  fs.mkdirSync(RESULTS, { recursive: true });
  fs.writeFileSync(path.join(RESULTS, 'micro.json'), JSON.stringify({ meta, figures, ratios }, null, 2) + '\n');
  fs.writeFileSync(path.join(RESULTS, 'micro.md'), md);
  process.stdout.write(md);
}

main().catch((error) => {
  console.error(error);
  killAll();
  process.exit(1);
});
