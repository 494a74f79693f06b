// NODE_DEBUG=native-selectors: the ResourceWarning for a Socket collected
// unclosed shows where that Socket was created. The switch is read when the
// package loads, so each case runs in a child process of its own.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));

// Drops an unclosed Socket made in a function with a name to look for, and
// collects garbage until the warning comes; prints the warning's detail.
const script = `
import { Socket } from './src/index.ts';
function makeTheLeakySocket() { new Socket(); }
makeTheLeakySocket();
process.on('warning', (w) => {
  if (w.name !== 'ResourceWarning') return;
  console.log(JSON.stringify({ message: w.message, detail: w.detail }));
  process.exit(0);
});
for (let i = 0; i < 100; i++) { globalThis.gc(); await new Promise((r) => setTimeout(r, 10)); }
console.log('no warning');
`;

function warningWith(env: Record<string, string>): { message: string; detail: string } {
  const { NODE_DEBUG: _, ...rest } = process.env;
  const result = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', '--input-type=module', '-e', script], {
    cwd: root, env: { ...rest, ...env }, encoding: 'utf8', timeout: 30_000,
  });
  expect(result.status, result.stderr).toBe(0);
  return JSON.parse(result.stdout.trim().split('\n').pop()!);
}

describe('NODE_DEBUG=native-selectors', () => {
  it('makes the unclosed-Socket warning show the stack where the Socket was created', () => {
    const { message, detail } = warningWith({ NODE_DEBUG: 'net,native-selectors' });
    expect(message).toMatch(/^unclosed Socket \(fd \d+\) was garbage-collected; call close\(\)$/);
    expect(detail).toMatch(/^The Socket was created\n\s+at new Socket .*\n\s+at makeTheLeakySocket /);
  });

  it('is off by default, and the warning says how to turn it on', () => {
    const { detail } = warningWith({});
    expect(detail).toBe('Run with NODE_DEBUG=native-selectors to see where it was created.');
  });
});
