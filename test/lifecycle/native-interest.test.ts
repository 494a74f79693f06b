// The native selector's second line of defence: an interest with neither
// EVENT_READ nor EVENT_WRITE registers an fd that a blocking wait reports as
// nothing on hang-up, over and over (a spin). src/ never asks for one; a
// direct caller gets a RangeError naming the argument.
import { afterEach, describe, expect, it } from 'vitest';

import { availableBackends, socketpair } from '../../src/index.js';
import { native } from '../../src/native.js';

const opened: Array<{ close(): void }> = [];
afterEach(() => {
  for (const x of opened.splice(0)) x.close();
});

describe.each(availableBackends)('NativeSelector (%s)', (backend) => {
  it('refuses an empty interest in add() and modify() with a RangeError naming events', () => {
    const sel = new native.NativeSelector(backend);
    opened.push(sel);
    const [a, b] = socketpair();
    opened.push(a, b);
    for (const empty of [0, 4, 1 << 30]) {
      expect(() => sel.add(a.fileno(), empty)).toThrow(RangeError);
      expect(() => sel.add(a.fileno(), empty)).toThrow(/events/);
    }
    expect(sel.add(a.fileno(), 1)).toBe(0);
    expect(() => sel.modify(a.fileno(), 1, 0)).toThrow(/events/);
    expect(sel.modify(a.fileno(), 1, 2)).toBe(0);
    // Nothing half-registered: the fd is still there, with its last interest.
    b.close();
    const ready = new Int32Array(8);
    expect(sel.wait(1000, ready)).toBe(1);
    expect([ready[0], ready[1]]).toEqual([a.fileno(), 2]);
  });
});
