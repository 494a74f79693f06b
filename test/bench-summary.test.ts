// The benchmark summary (bench/summary.ts): medians and spreads over archived
// runs, target verdicts, and the refusal to mix runs. Synthetic run files in
// a temporary folder; no benchmark runs.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { Target } from '../bench/harness/servers.js';
import type { Run } from '../bench/harness/stats.js';
import {
  cellKey, listRuns, loadRun, mixReason, summariseRuns, summaryMarkdown, type LoadedRun, type RunFile,
} from '../bench/harness/summary.js';

const ROOT = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const P64 = '64 B × 10', P1K = '1 KiB × 100';
const POINTS = [{ mode: 'pingpong' as const, size: 64, conns: 10 }, { mode: 'pingpong' as const, size: 1024, conns: 100 }];

interface Spec {
  date: string;
  commit?: string;
  code?: string;
  repeats?: number;
  /** msgs/s by server, then by point; every repeat gets the same rate. */
  rates: Record<string, Record<string, number>>;
  /** Loadgen and server CPU % for every run (default 50 / 50: nobody saturated). */
  cpu?: Record<string, { loadgen: number; server: number }>;
}

function runFile(spec: Spec): RunFile {
  const repeats = spec.repeats ?? 1;
  const runs: Run[] = [];
  for (let rep = 0; rep < repeats; rep++) {
    for (const [server, byPoint] of Object.entries(spec.rates)) {
      for (const [point, rate] of Object.entries(byPoint)) {
        const cpu = spec.cpu?.[server] ?? { loadgen: 50, server: 50 };
        runs.push({
          server, point, rep, ok: true, server_cpu_pct: cpu.server, other_cpu_pct: 0,
          server_user_s: 1, server_sys_s: 2, server_cpu_interval: 'measured',
          result: {
            mode: 'pingpong', conns: 10, size: 64, seconds: 1, messages: rate, msgs_per_sec: rate,
            mib_per_sec: 1, p50_us: 100, p99_us: 200, byte_errors: 0, connect_errors: 0, disconnects: 0,
            cpu_pct: cpu.loadgen, cpu_total_s: 1, cpu_user_s: 0.1, cpu_sys_s: 0.8, engine: 'uring',
          },
        });
      }
    }
  }
  return {
    meta: {
      date: spec.date, plan: 'full', repeats, warmup_s: 0.5, duration_s: 2.5, pinning: true,
      machine: { cpus: 2, cpu_model: 'test', kernel: 'Linux' },
      versions: { node: 'v20', python: 'Python 3', cc: 'cc' },
      commit: spec.commit ?? 'a'.repeat(40), code: spec.code, dirty: false,
      loadavg: { start: [0.5, 0.4, 0.3], end: [1, 0.8, 0.5] }, wall_s: 60,
    },
    points: POINTS, servers: Object.keys(spec.rates), runs,
  };
}

let dir: string;
let counter = 0;

function write(spec: Spec): string {
  const file = path.join(dir, `${spec.date.replace(/:/g, '-')}-${counter++}.json`);
  fs.writeFileSync(file, JSON.stringify(runFile(spec)));
  return file;
}

const load = (...specs: Spec[]): LoadedRun[] => specs.map((s) => loadRun(write(s)));

// ns-selector ÷ c-epoll >= 0.95 at both points; ns-loop ÷ c-epoll >= 1.0 at 64 B only.
const TARGETS: Target[] = [
  { label: 'selector ÷ C', server: 'ns-selector', base: 'c-epoll', points: [P64, P1K], min: 0.95 },
  { label: 'loop ÷ C', server: 'ns-loop', base: 'c-epoll', points: [P64], min: 1.0 },
];

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-summary-'));
});

afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('bench summary', () => {
  it('gives the median rate of every server and point over the runs, with the lowest and highest', () => {
    const m = summariseRuns(load(
      { date: '2026-12-01T10:00:00Z', rates: { 'c-epoll': { [P64]: 100, [P1K]: 10 } } },
      { date: '2026-12-01T11:00:00Z', rates: { 'c-epoll': { [P64]: 300, [P1K]: 30 } } },
      { date: '2026-12-01T12:00:00Z', rates: { 'c-epoll': { [P64]: 120, [P1K]: 50 } } },
    ), TARGETS);
    expect(m.rate.get(cellKey('c-epoll', P64))).toEqual({ median: 120, min: 100, max: 300, n: 3 });
    expect(m.rate.get(cellKey('c-epoll', P1K))).toEqual({ median: 30, min: 10, max: 50, n: 3 });
  });

  it('takes the median over runs of each run\'s own ratio to C, with its spread', () => {
    // Per run, 64 B: 0.9, 1.2, 1.1 (the ratio of the median rates would be 90 / 100);
    // 1 KiB: 0.5, 2.0, 1.0.
    const m = summariseRuns(load(
      { date: '2026-12-01T10:00:00Z', rates: { 'c-epoll': { [P64]: 100, [P1K]: 200 }, 'ns-selector': { [P64]: 90, [P1K]: 100 } } },
      { date: '2026-12-01T11:00:00Z', rates: { 'c-epoll': { [P64]: 200, [P1K]: 100 }, 'ns-selector': { [P64]: 240, [P1K]: 200 } } },
      { date: '2026-12-01T12:00:00Z', rates: { 'c-epoll': { [P64]: 50, [P1K]: 300 }, 'ns-selector': { [P64]: 55, [P1K]: 300 } } },
    ), TARGETS);
    const sel64 = m.vsC.get(cellKey('ns-selector', P64))!;
    expect(sel64.median).toBeCloseTo(1.1, 3);
    expect(sel64.min).toBeCloseTo(0.9, 3);
    expect(sel64.max).toBeCloseTo(1.2, 3);
    const sel1k = m.vsC.get(cellKey('ns-selector', P1K))!;
    expect([sel1k.median, sel1k.min, sel1k.max]).toEqual([1, 0.5, 2]);
  });

  it('calls a target met when every run reached it, missed when none did and mixed otherwise', () => {
    const m = summariseRuns(load(
      { date: '2026-12-01T10:00:00Z', rates: { 'c-epoll': { [P64]: 100, [P1K]: 100 }, 'ns-selector': { [P64]: 96, [P1K]: 90 }, 'ns-loop': { [P64]: 90, [P1K]: 1 } } },
      { date: '2026-12-01T11:00:00Z', rates: { 'c-epoll': { [P64]: 100, [P1K]: 100 }, 'ns-selector': { [P64]: 99, [P1K]: 96 }, 'ns-loop': { [P64]: 99, [P1K]: 1 } } },
    ), TARGETS);
    const row = (label: string, point: string) => m.targets.find((t) => t.label === label && t.point === point)!;
    expect(row('selector ÷ C', P64).verdict).toBe('met');
    expect(row('selector ÷ C', P1K).verdict).toBe('mixed');
    expect(row('selector ÷ C', P1K).values).toEqual([0.9, 0.96]);
    expect(row('loop ÷ C', P64).verdict).toBe('missed');
    expect(row('loop ÷ C', P64).values).toEqual([0.9, 0.99]);
    const md = summaryMarkdown(m);
    expect(md).toContain('| selector ÷ C | 1 KiB × 100 | ≥ 0.95× | 0.930× (0.90–0.96) | mixed | 0.900× | 0.960× |');
    expect(md).toMatch(/\*\*Missed in every run\*\* \(1\): loop ÷ C at 64 B × 10\./);
  });

  it('counts the runs in which a ratio to C was a floor because C and its loadgen were both saturated', () => {
    const rates = { 'c-epoll': { [P64]: 100, [P1K]: 100 }, 'ns-selector': { [P64]: 100, [P1K]: 100 } };
    const m = summariseRuns(load(
      { date: '2026-12-01T10:00:00Z', rates, cpu: { 'c-epoll': { loadgen: 95, server: 97 } } },
      { date: '2026-12-01T11:00:00Z', rates, cpu: { 'c-epoll': { loadgen: 95, server: 60 } } },
      { date: '2026-12-01T12:00:00Z', rates, cpu: { 'c-epoll': { loadgen: 92, server: 91 } } },
    ), TARGETS);
    expect(m.vsC.get(cellKey('ns-selector', P64))!.floors).toBe(2);
    expect(m.targets.find((t) => t.label === 'selector ÷ C' && t.point === P64)!.floors).toBe(2);
  });

  it('refuses to mix runs of different commits, and names each run\'s commit', () => {
    const rates = { 'c-epoll': { [P64]: 100, [P1K]: 100 } };
    const runs = load(
      { date: '2026-12-01T10:00:00Z', rates, commit: 'a'.repeat(40) },
      { date: '2026-12-01T11:00:00Z', rates, commit: 'b'.repeat(40) },
    );
    const why = mixReason(runs);
    expect(why).toMatch(/different commits/);
    expect(why).toContain('a'.repeat(40));
    expect(why).toContain('b'.repeat(40));
    expect(mixReason(load({ date: '2026-12-01T12:00:00Z', rates }, { date: '2026-12-01T13:00:00Z', rates }))).toBeNull();
  });

  it('compares runs of different commits that measured the same code', () => {
    const rates = { 'c-epoll': { [P64]: 100, [P1K]: 100 } };
    const code = 'c'.repeat(40);
    expect(mixReason(load(
      { date: '2026-12-01T10:00:00Z', rates, commit: 'a'.repeat(40), code },
      { date: '2026-12-01T11:00:00Z', rates, commit: 'b'.repeat(40), code },
    ))).toBeNull();
    expect(mixReason(load(
      { date: '2026-12-01T10:00:00Z', rates, commit: 'a'.repeat(40), code },
      { date: '2026-12-01T11:00:00Z', rates, commit: 'a'.repeat(40), code: 'd'.repeat(40) },
    ))).toMatch(/different commits/);
  });

  it('refuses to mix runs of different plans', () => {
    const rates = { 'c-epoll': { [P64]: 100, [P1K]: 100 } };
    expect(mixReason(load({ date: '2026-12-01T10:00:00Z', rates }, { date: '2026-12-01T11:00:00Z', rates, repeats: 2 })))
      .toMatch(/different plans/);
  });

  it('exits with a clear message, writing nothing, when asked to summarise runs of different commits', () => {
    const rates = { 'c-epoll': { [P64]: 100, [P1K]: 100 } };
    const a = write({ date: '2026-12-01T10:00:00Z', rates, commit: 'c'.repeat(40) });
    const b = write({ date: '2026-12-01T11:00:00Z', rates, commit: 'd'.repeat(40) });
    const out = path.join(dir, 'out');
    const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(ROOT, 'bench', 'summary.ts'), '--runs', a, b],
      { cwd: ROOT, encoding: 'utf8', env: { ...process.env, BENCH_RESULTS_DIR: out }, timeout: 15_000 });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/refusing to summarise: the runs are of different commits/);
    expect(r.stderr).toMatch(/--allow-mixed/);
    expect(fs.existsSync(path.join(out, 'summary.md'))).toBe(false);
  });

  it('lists archived runs oldest first and rejects a file that is not a run', () => {
    const runsDir = path.join(dir, 'runs');
    fs.mkdirSync(runsDir);
    for (const name of ['2026-12-02T09-00-00Z.json', '2026-11-30T09-00-00Z.json', 'notes.txt']) {
      fs.writeFileSync(path.join(runsDir, name), '{}');
    }
    expect(listRuns(runsDir).map((f) => path.basename(f))).toEqual(['2026-11-30T09-00-00Z.json', '2026-12-02T09-00-00Z.json']);
    expect(() => loadRun(path.join(runsDir, '2026-11-30T09-00-00Z.json'))).toThrow(/not a benchmark run/);
  });
});
