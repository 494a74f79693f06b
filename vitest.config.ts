import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Child processes, not worker threads: tests install signal handlers
    // and lower rlimits, which must not reach other files.
    pool: 'forks',
    // gc() lets tests prove what happens to objects dropped without close(),
    // and lets the leak guard collect finished worker threads.
    execArgv: ['--expose-gc'],
    setupFiles: ['test/support/fd-leak-guard.ts', 'test/support/loop-io.ts'],
    testTimeout: 20_000,
    hookTimeout: 20_000,
    // The machine has two cores and tests measure time: keep files from
    // starving each other.
    maxWorkers: 2,
  },
});
