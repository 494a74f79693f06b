// The published shape: `npm pack` gives a tarball that installs into an
// empty project (building the addon there) and imports from ESM and CJS.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'ns-pack-'));
const project = join(work, 'consumer');

function run(cmd: string, args: string[], cwd: string): string {
  return execFileSync(cmd, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 240_000 });
}

describe('npm package', () => {
  beforeAll(() => {
    const out = run('npm', ['pack', '--json', '--pack-destination', work], root);
    const tarball = join(work, JSON.parse(out)[0].filename);
    run('mkdir', ['-p', project], work);
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true }));
    // --prefer-offline: the dependencies are in npm's cache from our own install.
    run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', tarball], project);
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

  it('imports from an ES module', () => {
    writeFileSync(join(project, 'esm.mjs'), `import * as m from 'native-selectors';\n${check}`);
    expect(JSON.parse(run('node', ['esm.mjs'], project))).toEqual([expect.any(String), 1, 'a', 'function']);
  });

  it('requires from a CommonJS module', () => {
    writeFileSync(join(project, 'cjs.cjs'), `const m = require('native-selectors');\n${check}`);
    expect(JSON.parse(run('node', ['cjs.cjs'], project))).toEqual([expect.any(String), 1, 'a', 'function']);
  });

  it('ships type declarations', () => {
    const pkg = JSON.parse(run('node', ['-p', 'JSON.stringify(require("native-selectors/package.json"))'], project));
    expect(pkg.types).toBe('./dist/index.d.ts');
    run('test', ['-f', join(project, 'node_modules/native-selectors/dist/index.d.ts')], project);
  });
});
