// The published shape: `npm pack` gives a tarball with a prebuilt addon for
// this platform, which installs into an empty project on a machine with no
// compiler (no build runs) and imports from ESM and CJS.
//
// The pack runs in a copy of the repository's files: its `prepack` rebuilds
// the addon (prebuildify runs node-gyp into build/), which must not pull the
// addon out from under the test files running beside this one.
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'ns-pack-'));
const source = join(work, 'source');
const project = join(work, 'consumer');
const bin = join(work, 'bin');
const noScripts = join(work, 'no-scripts');
let installLog = '';
let packedFiles: string[] = [];

function run(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = process.env): string {
  return execFileSync(cmd, args, { cwd, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 240_000 });
}

/** PATH with node, npm and a shell only: no cc, c++, g++, gcc, make or python. */
function bareEnv(): NodeJS.ProcessEnv {
  mkdirSync(bin);
  const npmCli = join(dirname(process.execPath), 'npm');
  for (const [name, target] of [['node', process.execPath], ['npm', npmCli], ['sh', '/bin/sh']] as const) {
    symlinkSync(target, join(bin, name));
  }
  const env: NodeJS.ProcessEnv = { ...process.env, PATH: bin, CC: '/bin/false', CXX: '/bin/false' };
  delete env.npm_config_prefix;
  return env;
}

describe('npm package', () => {
  beforeAll(() => {
    const files = run('git', ['ls-files', '-z'], root).split('\0').filter((f) => f !== '' && existsSync(join(root, f)));
    for (const file of files) cpSync(join(root, file), join(source, file), { recursive: true });
    symlinkSync(join(root, 'node_modules'), join(source, 'node_modules'));
    // The arm64 cross build is CI's to check (.ci/run), not this test's.
    const out = run('npm', ['pack', '--json', '--pack-destination', work], source, { ...process.env, PREBUILD_HOST_ONLY: '1' });
    const [packed] = JSON.parse(out.slice(out.indexOf('[')));
    packedFiles = packed.files.map((f: { path: string }) => f.path);
    const tarball = join(work, packed.filename);
    mkdirSync(project);
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true }));
    // --prefer-offline: the dependencies are in npm's cache from our own install.
    const env = bareEnv();
    installLog = run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--foreground-scripts', tarball], project, env);
    // As an npm that blocks unapproved install scripts would install it.
    mkdirSync(noScripts);
    writeFileSync(join(noScripts, 'package.json'), JSON.stringify({ name: 'no-scripts', version: '1.0.0', private: true }));
    run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts', tarball], noScripts, env);
  }, 300_000);

  afterAll(() => rmSync(work, { recursive: true, force: true }));

  const check = `
    const sel = new m.Selector();
    const [a, b] = m.socketpair();
    sel.register(a, m.EVENT_READ, 'a');
    b.send(Buffer.from('x'));
    const ready = sel.select(1000);
    console.log(JSON.stringify([sel.backend, ready.length, ready[0][0].data, typeof m.OSError]));
    sel.close(); a.close(); b.close();`;

  it('ships a stripped Node-API prebuild for this platform, tagged with its libc', () => {
    const prebuilds = packedFiles.filter((f) => f.startsWith('prebuilds/'));
    expect(prebuilds).toContain(`prebuilds/${process.platform}-${process.arch}/native-selectors.glibc.node`);
    expect(packedFiles.some((f) => f.startsWith('build/'))).toBe(false);
  });

  it('installs with no compiler on PATH, using the prebuild instead of building', () => {
    const installed = join(project, 'node_modules/native-selectors');
    expect(existsSync(join(installed, 'build'))).toBe(false);
    expect(readdirSync(join(installed, 'prebuilds'))).toEqual([`${process.platform}-${process.arch}`]);
    expect(installLog).not.toMatch(/gyp info|make:/);
  });

  it('imports from an ES module', () => {
    writeFileSync(join(project, 'esm.mjs'), `import * as m from 'native-selectors';\n${check}`);
    expect(JSON.parse(run('node', ['esm.mjs'], project))).toEqual([expect.any(String), 1, 'a', 'function']);
  });

  it('requires from a CommonJS module', () => {
    writeFileSync(join(project, 'cjs.cjs'), `const m = require('native-selectors');\n${check}`);
    expect(JSON.parse(run('node', ['cjs.cjs'], project))).toEqual([expect.any(String), 1, 'a', 'function']);
  });

  it('works with its install script skipped, from the prebuild', () => {
    writeFileSync(join(noScripts, 'cjs.cjs'), `const m = require('native-selectors');\n${check}`);
    expect(JSON.parse(run('node', ['cjs.cjs'], noScripts))).toEqual([expect.any(String), 1, 'a', 'function']);
  });

  it('ships type declarations, and the sources its source maps point at', () => {
    const pkg = JSON.parse(run('node', ['-p', 'JSON.stringify(require("native-selectors/package.json"))'], project));
    expect(pkg.types).toBe('./dist/index.d.ts');
    expect(packedFiles).toContain('dist/index.d.ts');
    const maps = packedFiles.filter((f) => f.endsWith('.js.map'));
    expect(maps.length).toBeGreaterThan(0);
    for (const map of maps) {
      const ts = map.replace(/^dist\//, 'src/').replace(/\.js\.map$/, '.ts');
      expect(packedFiles).toContain(ts);
    }
  });
});
