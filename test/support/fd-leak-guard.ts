// Every test file must close what it opens: compare the process's fds at
// the end of the file with those at its start.
import { afterAll, beforeAll, expect } from 'vitest';

import { leakedSince, openFds } from './fds.js';

let before: Map<number, string>;

beforeAll(() => {
  before = openFds();
});

afterAll(() => {
  expect(leakedSince(before), 'fds left open by this test file').toEqual([]);
});
