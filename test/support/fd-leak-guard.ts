// Every test file must close what it opens: compare the process's fds at
// the end of the file with those at its start.
import { afterAll, beforeAll, expect } from 'vitest';

import { leakedSince, openFds } from './fds.js';

let before: Map<number, string>;

beforeAll(() => {
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
