// Every test file must close what it opens: compare the process's fds at
// the end of the file with those at its start.
import { afterAll, beforeAll, expect } from 'vitest';

import { availableBackends, Selector } from '../../src/index.js';
import { leakedSince, openFds } from './fds.js';

let before: Map<number, string>;

beforeAll(() => {
  // Some backends make process-wide fds on first use (libkqueue's monitor
  // thread keeps an epoll and an eventfd): let them appear before the count.
  for (const backend of availableBackends) new Selector({ backend }).close();
  before = openFds();
});

afterAll(async () => {
  // A terminated worker thread's own event loop fds (epoll, pipe, eventfd)
  // are released when Node collects the Worker; give that a moment rather
  // than blame the file.
  let leaked = leakedSince(before);
  for (let i = 0; i < 20 && leaked.length > 0; i++) {
    (globalThis as { gc?: () => void }).gc?.();
    await new Promise((resolve) => setTimeout(resolve, 50));
    leaked = leakedSince(before);
  }
  expect(leaked, 'fds left open by this test file').toEqual([]);
});
