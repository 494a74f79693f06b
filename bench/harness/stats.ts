// From the runs of one benchmark to its figures: medians per server and
// point, ratios of rows paired repeat by repeat, and the targets. Pure.
import { BASELINE_C, BASELINE_NODE, BASELINE_PYTHON, pointId, targetMet, type Point, type Target } from './servers.js';

/** The loadgen's JSON line. */
export interface LoadgenResult {
  mode: string; conns: number; size: number; seconds: number; messages: number;
  msgs_per_sec: number; mib_per_sec: number; p50_us: number; p99_us: number;
  byte_errors: number; connect_errors: number; disconnects: number; cpu_pct: number; cpu_total_s: number;
  cpu_user_s?: number; cpu_sys_s?: number; // over the measured interval (older builds: absent)
  engine?: string; // the loadgen's engine (older builds did not say: epoll)
}

/** One loadgen run against one server at one point. */
export interface Run {
  server: string; point: string; rep: number; ok: boolean; error?: string;
  result?: LoadgenResult;
  server_cpu_pct?: number; // % of one core, over server_cpu_interval
  server_user_s?: number; server_sys_s?: number; // over the measured interval
  server_cpu_interval?: 'measured' | 'whole run';
  other_cpu_pct?: number; // CPU used by processes other than the server and loadgen, % of one core
  attempts?: number;
}

export interface Summary {
  server: string; point: string; runs: number; failed: number;
  msgs_per_sec: number | null; mib_per_sec: number | null; p50_us: number | null; p99_us: number | null;
  server_cpu_pct: number | null; loadgen_cpu_pct: number | null; other_cpu_pct: number | null;
  /** µs of CPU per message over the measured interval, medians. */
  server_user_us_per_msg: number | null; server_sys_us_per_msg: number | null;
  loadgen_user_us_per_msg: number | null; loadgen_sys_us_per_msg: number | null;
  byte_errors: number; connect_errors: number; disconnects: number;
  vs_node: number | null; vs_c: number | null; vs_python: number | null;
  engine: string | null; // the loadgen's engine in these runs
  spread_pct: number | null; // half the range of msgs/s over repeats, % of the median
}

export const round = (x: number, digits = 0) => Math.round(x * 10 ** digits) / 10 ** digits;

export function median(xs: number[]): number | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

export function nullable(x: number | null, digits: number): number | null {
  return x === null ? null : round(x, digits);
}

// A loadgen busier than this (% of one core) while the server was not (below
// SERVER_SATURATED_PCT) was a limit itself: the figure is a floor for the
// server. When both are busy, the server is saturated too and the figure is
// its own rate under this load; the harness-check row shows how much the
// loadgen's engine moves it.
export const LOADGEN_BOUND_PCT = 90;
export const SERVER_SATURATED_PCT = 90;
type CpuPcts = { loadgen_cpu_pct: number | null; server_cpu_pct: number | null };
export const harnessBound = (s: CpuPcts) =>
  (s.loadgen_cpu_pct ?? 0) >= LOADGEN_BOUND_PCT && (s.server_cpu_pct ?? 0) < SERVER_SATURATED_PCT;
/** Loadgen and server both at their cores' limit: a ratio to this row is a floor. */
export const bothSaturated = (s: CpuPcts) =>
  (s.loadgen_cpu_pct ?? 0) >= LOADGEN_BOUND_PCT && (s.server_cpu_pct ?? 0) >= SERVER_SATURATED_PCT;

const perMsgUs = (seconds: number | undefined, r: Run) =>
  seconds === undefined || !r.result?.messages ? null : (seconds / r.result.messages) * 1e6;

/** Rates of one row at one point, by repeat. */
function rates(runs: Run[], server: string, point: string): Map<number, number> {
  return new Map(runs
    .filter((r) => r.ok && r.result && r.server === server && r.point === point)
    .map((r) => [r.rep, r.result!.msgs_per_sec]));
}

/**
 * server ÷ base at one point: runs of the same repeat and point, which ran
 * seconds apart, are paired, and the median of their ratios taken, so slow
 * drift of the machine cancels out.
 */
