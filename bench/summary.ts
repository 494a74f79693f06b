// Summary of archived benchmark runs (bench/results/runs/*.json, which
// `npm run bench` writes): medians over the runs with their spread, and each
// target as met in every run, missed in every run, or mixed.
//
//   npx tsx bench/summary.ts [--last N | --runs FILE...] [--allow-mixed]
//
// Writes bench/results/summary.{md,svg} and prints the markdown. Runs of
// different plans or of different commits are refused unless --allow-mixed.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { RESULTS, ROOT, RUNS_DIR, TARGETS } from './harness/servers.js';
import { listRuns, loadRun, mixReason, summariseRuns, summaryChart, summaryMarkdown } from './harness/summary.js';

const USAGE = 'usage: npx tsx bench/summary.ts [--last N | --runs FILE...] [--allow-mixed]\n' +
  `  --last N       the N most recent runs in ${path.relative(ROOT, RUNS_DIR)}/ (default 3)\n` +
  '  --runs FILE... these archived runs\n' +
  '  --allow-mixed  summarise runs of different plans or commits together';

function fail(message: string): never {
  console.error(`summary: ${message}`);
  process.exit(1);
}

function parseArgs(argv: string[]) {
  const args = { last: 3, files: null as string[] | null, allowMixed: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--last') {
      args.last = Number(argv[++i]);
      if (!(Number.isInteger(args.last) && args.last >= 1)) fail('--last must be a positive integer');
    } else if (a === '--runs') {
      args.files = [];
      while (i + 1 < argv.length && !argv[i + 1]!.startsWith('--')) args.files.push(argv[++i]!);
      if (args.files.length === 0) fail('--runs needs at least one file');
    } else if (a === '--allow-mixed') {
      args.allowMixed = true;
    } else {
      console.error(USAGE);
      process.exit(1);
    }
  }
  return args;
}

function main(): void {
  const args = parseArgs(process.argv.slice(2));
  const files = args.files ?? listRuns(RUNS_DIR).slice(-args.last);
  if (files.length === 0) fail(`no archived runs in ${RUNS_DIR} (a full \`npm run bench\` writes one)`);
  if (!args.files && files.length < args.last) {
    console.error(`summary: warning: only ${files.length} archived run(s), fewer than --last ${args.last}`);
  }
  let loaded;
  try {
    loaded = files.map((f) => loadRun(f));
  } catch (e) {
    fail((e as Error).message);
  }
  const why = mixReason(loaded);
  if (why && !args.allowMixed) fail(`refusing to summarise: ${why}\n(--allow-mixed summarises them anyway)`);
  const m = summariseRuns(loaded, TARGETS);
  const md = summaryMarkdown(m) + (why ? `\n**Mixed runs** (--allow-mixed): ${why.replace(/\n\s*/g, ' ')}\n` : '');
  fs.mkdirSync(RESULTS, { recursive: true });
  fs.writeFileSync(path.join(RESULTS, 'summary.md'), md);
  fs.writeFileSync(path.join(RESULTS, 'summary.svg'), summaryChart(m));
  console.log(md);
  console.error(`summary: ${files.length} run(s); wrote ${path.relative(ROOT, RESULTS) || '.'}/summary.{md,svg}`);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main();
