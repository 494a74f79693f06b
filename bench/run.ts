// Echo-server benchmark runner.
//
//   npx tsx bench/run.ts [--quick] [--servers a,b,...] [--repeats N] [--archive] [--list | --render]
//
// Starts every server of SERVERS once, pinned to CPU 0, and pauses it; then, for
// each repeat and each point of the matrix, wakes one server at a time and
// drives it with bench/bin/loadgen pinned to CPU 1. Writes the medians and the
// ratios to bench/results/latest.{json,md,svg}; a full run of every server (or
// any run given --archive) is also kept as bench/results/runs/<UTC time>.json,
// which bench/summary.ts reads. Only Node built-ins.
//
// What runs is in harness/servers.ts, processes and /proc in harness/procs.ts,
// one loadgen run in harness/drive.ts, the statistics in harness/stats.ts and
// the tables and chart in harness/report.ts.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runLoadgen, startServer, type RunningServer } from './harness/drive.js';
import {
  enablePinning, firstLine, gitState, installCleanup, killAllNow, killGroup, loadAverages, otherLoadPct, sleep,
  stopGroup,
} from './harness/procs.js';
import { MAX_ATTEMPTS, markdown, NOISY_PCT, runChart, fmtInt, fmtUs, type Meta } from './harness/report.js';
import {
  BENCH, HARNESS_CHECK, PLANS, pointId, python, RESULTS, ROOT, RUNS_DIR, SERVERS, TARGETS, type Plan, type Point,
} from './harness/servers.js';
import { evaluateTargets, round, summarise, type Run } from './harness/stats.js';

const USAGE = 'usage: npx tsx bench/run.ts [--quick] [--servers a,b,...] [--repeats N] [--archive] [--list | --render]';

function parseArgs(argv: string[]) {
  const args = { quick: false, servers: null as string[] | null, repeats: null as number | null, list: false,
    render: false, archive: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--quick') args.quick = true;
    else if (a === '--list') args.list = true;
    else if (a === '--render') args.render = true;
    else if (a === '--archive') args.archive = true;
    else if (a === '--servers') args.servers = (argv[++i] ?? '').split(',').filter(Boolean);
    else if (a === '--repeats') args.repeats = Number(argv[++i]);
    else {
      console.error(USAGE);
      process.exit(1);
    }
  }
  if (args.repeats !== null && !(Number.isInteger(args.repeats) && args.repeats >= 1 && args.repeats <= 20)) {
    console.error('run: --repeats must be an integer from 1 to 20');
    process.exit(1);
  }
  return args;
}

interface Saved { meta: Meta; points: (Point & { id: string })[]; servers: string[]; runs: Run[] }

function writeReports(saved: Saved): string {
  const ids = saved.points.map(pointId);
  const sums = summarise(saved.servers, saved.points, saved.runs);
  const targets = evaluateTargets(TARGETS, saved.servers, saved.runs, sums);
  const md = markdown(saved.meta, saved.servers, ids, sums, targets);
  fs.mkdirSync(RESULTS, { recursive: true });
  const json = { ...saved, summary: sums, targets };
  const text = `${JSON.stringify(json, null, 2)}\n`;
  fs.writeFileSync(path.join(RESULTS, 'latest.json'), text);
  fs.writeFileSync(path.join(RESULTS, 'latest.md'), md);
  fs.writeFileSync(path.join(RESULTS, 'latest.svg'), runChart(saved.meta, saved.servers, ids, sums));
  console.log(md);
  return text;
}

/** Keep a copy for bench/summary.ts, named by the run's start time (UTC). */
function archive(meta: Meta, text: string): string {
  fs.mkdirSync(RUNS_DIR, { recursive: true });
  const file = path.join(RUNS_DIR, `${meta.date.replace(/\.\d+Z$/, 'Z').replace(/:/g, '-')}.json`);
  fs.writeFileSync(file, text);
  return file;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  if (args.list) {
    for (const s of SERVERS) console.log(`${s.name}${s.optional ? ' (optional)' : ''}`);
    return;
  }
  if (args.render) { // redraw latest.md and latest.svg from latest.json, without running anything
    writeReports(JSON.parse(fs.readFileSync(path.join(RESULTS, 'latest.json'), 'utf8')) as Saved);
    return;
  }
  installCleanup();
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
  const archiving = args.archive || (plan.name === 'full' && !args.servers);

  const build = spawnSync('sh', [path.join(BENCH, 'build.sh')], { stdio: 'inherit' });
  if (build.status !== 0) throw new Error('bench/build.sh failed');

  const pinning = enablePinning();
  if (!pinning) console.error('run: warning: running without CPU pinning; figures will be noisier');

  const meta: Meta = {
    date: new Date().toISOString(), plan: plan.name, repeats: plan.repeats,
    warmup_s: plan.warmup, duration_s: plan.duration, pinning,
    machine: { cpus: os.cpus().length, cpu_model: os.cpus()[0]?.model.trim() ?? 'unknown', kernel: `${os.type()} ${os.release()}` },
    versions: { node: process.version, python: firstLine(python(), ['--version']), cc: firstLine('cc', ['--version']) },
    ...gitState(),
    loadavg: { start: loadAverages() },
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
          const perMsg = res?.messages && r.server_user_s !== undefined
            ? `  srv µs/msg ${((r.server_user_s / res.messages) * 1e6).toFixed(2)}u ` +
              `${((r.server_sys_s! / res.messages) * 1e6).toFixed(2)}s` : '';
          console.error(`[${String(done).padStart(3)}/${total}] ${spec.name.padEnd(22)} ${id.padEnd(14)} ` +
            (res ? `${fmtInt(res.msgs_per_sec).padStart(9)} msg/s  p50 ${fmtUs(res.p50_us).padStart(7)}  ` +
              `p99 ${fmtUs(res.p99_us).padStart(7)}  cpu srv ${r.server_cpu_pct!.toFixed(0).padStart(3)}% ` +
              `lg ${res.cpu_pct.toFixed(0).padStart(3)}% other ${r.other_cpu_pct!.toFixed(0).padStart(3)}%` +
              `${perMsg} ${res.engine ?? 'epoll'}` + (attempts > 1 ? ` (quietest of ${attempts})` : '') : '') +
            (r.ok ? '' : `  FAILED: ${r.error}`));
        }
      }
    }
  } finally {
    await Promise.all([...running.values()].map((srv) => (srv ? stopGroup(srv.child) : undefined)));
  }
  meta.wall_s = round((Date.now() - started) / 1000, 1);
  meta.loadavg!.end = loadAverages();

  const names = servers.map((s) => s.name);
  const text = writeReports({ meta, points: plan.points.map((p) => ({ id: pointId(p), ...p })), servers: names, runs });
  const rel = path.relative(ROOT, RESULTS) || '.';
  console.error(`run: ${meta.wall_s} s; wrote ${rel}/latest.{json,md,svg}`);
  if (archiving) console.error(`run: archived as ${path.relative(ROOT, archive(meta, text))}`);
  if (runs.some((r) => !r.ok)) process.exitCode = 1;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((e) => {
    console.error(`run: ${(e as Error).stack ?? e}`);
    killAllNow();
    process.exit(1);
  });
}
