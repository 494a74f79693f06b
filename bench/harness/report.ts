// The figures of one run as markdown tables and an SVG chart. Pure.
import { BASELINE_C, BASELINE_NODE, HARNESS_CHECK, LOADGEN_CPU, SERVER_CPU, targetBar } from './servers.js';
import {
  bothSaturated, harnessBound, LOADGEN_BOUND_PCT, SERVER_SATURATED_PCT, type Summary, type TargetResult,
} from './stats.js';

// Other processes using more than this (% of one core) make a run noisy: it is
// run again, up to MAX_ATTEMPTS times in all, while the time budget allows,
// and the quietest attempt is kept. The choice looks only at the other
// processes' CPU, never at the result.
export const NOISY_PCT = 15;
export const MAX_ATTEMPTS = 3;

export interface Meta {
  date: string; plan: string; repeats: number; warmup_s: number; duration_s: number; pinning: boolean;
  machine: { cpus: number; cpu_model: string; kernel: string };
  versions: { node: string; python: string; cc: string };
  wall_s?: number;
  other_cpu_pct_before?: number;
  commit?: string | null; code?: string | null; dirty?: boolean; // code: last commit that changed what is measured
  loadavg?: { start: number[]; end?: number[] }; // 1, 5 and 15 minutes, as `uptime` shows
}

export const fmtInt = (x: number | null) => (x === null ? '–' : Math.round(x).toLocaleString('en-US'));
export const fmtRatio = (x: number | null) => (x === null ? '–' : `${x.toFixed(2)}×`);
export const fmtUs = (x: number | null) =>
  x === null ? '–' : x >= 10_000 ? `${(x / 1000).toFixed(0)} ms` : x >= 1000 ? `${(x / 1000).toFixed(1)} ms` : `${x.toFixed(0)} µs`;
const fmtUs2 = (x: number | null) => (x === null ? '–' : x.toFixed(2));

export const FLOOR_NOTE = `‡ both saturated: the C reference's loadgen and the C server were both ≥ ${LOADGEN_BOUND_PCT} % ` +
  'busy at that point, so the ratio is held back by what one loadgen core can drive: a floor.';
export const BOUND_NOTE = '† the loadgen held the base row back (it was busy, the base server was not), ' +
  'so the ratio overstates the server.';

/** A markdown table: one row per server, one column per point. */
export function serverTable(title: string, servers: string[], ids: string[], cell: (server: string, id: string) => string,
  note = ''): string[] {
  return [
    `### ${title}`, '', ...(note ? [note, ''] : []),
    `| server | ${ids.join(' | ')} |`,
    `|---|${ids.map(() => '---:').join('|')}|`,
    ...servers.map((srv) => `| ${srv} | ${ids.map((id) => cell(srv, id)).join(' | ')} |`),
    '',
  ];
}

