// Reads what a sanitizer run left behind and decides whether it is clean:
//   - every AddressSanitizer error report (any process) is a finding;
//   - every UndefinedBehaviorSanitizer "runtime error:" (they go to stderr,
//     so they are read from the captured test output) is a finding;
//   - a LeakSanitizer leak is a finding only when its allocation stack has a
//     frame in the addon: Node and V8 leave plenty of their own allocations
//     behind at exit, which say nothing about this project;
//   - LeakSanitizer failing to run at all is a finding, and so is a run in
//     which no test worker performed its leak check.
// Frames are logged unsymbolized (symbolize=0 keeps the leak checks fast);
// the frames of each finding are symbolized here, with llvm-symbolizer or
// addr2line.
//
// usage: node scan-logs.mjs --logs DIR --output FILE --checks FILE --addon PATH [--results JSON]
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';

const args = {};
for (let i = 2; i < process.argv.length; i += 2) args[process.argv[i].replace(/^--/, '')] = process.argv[i + 1];
const addonName = basename(args.addon ?? 'native_selectors.node');

const FRAME = /^\s*#\d+\s/;
const inAddon = (line) => line.includes(addonName) || /\bns::/.test(line) || /\/native\/[a-z]+\.(cc|h)\b/.test(line);

const asanErrors = [];   // { file, text }
const ubsanErrors = [];  // { where, text }
const addonLeaks = new Map(); // stack key -> { bytes, objects, kind, frames, files }
const fatal = [];        // LeakSanitizer could not run
let otherLeakRecords = 0;
let leakReports = 0;

