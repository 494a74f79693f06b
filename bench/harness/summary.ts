// Several archived full runs (bench/results/runs/*.json) as one summary:
// medians over the runs with their spread, and each target as met in all of
// them, missed in all, or mixed. Pure: reading files is the caller's job,
// apart from loadRun.
import fs from 'node:fs';
import path from 'node:path';
import { fmtInt, serverTable, svgChart, type Meta } from './report.js';
import { BASELINE_C, BASELINE_NODE, pointId, targetBar, type Point, type Target } from './servers.js';
import { bothSaturated, evaluateTargets, median, round, summarise, type Run, type Summary } from './stats.js';

/** An archived run, as run.ts writes it. */
export interface RunFile {
  meta: Meta;
  points: (Point & { id?: string })[];
  servers: string[];
  runs: Run[];
}

export interface LoadedRun { file: string; data: RunFile }

export function loadRun(file: string): LoadedRun {
  const data = JSON.parse(fs.readFileSync(file, 'utf8')) as RunFile;
  if (!data.meta || !Array.isArray(data.points) || !Array.isArray(data.servers) || !Array.isArray(data.runs)) {
    throw new Error(`${file}: not a benchmark run (no meta, points, servers and runs)`);
  }
  return { file, data };
}

/** The archived runs of a folder, oldest first (their names are their UTC start times). */
export function listRuns(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir).filter((f) => f.endsWith('.json')).sort().map((f) => path.join(dir, f));
}

/** What must be equal for runs to be compared: the plan (mode, repeats, timing, points). */
export function planKey(d: RunFile): string {
  return `${d.meta.plan} mode, ${d.meta.repeats} repeats, warm-up ${d.meta.warmup_s} s, measure ${d.meta.duration_s} s, ` +
    `points ${d.points.map(pointId).join(' | ')}`;
}

// Runs compare when they measured the same code (older runs knew only the commit).
export const commitOf = (d: RunFile) => d.meta.code ?? d.meta.commit ?? 'unknown';

/** Why these runs must not be summarised together, or null when they may. */
export function mixReason(runs: LoadedRun[]): string | null {
  const explain = (what: string, key: (d: RunFile) => string) => {
    const keys = new Set(runs.map((r) => key(r.data)));
    if (keys.size < 2) return null;
    return `the runs are of different ${what}:\n${runs.map((r) => `  ${path.basename(r.file)}: ${key(r.data)}`).join('\n')}`;
  };
  return explain('plans', planKey) ?? explain('commits', commitOf);
}

export interface Spread { median: number | null; min: number | null; max: number | null; n: number }

export function spreadOf(xs: (number | null | undefined)[]): Spread {
  const v = xs.filter((x): x is number => typeof x === 'number');
  return { median: median(v), min: v.length ? Math.min(...v) : null, max: v.length ? Math.max(...v) : null, n: v.length };
}

export interface RatioCell extends Spread { floors: number } // runs in which the ratio to C was a floor

export interface TargetRow {
  label: string; point: string; bar: string;
  values: (number | null)[]; // one per run, in run order (null: not measured in that run)
  ratio: Spread;
  verdict: 'met' | 'missed' | 'mixed' | 'no data';
  floors: number;
}

export interface MultiSummary {
  runs: {
    file: string; date: string; commit: string; dirty: boolean; plan: string; loadavg: Meta['loadavg'];
    wall_s?: number; other_cpu_pct_before?: number;
  }[];
  plan: string; servers: string[]; ids: string[];
  rate: Map<string, Spread>; // key server + '\t' + point
  vsC: Map<string, RatioCell>; vsNode: Map<string, RatioCell>;
  targets: TargetRow[];
}

export const cellKey = (server: string, point: string) => `${server}\t${point}`;