export function pairedRatio(runs: Run[], server: string, base: string, point: string): number | null {
  const mine = rates(runs, server, point), theirs = rates(runs, base, point);
  return nullable(median([...mine].filter(([rep]) => theirs.get(rep)).map(([rep, v]) => v / theirs.get(rep)!)), 3);
}

export function summarise(servers: string[], points: Point[], runs: Run[]): Summary[] {
  const out: Summary[] = [];
  for (const server of servers) {
    for (const p of points) {
      const id = pointId(p);
      const mine = runs.filter((r) => r.server === server && r.point === id);
      const good = mine.filter((r) => r.ok && r.result);
      const pick = (f: (r: Run) => number | null | undefined) =>
        median(good.map(f).filter((x): x is number => typeof x === 'number'));
      const sum = (f: (r: LoadgenResult) => number) =>
        mine.reduce((acc, r) => acc + (r.result ? f(r.result) : 0), 0);
      const m = pick((r) => r.result!.msgs_per_sec);
      const v = [...rates(runs, server, id).values()];
      out.push({
        server, point: id, runs: good.length, failed: mine.length - good.length,
        msgs_per_sec: m === null ? null : round(m, 1),
        mib_per_sec: nullable(pick((r) => r.result!.mib_per_sec), 2),
        p50_us: nullable(pick((r) => r.result!.p50_us), 1),
        p99_us: nullable(pick((r) => r.result!.p99_us), 1),
        server_cpu_pct: nullable(pick((r) => r.server_cpu_pct ?? 0), 1),
        loadgen_cpu_pct: nullable(pick((r) => r.result!.cpu_pct), 1),
        other_cpu_pct: nullable(pick((r) => r.other_cpu_pct ?? 0), 1),
        server_user_us_per_msg: nullable(pick((r) => perMsgUs(r.server_user_s, r)), 2),
        server_sys_us_per_msg: nullable(pick((r) => perMsgUs(r.server_sys_s, r)), 2),
        loadgen_user_us_per_msg: nullable(pick((r) => perMsgUs(r.result!.cpu_user_s, r)), 2),
        loadgen_sys_us_per_msg: nullable(pick((r) => perMsgUs(r.result!.cpu_sys_s, r)), 2),
        byte_errors: sum((r) => r.byte_errors),
        connect_errors: sum((r) => r.connect_errors),
        disconnects: sum((r) => r.disconnects),
        vs_node: pairedRatio(runs, server, BASELINE_NODE, id),
        vs_c: pairedRatio(runs, server, BASELINE_C, id),
        vs_python: pairedRatio(runs, server, BASELINE_PYTHON, id),
        spread_pct: v.length > 1 && m ? round(((Math.max(...v) - Math.min(...v)) / 2 / m) * 100, 1) : null,
        engine: [...new Set(good.map((r) => r.result!.engine ?? 'epoll'))].join(', ') || null,
      });
    }
  }
  return out;
}

/** One target at one point, in one run. */
export interface TargetResult {
  label: string; server: string; base: string; point: string; min: number; strict: boolean;
  value: number | null; met: boolean | null;
  /** A ratio to C where the C row had loadgen and server both saturated: a floor. */
  floor: boolean;
  /** The loadgen held the base row back (it was busy, the base server was not): the ratio overstates. */
  base_harness_bound: boolean;
}

/** Every target whose two rows are in the run, point by point. */
export function evaluateTargets(targets: Target[], servers: string[], runs: Run[], sums: Summary[]): TargetResult[] {
  const out: TargetResult[] = [];
  for (const t of targets) {
    if (!servers.includes(t.server) || !servers.includes(t.base)) continue;
    for (const point of t.points) {
      if (!sums.some((s) => s.point === point)) continue; // not a point of this plan
      const value = pairedRatio(runs, t.server, t.base, point);
      const base = sums.find((s) => s.server === t.base && s.point === point);
      out.push({
        label: t.label, server: t.server, base: t.base, point, min: t.min, strict: !!t.strict,
        value, met: value === null ? null : targetMet(t, value),
        floor: t.base === BASELINE_C && !!base && bothSaturated(base),
        base_harness_bound: !!base && harnessBound(base),
      });
    }
  }
  return out;
}