function scanLog(file, text) {
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (/LeakSanitizer has encountered a fatal error|LeakSanitizer does not work under ptrace/.test(line)) {
      fatal.push(`${basename(file)}: ${line.trim()}`);
    } else if (/ERROR: LeakSanitizer: detected memory leaks/.test(line)) {
      leakReports++;
    } else if (/^(Direct|Indirect) leak of (\d+) byte\(s\) in (\d+) object\(s\)/.test(line)) {
      const [, kind, bytes, objects] = line.match(/^(Direct|Indirect) leak of (\d+) byte\(s\) in (\d+) object\(s\)/);
      const frames = [];
      while (i + 1 < lines.length && FRAME.test(lines[i + 1])) frames.push(lines[++i].trim());
      if (!frames.some(inAddon)) {
        otherLeakRecords++;
        continue;
      }
      const key = frames.filter(inAddon).map((f) => f.replace(/^#\d+\s+0x[0-9a-f]+\s+/, '')).join('|');
      const entry = addonLeaks.get(key) ?? { kind, bytes: 0, objects: 0, frames, files: new Set(), file };
      entry.bytes += Number(bytes);
      entry.objects += Number(objects);
      entry.files.add(basename(file));
      addonLeaks.set(key, entry);
    } else if (/ERROR: AddressSanitizer|AddressSanitizer:DEADLYSIGNAL/.test(line)) {
      const start = i;
      while (i + 1 < lines.length && !/^SUMMARY: AddressSanitizer|^==\d+==ABORTING/.test(lines[i])) i++;
      asanErrors.push({ file: basename(file), text: lines.slice(start, i + 1) });
    }
  }
}

function scanOutput(text) {
  // eslint-disable-next-line no-control-regex
  const lines = text.replace(/\x1b\[[0-9;]*m/g, '').split('\n');
  for (let i = 0; i < lines.length; i++) {
    if (/: runtime error: /.test(lines[i]) || /ERROR: UndefinedBehaviorSanitizer/.test(lines[i])) {
      const start = i;
      while (i + 1 < lines.length && (FRAME.test(lines[i + 1]) || /^0x[0-9a-f]+: note|^\s+\^|^ [0-9a-f ]+$/.test(lines[i + 1]))) i++;
      ubsanErrors.push({ where: 'test output', text: lines.slice(start, i + 1) });
    } else if (/ERROR: AddressSanitizer/.test(lines[i])) {
      // Only when log_path did not take: normally these are in the log files.
      asanErrors.push({ file: 'test output', text: [lines[i]] });
    }
  }
}

// "(/path/module+0x1234)" frames -> "function file:line" via the symbolizer.
function symbolize(frames) {
  const byModule = new Map();
  for (const f of frames) {
    const m = f.match(/\((\/[^()+]+)\+(0x[0-9a-f]+)\)\s*$/);
    if (m && !/ in /.test(f)) {
      if (!byModule.has(m[1])) byModule.set(m[1], []);
      byModule.get(m[1]).push(m[2]);
    }
  }
  const names = new Map();
  for (const [module, offsets] of byModule) {
    if (!existsSync(module)) continue;
    let out = '';
    try {
      out = execFileSync('llvm-symbolizer', ['--obj', module, '--inlines', '--demangle', ...offsets],
        { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
      const groups = out.trim().split(/\n\s*\n/);
      offsets.forEach((off, k) => {
        const parts = (groups[k] ?? '').split('\n');
        const calls = [];
        for (let j = 0; j + 1 < parts.length; j += 2) calls.push(`${parts[j]} ${parts[j + 1].replace(/^.*\/(native|node-addon-api)\//, '$1/')}`);
        names.set(`${module}+${off}`, calls.join(' <- inlined in '));
      });
    } catch {
      try {
        out = execFileSync('addr2line', ['-f', '-C', '-e', module, ...offsets], { encoding: 'utf8' });
        const parts = out.trim().split('\n');
        offsets.forEach((off, k) => names.set(`${module}+${off}`, `${parts[2 * k]} ${parts[2 * k + 1]}`));
      } catch {
        // leave the frames as they are
      }
    }
  }
  return frames.map((f) => {
    const m = f.match(/\((\/[^()+]+)\+(0x[0-9a-f]+)\)\s*$/);
    const name = m && names.get(`${m[1]}+${m[2]}`);
    return name ? `${f.replace(/\s+\(.*$/, '')} in ${name}` : f;
  });
}

// A leak with an addon frame is the addon's unless V8 made the allocation
// for itself on the way (a GC that the addon's allocation triggered, whose
// page bookkeeping lives in V8's own mmap'd heap, which LeakSanitizer does
// not scan): the frames between the allocator and the first addon frame must
// be Node-API or libstdc++, not v8::internal. A leaked napi reference
// (napi_create_reference -> v8impl::Reference) or a `new` in the addon stays
// a finding.
function isV8Internal(leak) {
  const first = leak.frames.findIndex(inAddon);
  const between = symbolize(leak.frames.slice(1, first));
  return between.some((f) => /v8::internal::|Builtins_|v8::base::|cppgc::/.test(f));
}

const logFiles = existsSync(args.logs) ? readdirSync(args.logs).map((f) => join(args.logs, f)) : [];
for (const file of logFiles) scanLog(file, readFileSync(file, 'utf8'));
if (args.output && existsSync(args.output)) scanOutput(readFileSync(args.output, 'utf8'));
let v8Internal = 0;
for (const [key, leak] of addonLeaks) {
  if (isV8Internal(leak)) {
    addonLeaks.delete(key);
    v8Internal++;
  }
}

const checks = args.checks && existsSync(args.checks)
  ? readFileSync(args.checks, 'utf8').split('\n').filter(Boolean) : [];
const helperMissing = checks.filter((l) => l.split(' ')[1] === '-1').length;
const checkMs = checks.reduce((sum, l) => sum + (Number(l.split(' ')[2]) || 0), 0);

let results = null;
if (args.results && existsSync(args.results)) {
  try {
    results = JSON.parse(readFileSync(args.results, 'utf8'));
  } catch {
    results = null;
  }
}
const files = results?.testResults?.length ?? 0;

const say = (s = '') => process.stdout.write(`${s}\n`);
say('\n=== sanitizer findings (ASan + UBSan + LSan, addon-only leaks)');
for (const e of asanErrors) {
  say(`\n--- AddressSanitizer error (${e.file})`);
  // The first frames of each stack (access, allocation, free) are what matter.
  const text = e.text.filter((l) => !FRAME.test(l) || Number(l.match(/#(\d+)/)[1]) < 10);
  const named = symbolize(text.filter((l) => FRAME.test(l)));
  let k = 0;
  say(text.map((l) => (FRAME.test(l) ? `    ${named[k++]}` : l)).join('\n'));
}
for (const e of ubsanErrors) {
  say('\n--- UndefinedBehaviorSanitizer error');
  say(e.text.slice(0, 30).join('\n'));
}
for (const [, leak] of addonLeaks) {
  say(`\n--- ${leak.kind} leak of ${leak.bytes} byte(s) in ${leak.objects} object(s), allocated from (in ${[...leak.files].join(', ')}):`);
  let last = 0;
  leak.frames.forEach((f, k) => { if (inAddon(f)) last = k; });
  say(symbolize(leak.frames.slice(0, last + 3)).map((f) => `    ${f}`).join('\n'));
}
for (const f of fatal) say(`\n--- LeakSanitizer could not run: ${f}`);

const problems = [];
if (asanErrors.length) problems.push(`${asanErrors.length} AddressSanitizer error(s)`);
if (ubsanErrors.length) problems.push(`${ubsanErrors.length} UndefinedBehaviorSanitizer error(s)`);
if (addonLeaks.size) problems.push(`${addonLeaks.size} leak(s) allocated by the addon`);
if (fatal.length) problems.push(`LeakSanitizer failed ${fatal.length} time(s)`);
if (files > 0 && checks.length === 0) problems.push('no test worker ran its leak check (preload not active?)');
if (helperMissing) problems.push(`${helperMissing} leak check(s) found no LeakSanitizer runtime`);

say('\n=== sanitizer summary');
if (results) {
  say(`tests: ${results.numPassedTests} passed, ${results.numFailedTests} failed, ${results.numPendingTests} not run, ` +
    `in ${files} file(s)`);
}
say(`sanitizer log files: ${logFiles.length}; leak reports: ${leakReports}; in-worker leak checks: ${checks.length} (${(checkMs / 1000).toFixed(1)} s)`);
say(`AddressSanitizer errors: ${asanErrors.length}`);
say(`UndefinedBehaviorSanitizer errors: ${ubsanErrors.length}`);
say(`leaks allocated by the addon: ${addonLeaks.size} (ignored: ${otherLeakRecords} leak records with no addon frame, ` +
  `from Node/V8 and other programs; ${v8Internal} made by V8 itself during an addon call)`);
say(problems.length ? `sanitizers: FAIL (${problems.join('; ')})` : 'sanitizers: clean');
// The findings go into the vitest report too, so that a CI step counting
// reports sees a failed run even when every test passed.
if (results && problems.length) {
  results.success = false;
  results.sanitizerFindings = problems;
  writeFileSync(args.results, JSON.stringify(results));
}
process.exit(problems.length ? 1 : 0);