/** Medians and spreads over the runs, and each target's verdict over all of them. */
export function summariseRuns(loaded: LoadedRun[], targets: Target[]): MultiSummary {
  if (loaded.length === 0) throw new Error('no runs to summarise');
  const per = loaded.map(({ data }) => {
    const sums = summarise(data.servers, data.points, data.runs);
    return { data, sums, targets: evaluateTargets(targets, data.servers, data.runs, sums) };
  });
  const servers = [...new Set(per.flatMap((p) => p.data.servers))];
  const ids = per[0]!.data.points.map(pointId);
  const find = (sums: Summary[], server: string, point: string) =>
    sums.find((s) => s.server === server && s.point === point);
  const cFloor = (sums: Summary[], point: string) => {
    const c = find(sums, BASELINE_C, point);
    return !!c && bothSaturated(c);
  };
  const rate = new Map<string, Spread>(), vsC = new Map<string, RatioCell>(), vsNode = new Map<string, RatioCell>();
  for (const server of servers) {
    for (const id of ids) {
      const cells = per.map((p) => find(p.sums, server, id));
      rate.set(cellKey(server, id), spreadOf(cells.map((s) => s?.msgs_per_sec)));
      vsC.set(cellKey(server, id), { ...spreadOf(cells.map((s) => s?.vs_c)),
        floors: per.filter((p, i) => cells[i]?.vs_c != null && cFloor(p.sums, id)).length });
      vsNode.set(cellKey(server, id), { ...spreadOf(cells.map((s) => s?.vs_node)), floors: 0 });
    }
  }
  const rows: TargetRow[] = [];
  for (const t of targets) {
    for (const point of t.points) {
      const found = per.map((p) => p.targets.find((r) => r.label === t.label && r.point === point));
      if (found.every((r) => !r)) continue;
      const values = found.map((r) => r?.value ?? null);
      const judged = found.filter((r) => r && r.met !== null);
      const met = judged.filter((r) => r!.met).length;
      rows.push({
        label: t.label, point, bar: targetBar(t), values, ratio: spreadOf(values),
        verdict: judged.length === 0 ? 'no data' : met === judged.length ? 'met' : met === 0 ? 'missed' : 'mixed',
        floors: found.filter((r) => r?.floor).length,
      });
    }
  }
  return {
    runs: loaded.map(({ file, data }) => ({ file, date: data.meta.date, commit: commitOf(data), dirty: !!data.meta.dirty,
      plan: planKey(data), loadavg: data.meta.loadavg, wall_s: data.meta.wall_s,
      other_cpu_pct_before: data.meta.other_cpu_pct_before })),
    plan: planKey(loaded[0]!.data), servers, ids, rate, vsC, vsNode, targets: rows,
  };
}

const fmtX = (x: number | null) => (x === null ? '–' : `${x.toFixed(2)}×`);
const fmtSpread = (s: Spread) =>
  s.n < 2 || s.min === null || s.min === s.max ? '' : ` (${s.min.toFixed(2)}–${s.max!.toFixed(2)})`;
const fmtLoad = (l: Meta['loadavg']) =>
  l ? `${l.start.join(', ')}${l.end ? ` → ${l.end.join(', ')}` : ''}` : '–';