export function markdown(meta: Meta, servers: string[], ids: string[], sums: Summary[], targets: TargetResult[]): string {
  const get = (server: string, id: string) => sums.find((s) => s.server === server && s.point === id)!;
  const table = (title: string, cell: (s: Summary) => string, note = '') =>
    serverTable(title, servers, ids, (srv, id) => cell(get(srv, id)), note);
  const cFloor = (id: string) => servers.includes(BASELINE_C) && bothSaturated(get(BASELINE_C, id));
  const lines = [
    `## Echo benchmark (${meta.plan} mode, ${meta.date.slice(0, 10)})`,
    '',
    `${meta.machine.cpus} × ${meta.machine.cpu_model}, ${meta.machine.kernel}; ` +
      `Node ${meta.versions.node}, ${meta.versions.python}. ` +
      (meta.commit ? `Commit ${meta.commit.slice(0, 12)}` +
        (meta.code && meta.code !== meta.commit ? ` (measured code as of ${meta.code.slice(0, 12)})` : '') +
        `${meta.dirty ? ' with uncommitted changes' : ''}. ` : '') +
      (meta.loadavg ? `Load averages at the start ${meta.loadavg.start.join(', ')}. ` : '') +
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
      `Every row is driven by the loadgen's io_uring engine where the kernel allows it (${
        engineOf(sums, servers.filter((s) => s !== HARNESS_CHECK))})` +
      (servers.includes(HARNESS_CHECK)
        ? `, except \`${HARNESS_CHECK}\`: the C reference driven by the epoll engine, which makes a send and a ` +
          'receive system call per message, to show how much the engine moves the C figure.' : '.')),
    ...(servers.includes(BASELINE_NODE)
      ? table(`Relative to Node \`net\` (${BASELINE_NODE})`, (s) => fmtRatio(s.vs_node) + (harnessBound(s) ? ' †' : '')) : []),
    ...(servers.includes(BASELINE_C)
      ? table(`Relative to the C reference (${BASELINE_C})`,
        (s) => fmtRatio(s.vs_c) + (harnessBound(s) ? ' †' : '') + (s.server === BASELINE_C && cFloor(s.point) ? ' ‡' : ''),
        'Where the C reference itself is marked †, the loadgen, not the C server, set the 1.00; ' +
        'ratios near or above 1 then only say "as fast as the harness can tell". Where it is marked ‡, ' +
        `its loadgen and the C server were both ≥ ${LOADGEN_BOUND_PCT} % busy: every ratio in that column is ` +
        'held back by what one loadgen core can drive, a floor ("both saturated").') : []),
    ...targetTable(targets),
    ...table('Latency p50 / p99', (s) => `${fmtUs(s.p50_us)} / ${fmtUs(s.p99_us)}`),
    ...table('CPU, server / loadgen / other processes (% of one core)',
      (s) => (s.server_cpu_pct === null ? '–'
        : `${s.server_cpu_pct.toFixed(0)} / ${s.loadgen_cpu_pct!.toFixed(0)} / ${s.other_cpu_pct!.toFixed(0)}`),
      'Server and loadgen over the measured interval. ' +
      'A server near 100 % with the loadgen well below it: the server is the bottleneck. ' +
      'Both near 100 %: they are evenly matched and the figure is a floor for the server. ' +
      'Both well below: the run waited on wake-ups between the two CPUs (latency-bound), ' +
      'or other processes took the CPUs (the third figure).'),
    ...table('Server CPU per message, user / system (µs)',
      (s) => (s.server_user_us_per_msg === null ? '–'
        : `${fmtUs2(s.server_user_us_per_msg)} / ${fmtUs2(s.server_sys_us_per_msg)}`),
      'The server\'s process group, utime and stime from /proc sampled when the loadgen\'s measured interval ' +
      'starts and ends, divided by the messages echoed in it (10 ms ticks: ±0.01 s over the interval). ' +
      'User time is what the server spends outside the kernel; system time is mostly the kernel\'s TCP work, ' +
      'which every server pays.'),
    ...table('Loadgen CPU per message, user / system (µs)',
      (s) => (s.loadgen_user_us_per_msg === null ? '–'
        : `${fmtUs2(s.loadgen_user_us_per_msg)} / ${fmtUs2(s.loadgen_sys_us_per_msg)}`)),
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

/** The targets as a checklist: each ratio, and whether it reached its bar. */
export function targetTable(targets: TargetResult[]): string[] {
  const labels = [...new Set(targets.map((t) => t.label))];
  if (labels.length === 0) return [];
  const rows = labels.map((label) => {
    const mine = targets.filter((t) => t.label === label);
    const cells = mine.map((t) => t.value === null ? `${t.point}: –`
      // three decimals: 2.00× must not hide a 1.997× miss
      : `${t.point}: ${t.value.toFixed(3)}× ${t.met ? '✓' : '✗'}${t.base_harness_bound ? ' †' : ''}` +
        `${t.floor ? ' ‡ both saturated' : ''}`);
    return `| ${label} | ${targetBar({ min: mine[0]!.min, strict: mine[0]!.strict })} | ${cells.join('; ')} |`;
  });
  return ['### Targets', '', 'Ratios as in the tables above (medians of back-to-back pairs). ' +
    `${BOUND_NOTE} ${FLOOR_NOTE}`, '',
    '| target | bar | measured |', '|---|---|---|', ...rows, ''];
}

// Which engine the loadgen used for a row ("uring", or "epoll" where the
// kernel had no io_uring).
function engineOf(sums: Summary[], servers: string[]): string {
  const seen = [...new Set(sums.filter((s) => servers.includes(s.server))
    .flatMap((s) => (s.engine ?? '').split(', ')).filter(Boolean))];
  return seen.length ? `used: ${seen.join(', ')}` : 'no run';
}

/** One bar of the chart. */
export interface Bar { value: number | null; title: string; mark?: string }

export interface Chart {
  title: string; subtitle: string; footer: string;
  servers: string[]; ids: string[];
  bar: (server: string, id: string) => Bar;
}

// Grouped bars: one group per point, one bar per server, height = a ratio
// (to the C reference, say), because absolute rates differ by orders of
// magnitude between points.
export function svgChart(c: Chart): string {
  const PALETTE = ['#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f', '#edc948', '#b07aa1',
    '#ff9da7', '#9c755f', '#bab0ac', '#1f77b4', '#8c564b', '#17becf', '#bcbd22'];
  const { servers, ids } = c;
  const bars = ids.map((id) => servers.map((srv) => c.bar(srv, id)));
  const top = Math.max(1, ...bars.flat().map((b) => b.value ?? 0));
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
  out.push(`<text x="${left}" y="20" font-size="14" font-weight="bold">${esc(c.title)}</text>`);
  out.push(`<text x="${left}" y="36" fill="#555">${esc(c.subtitle)}</text>`);
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
    servers.forEach((_srv, i) => {
      const b = bars[g]![i]!, v = b.value, x = gx + i * (barW + barGap);
      if (v === null) {
        out.push(`<text x="${x + barW / 2}" y="${y(0) - 4}" text-anchor="middle" fill="#999">×</text>`);
        return;
      }
      out.push(`<rect x="${x}" y="${y(v)}" width="${barW}" height="${y(0) - y(v)}" fill="${PALETTE[i % PALETTE.length]}">` +
        `<title>${esc(b.title)}</title></rect>`);
      out.push(`<text x="${x + barW / 2}" y="${y(v) - 3}" text-anchor="middle" font-size="8" fill="#333">${
        v >= 10 ? v.toFixed(0) : v.toFixed(2).replace(/^0/, '')}${b.mark ?? ''}</text>`);
    });
    out.push(`<text x="${gx + groupW / 2}" y="${plotTop + plotH + 18}" text-anchor="middle">${esc(id)}</text>`);
  });
  out.push(`<text x="${left}" y="${height - 10}" fill="#555">${esc(c.footer)}</text>`);
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

