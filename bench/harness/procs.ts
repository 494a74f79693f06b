// Child processes (each leads its own process group) and their CPU time,
// from /proc.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import { ROOT } from './servers.js';

// ---------------------------------------------------------------------------
// Child processes. Every child leads its own process group, so killing the
// group also reaches grandchildren (tsx runs the script in a child node). A
// group stays listed until it is stopped on purpose, even after its leader
// exits, because a grandchild may outlive the leader.

const children = new Set<ChildProcess>();

export function spawnGroup(argv: string[]): ChildProcess {
  const child = spawn(argv[0]!, argv.slice(1), {
    cwd: ROOT, detached: true, stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  return child;
}

export function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // ESRCH: the whole group is already gone
  }
}

/** Forget a child whose group is known to be gone. */
export function forget(child: ChildProcess): void {
  children.delete(child);
}

export async function stopGroup(child: ChildProcess, graceMs = 2000): Promise<void> {
  if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    killGroup(child, 'SIGTERM');
    killGroup(child, 'SIGCONT'); // a stopped process acts on SIGTERM only once resumed
    await Promise.race([exited, sleep(graceMs)]);
  }
  killGroup(child, 'SIGKILL'); // stragglers of the group, if any
  children.delete(child);
}

export function killAllNow(): void {
  for (const child of children) killGroup(child, 'SIGKILL');
  children.clear();
}

/** No child outlives the runner, however it ends. */
export function installCleanup(): void {
  process.on('exit', killAllNow);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(sig, () => {
      console.error(`\nrun: ${sig}, stopping every child`);
      killAllNow();
      process.exit(128 + os.constants.signals[sig]);
    });
  }
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

let pinning = false;

/** Pin with taskset from now on, if there are two CPUs and taskset works. */
export function enablePinning(): boolean {
  pinning = os.cpus().length >= 2 && spawnSync('taskset', ['-c', '1', 'true']).status === 0;
  return pinning;
}

export function pinned(cpu: string, argv: string[]): string[] {
  return pinning ? ['taskset', '-c', cpu, ...argv] : argv;
}

// ---------------------------------------------------------------------------
// CPU time from /proc, in clock ticks of 1/100 s.

export const CLK_TCK = 100; // USER_HZ: fixed at 100 for /proc on Linux

export interface Ticks { user: number; sys: number }

// utime and stime (fields 14 and 15 of /proc/PID/stat) and the process group
// (field 5); counted after the parenthesised command name, which may contain
// spaces.
function readStat(pid: string): { pgid: number; user: number; sys: number } | null {
  let stat: string;
  try {
    stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null; // exited meanwhile
  }
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { pgid: Number(f[2]), user: Number(f[11]), sys: Number(f[12]) };
}

/** The processes of a group, now. */
export function groupPids(pgid: number): string[] {
  return fs.readdirSync('/proc').filter((e) => /^\d+$/.test(e) && readStat(e)?.pgid === pgid);
}

/** User and system ticks of the given processes (those still there). */
export function pidsTicks(pids: string[]): Ticks {
  const t = { user: 0, sys: 0 };
  for (const pid of pids) {
    const s = readStat(pid);
    if (s) { t.user += s.user; t.sys += s.sys; }
  }
  return t;
}

/** User and system ticks of every process in a group. */
export const groupTicks = (pgid: number): Ticks => pidsTicks(groupPids(pgid));

// Busy time of the whole machine (user + nice + system; interrupts are left
// out because loopback TCP spends ours there), to tell how much CPU processes
// other than ours took during a run: on a shared machine that is the noise.
export function machineBusyTicks(): number {
  const f = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/);
  return Number(f[1]) + Number(f[2]) + Number(f[3]);
}

export async function otherLoadPct(ms: number): Promise<number> {
  const b0 = machineBusyTicks(), t0 = Date.now();
  await sleep(ms);
  return ((machineBusyTicks() - b0) / CLK_TCK / ((Date.now() - t0) / 1000)) * 100;
}

/** The 1, 5 and 15 minute load averages, as `uptime` shows them. */
export function loadAverages(): number[] {
  try {
    return fs.readFileSync('/proc/loadavg', 'utf8').trim().split(/\s+/).slice(0, 3).map(Number);
  } catch {
    return os.loadavg().map((x) => Math.round(x * 100) / 100);
  }
}

export function firstLine(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', cwd: ROOT });
  return `${r.stdout ?? ''}${r.stderr ?? ''}`.trim().split('\n')[0] || 'unknown';
}

// What a figure measures: the servers' code, the addon and the harness. A
// commit that touches none of these (a README edit) does not change a result,
// so runs are grouped by the last commit that changed one of them.
const MEASURED = ['src', 'native', 'binding.gyp', 'package-lock.json', 'bench/servers', 'bench/loadgen.c',
  'bench/c-epoll-echo.c', 'bench/build.sh', 'examples/selector-echo.ts'];

/**
 * The commit checked out; `code`, the last commit that changed what is
 * measured; and whether the work tree differs from it there.
 */
export function gitState(): { commit: string | null; code: string | null; dirty: boolean } {
  const git = (...args: string[]) => spawnSync('git', args, { encoding: 'utf8', cwd: ROOT });
  const head = git('rev-parse', 'HEAD');
  if (head.status !== 0) return { commit: null, code: null, dirty: false };
  const code = git('log', '-1', '--format=%H', '--', ...MEASURED).stdout.trim() || null;
  const status = git('status', '--porcelain', '--untracked-files=no', '--', ...MEASURED);
  return { commit: head.stdout.trim(), code, dirty: (status.stdout ?? '').trim() !== '' };
}