export function summaryMarkdown(m: MultiSummary): string {
  const n = m.runs.length;
  const ratioTable = (title: string, cells: Map<string, RatioCell>, note: string) =>
    serverTable(title, m.servers, m.ids, (srv, id) => {
      const c = cells.get(cellKey(srv, id))!;
      return c.median === null ? '–' : `${fmtX(c.median)}${fmtSpread(c)}${c.floors ? ` ‡${c.floors}` : ''}`;
    }, note);
  const lines = [
    `## Echo benchmark: ${n} run${n === 1 ? '' : 's'} summarised`,
    '',
    `Plan: ${m.plan}.`,
    '',
    '| run (UTC) | code (last commit that changed it) | load averages, start → end (1, 5, 15 min) | other processes before the start | wall |',
    '|---|---|---|---:|---:|',
    ...m.runs.map((r) => `| ${r.date.replace('T', ' ').replace(/\.\d+Z$/, 'Z')} | ${r.commit.slice(0, 12)}` +
      `${r.dirty ? ' (uncommitted changes)' : ''} | ${fmtLoad(r.loadavg)} | ` +
      `${r.other_cpu_pct_before === undefined ? '–' : `${r.other_cpu_pct_before.toFixed(0)} % of a core`} | ` +
      `${r.wall_s ?? '–'} s |`),
    '',
    'Each figure is the median over the runs of that run\'s own figure (itself a median over its repeats; ' +
      'a ratio pairs runs made seconds apart); in brackets the lowest and highest of the runs.',
    '',
    ...serverTable('Messages per second, median over the runs', m.servers, m.ids, (srv, id) => {
      const s = m.rate.get(cellKey(srv, id))!;
      if (s.median === null) return '–';
      const half = s.n > 1 ? ` ±${round(((s.max! - s.min!) / 2 / s.median) * 100)}%` : '';
      return `${fmtInt(s.median)}${half}`;
    }, '± is half the range over the runs, % of the median.'),
    ...(m.servers.includes(BASELINE_C) ? ratioTable(`Relative to the C reference (${BASELINE_C})`, m.vsC,
      '‡k: in k of the runs the C reference\'s loadgen and the C server were both ≥ 90 % busy at that point ' +
      '(both saturated): there the ratio is a floor.') : []),
    ...(m.servers.includes(BASELINE_NODE) ? ratioTable(`Relative to Node \`net\` (${BASELINE_NODE})`, m.vsNode, '') : []),
  ];
  if (m.targets.length) {
    lines.push('### Targets', '',
      `Met: reached in every run; missed: in none; mixed: in some. ‡k: a floor in k runs (both saturated).`, '',
      `| target | point | bar | median (min–max) | verdict | ${m.runs.map((_, i) => `run ${i + 1}`).join(' | ')} |`,
      `|---|---|---|---:|---|${m.runs.map(() => '---:').join('|')}|`,
      ...m.targets.map((t) => `| ${t.label} | ${t.point} | ${t.bar} | ${t.ratio.median === null ? '–'
        : `${t.ratio.median.toFixed(3)}×${fmtSpread(t.ratio)}`} | ${t.verdict}${t.floors ? ` ‡${t.floors}` : ''} | ` +
        `${t.values.map((v) => (v === null ? '–' : `${v.toFixed(3)}×`)).join(' | ')} |`),
      '');
    const by = (v: TargetRow['verdict']) => m.targets.filter((t) => t.verdict === v).map((t) => `${t.label} at ${t.point}`);
    for (const [verdict, title] of [['met', 'Met in every run'], ['missed', 'Missed in every run'],
      ['mixed', 'Met in some runs only']] as const) {
      const list = by(verdict);
      lines.push(`**${title}** (${list.length}): ${list.length ? list.join('; ') : 'none'}.`, '');
    }
  }
  return `${lines.join('\n')}\n`;
}

/** The median ratios to C as a chart (the runs' chart, over runs). */
export function summaryChart(m: MultiSummary): string {
  const dates = m.runs.map((r) => r.date.slice(0, 16).replace('T', ' '));
  return svgChart({
    title: `Echo throughput relative to ${BASELINE_C} (= 1.0), median of ${m.runs.length} runs, higher is better`,
    subtitle: `runs ${dates[0]}${dates.length > 1 ? ` to ${dates[dates.length - 1]}` : ''} UTC; ` +
      'hover a bar for the spread',
    footer: 'message size × connections, ping-pong; × no result; ‡ a floor in some run (both saturated)',
    servers: m.servers, ids: m.ids,
    bar: (srv, id) => {
      const c = m.vsC.get(cellKey(srv, id))!;
      return { value: c.median, mark: c.floors ? '‡' : '',
        title: `${srv}, ${id}: ${fmtX(c.median)}${fmtSpread(c)} over ${c.n} runs, ` +
          `${fmtInt(m.rate.get(cellKey(srv, id))!.median)} msg/s` };
    },
  });
}