/** The chart of one run: throughput relative to C (or Node net, or the fastest server). */
export function runChart(meta: Meta, servers: string[], ids: string[], sums: Summary[]): string {
  const get = (server: string, id: string) => sums.find((s) => s.server === server && s.point === id)!;
  const base = servers.includes(BASELINE_C) ? BASELINE_C : servers.includes(BASELINE_NODE) ? BASELINE_NODE : null;
  const value = (s: Summary): number | null => {
    if (s.msgs_per_sec === null) return null;
    if (base === BASELINE_C) return s.vs_c;
    if (base === BASELINE_NODE) return s.vs_node;
    const best = Math.max(...servers.map((srv) => get(srv, s.point).msgs_per_sec ?? 0));
    return best ? s.msgs_per_sec / best : null;
  };
  return svgChart({
    title: `Echo throughput relative to ${base ?? 'the fastest server'} (= 1.0), higher is better`,
    subtitle: `${meta.plan} mode, median of ${meta.repeats}, ${meta.date.slice(0, 10)}; hover a bar for messages/s`,
    footer: `message size × connections, ping-pong; × no result; † loadgen ≥ ${LOADGEN_BOUND_PCT} % busy: harness limit`,
    servers, ids,
    bar: (srv, id) => {
      const s = get(srv, id), v = value(s);
      return { value: v, mark: harnessBound(s) ? '†' : '',
        title: `${srv}, ${id}: ${fmtInt(s.msgs_per_sec)} msg/s${v === null ? '' : `, ${v.toFixed(2)}×`}` };
    },
  });
}
