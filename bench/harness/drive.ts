// Driving one server: start it, wait for its ready line, and run the loadgen
// against it while measuring the CPU time of both.
import type { ChildProcess } from 'node:child_process';
import net from 'node:net';
import {
  CLK_TCK, forget, groupPids, groupTicks, killGroup, machineBusyTicks, pidsTicks, pinned, spawnGroup, stopGroup,
  type Ticks,
} from './procs.js';
import { HOST, LOADGEN, LOADGEN_CPU, SERVER_CPU, type Plan, type Point, type ServerSpec } from './servers.js';
import { round, type Run, type LoadgenResult } from './stats.js';

const CONNECT_TIMEOUT_S = 10;

export interface RunningServer { spec: ServerSpec; child: ChildProcess; port: number; stderr: string[] }

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

export async function startServer(spec: ServerSpec): Promise<RunningServer> {
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

/** One loadgen run against a running (resumed) server. */
export async function runLoadgen(srv: RunningServer, point: Point, plan: Plan): Promise<Omit<Run, 'server' | 'point' | 'rep'>> {
  const argv = [LOADGEN, '--engine', srv.spec.engine ?? 'auto', '--marks', '--host', HOST, '--port', `${srv.port}`,
    '--mode', point.mode, '--conns', `${point.conns}`, '--size', `${point.size}`, '--warmup', `${plan.warmup}`,
    '--duration', `${plan.duration}`, '--connect-timeout', `${CONNECT_TIMEOUT_S}`];
  const pgid = srv.child.pid!;
  // The group's processes are listed once, before the run, so that the
  // samples taken while it runs read two or three files, not all of /proc.
  const pids = groupPids(pgid);
  const cpu0 = groupTicks(pgid), busy0 = machineBusyTicks();
  const t0 = process.hrtime.bigint();
  const child = spawnGroup(pinned(LOADGEN_CPU, argv));
  // The server's CPU time at the loadgen's "measure start" and "measure end"
  // lines: exactly the measured interval (give or take the pipe's wake-up),
  // without connecting, warm-up and closing.
  let mStart: { ticks: Ticks; t: bigint } | null = null, mEnd: { ticks: Ticks; t: bigint } | null = null;
  let stdout = '';
  const stderr: string[] = [];
  child.stdout!.setEncoding('utf8').on('data', (d: string) => {
    const seen = stdout.length;
    stdout += d;
    if (!mStart && stdout.indexOf('measure start\n', Math.max(0, seen - 16)) >= 0) {
      mStart = { ticks: pidsTicks(pids), t: process.hrtime.bigint() };
    }
    if (mStart && !mEnd && stdout.indexOf('measure end\n', Math.max(0, seen - 16)) >= 0) {
      mEnd = { ticks: pidsTicks(pids), t: process.hrtime.bigint() };
    }
  });
  child.stderr!.setEncoding('utf8').on('data', (d: string) => keepTail(stderr, d));
  const limitMs = (plan.warmup + plan.duration + CONNECT_TIMEOUT_S + 5) * 1000;
  const timer = setTimeout(() => killGroup(child, 'SIGKILL'), limitMs);
  const code = await new Promise<number | null>((resolve) => {
    child.once('error', () => resolve(null));
    child.once('close', (c) => resolve(c));
  });
  clearTimeout(timer);
  killGroup(child, 'SIGKILL'); // nothing of it may linger into the next run
  forget(child);
  const wallS = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu1 = groupTicks(pgid), busyTicks = machineBusyTicks() - busy0;
  const serverTicks = cpu1.user + cpu1.sys - cpu0.user - cpu0.sys;

  const line = stdout.trim().split('\n').pop() ?? '';
  let result: LoadgenResult | undefined;
  try {
    result = line.startsWith('{') ? (JSON.parse(line) as LoadgenResult) : undefined;
  } catch {
    result = undefined;
  }
  const why = stderr.join(' | ');
  if (!result) return { ok: false, error: `loadgen exit ${code}: ${why || 'no output'}` };
  const ok = code === 0 && result.messages > 0;
  const otherS = busyTicks / CLK_TCK - serverTicks / CLK_TCK - (result.cpu_total_s ?? 0);
  const out: Omit<Run, 'server' | 'point' | 'rep'> = {
    ok, result,
    // Over the whole loadgen run (connect + warm-up + measure) unless the
    // measured interval was seen, below.
    server_cpu_pct: round((serverTicks / CLK_TCK / wallS) * 100, 1),
    other_cpu_pct: round(Math.max(0, (otherS / wallS) * 100), 1),
    error: ok ? undefined : `loadgen exit ${code}${why ? `: ${why}` : ''}`,
  };
  const s = mStart as { ticks: Ticks; t: bigint } | null, e = mEnd as { ticks: Ticks; t: bigint } | null;
  if (s && e && result.messages > 0) {
    const secs = Number(e.t - s.t) / 1e9;
    const user = (e.ticks.user - s.ticks.user) / CLK_TCK, sys = (e.ticks.sys - s.ticks.sys) / CLK_TCK;
    // The same interval as the loadgen's cpu_pct, so the two compare.
    out.server_cpu_pct = round(((user + sys) / secs) * 100, 1);
    out.server_user_s = round(user, 2);
    out.server_sys_s = round(sys, 2);
    out.server_cpu_interval = 'measured';
  } else {
    out.server_cpu_interval = 'whole run';
  }
  return out;
}
