// Trigger modes on Selector.register/modify (level, edge, oneshot,
// edge-oneshot), as smol-rs/polling defines them; its tests/other_modes.rs
// gave the sequences (a partial read, more data, a switch of mode). CPython's
// selectors has no modes, so there is nothing of test_selectors to port here.
// AF_UNIX socket pairs: what one end sends is readable at the other at once,
// so every select here is select(0) and nothing waits.
import { closeSync } from 'node:fs';

import { afterEach, describe, expect, it } from 'vitest';

import {
  availableBackends, EVENT_READ, EVENT_WRITE, OSError, Selector, Socket, socketpair,
  type BackendName, type PollMode,
} from '../src/index.js';

const opened: Array<{ close(): void }> = [];
function track<T extends { close(): void }>(x: T): T {
  opened.push(x);
  return x;
}
function pair(): [Socket, Socket] {
  const [a, b] = socketpair();
  return [track(a), track(b)];
}
afterEach(() => {
  for (const x of opened.splice(0)) x.close();
});

const x = Buffer.from('x');

// The kqueue backend does not map the non-level modes yet (it refuses them
// with ENOSYS); its mode tests run once it does.
const modesOf = (backend: BackendName): boolean => backend !== 'kqueue';

describe.each(availableBackends.map((b) => [b]))('Selector (%s) trigger modes', (backend) => {
  const make = <T = unknown>() => track(new Selector<T>({ backend: backend as BackendName }));
  const edge = backend !== 'poll';
  const itModes = it.runIf(modesOf(backend as BackendName));
  const itEdge = it.runIf(edge && modesOf(backend as BackendName));
  /** The masks select(0) reports for `sock`, one per call. */
  const reported = (sel: Selector, sock: Socket): number[] =>
    sel.select(0).filter(([key]) => key.fd === sock.fileno()).map(([, mask]) => mask);

  it('says whether it supports the edge modes (poll(2) does not)', () => {
    expect(make().supportsEdge).toBe(edge);
  });

  it('registers in level mode by default, and the key says so', () => {
    const sel = make();
    const [a] = pair();
    expect(sel.register(a, EVENT_READ).mode).toBe('level');
    expect(sel.getKey(a).mode).toBe('level');
  });

  itModes('keeps the mode given to register in the key', () => {
    const sel = make();
    const modes: PollMode[] = edge ? ['level', 'oneshot', 'edge', 'edge-oneshot'] : ['level', 'oneshot'];
    for (const mode of modes) {
      const [a] = pair();
      const key = sel.register(a, EVENT_READ, mode, { mode });
      expect(key.mode).toBe(mode);
      expect(sel.getKey(a)).toBe(key);
      expect(Object.isFrozen(key)).toBe(true);
    }
  });

  it('reports a level fd on every select while it stays ready, after a partial read too', () => {
    const sel = make();
    const [a, b] = pair();
    sel.register(a, EVENT_READ, undefined, { mode: 'level' });
    b.send(Buffer.from('hello'));
    expect(reported(sel, a)).toEqual([EVENT_READ]);
    expect(a.recv(3).toString()).toBe('hel');
    expect(reported(sel, a)).toEqual([EVENT_READ]);
    expect(a.recv(2).toString()).toBe('lo');
    expect(reported(sel, a)).toEqual([]);
  });

  itModes('reports a oneshot fd once, then keeps it registered but silent', () => {
    const sel = make();
    const [a, b] = pair();
    const key = sel.register(a, EVENT_READ, 'd', { mode: 'oneshot' });
    b.send(x);
    expect(reported(sel, a)).toEqual([EVENT_READ]);
    expect(reported(sel, a)).toEqual([]);
    b.send(x); // more data is no new report either
    expect(reported(sel, a)).toEqual([]);
    expect(sel.getKey(a)).toBe(key);
    expect(sel.getMap()!.get(a.fileno())).toBe(key);
  });

  itModes('re-arms a oneshot fd on modify with the same events and data, keeping the key', () => {
    const sel = make();
    const [a, b] = pair();
    const key = sel.register(a, EVENT_READ, 'd', { mode: 'oneshot' });
    b.send(x);
    expect(reported(sel, a)).toEqual([EVENT_READ]);
    expect(reported(sel, a)).toEqual([]);
    expect(sel.modify(a, EVENT_READ, 'd')).toBe(key);
    expect(reported(sel, a)).toEqual([EVENT_READ]);
    expect(reported(sel, a)).toEqual([]);
  });

  itModes('reports a hang-up on a oneshot fd once', () => {
    const sel = make();
    const [a, b] = pair();
    sel.register(a, EVENT_READ | EVENT_WRITE, undefined, { mode: 'oneshot' });
    b.close();
    expect(reported(sel, a)).toHaveLength(1);
    expect(reported(sel, a)).toEqual([]);
    sel.modify(a, EVENT_READ);
    expect(reported(sel, a)).toHaveLength(1);
  });

  itModes('re-arms a oneshot fd with a system call even when nothing else changes', () => {
    const sel = make();
    const [a] = pair();
    sel.register(a, EVENT_WRITE, undefined, { mode: 'oneshot' });
    expect(reported(sel, a)).toEqual([EVENT_WRITE]);
    // Behind the selector's back: only a real system call can notice.
    closeSync(a.detach());
    if (backend === 'poll') {
      // poll(2) keeps no kernel registration: the re-armed, now closed fd
      // reports POLLNVAL, every registered event.
      sel.modify(a, EVENT_WRITE);
      expect(sel.select(0).map(([, mask]) => mask)).toEqual([EVENT_WRITE]);
      sel.unregister(a);
    } else {
      expect(() => sel.modify(a, EVENT_WRITE)).toThrow(OSError);
      expect(sel.getMap()!.size).toBe(0);
    }
  });

  itModes('changes mode on modify: level to oneshot and back', () => {
    const sel = make();
    const [a, b] = pair();
    sel.register(a, EVENT_READ);
    b.send(x);
    expect(sel.modify(a, EVENT_READ, undefined, { mode: 'oneshot' }).mode).toBe('oneshot');
    expect(reported(sel, a)).toEqual([EVENT_READ]);
    expect(reported(sel, a)).toEqual([]);
    expect(sel.modify(a, EVENT_READ, undefined, { mode: 'level' }).mode).toBe('level');
    expect(reported(sel, a)).toEqual([EVENT_READ]);
    expect(reported(sel, a)).toEqual([EVENT_READ]);
  });

  itModes('keeps the key\'s mode when modify is given no mode', () => {
    const sel = make();
    const [a] = pair();
    sel.register(a, EVENT_READ, undefined, { mode: 'oneshot' });
    expect(sel.modify(a, EVENT_READ | EVENT_WRITE, 'data').mode).toBe('oneshot');
    expect(sel.modify(a, EVENT_WRITE, 'data', {}).mode).toBe('oneshot');
    expect(reported(sel, a)).toEqual([EVENT_WRITE]);
    expect(reported(sel, a)).toEqual([]);
  });

  it('changes only data on a level key without a system call', () => {
    const sel = make();
    const [a] = pair();
    const key = sel.register(a, EVENT_READ, 'old', { mode: 'level' });
    const fd = a.fileno();
    closeSync(a.detach()); // a system call now would fail with EBADF (epoll, kqueue)
    const next = sel.modify(fd, EVENT_READ, 'new');
    expect(next).toEqual({ ...key, data: 'new' });
    sel.unregister(fd);
  });

  itEdge('reports an edge fd once per new readiness, not while it stays ready', () => {
    const sel = make();
    const [a, b] = pair();
    sel.register(a, EVENT_READ, undefined, { mode: 'edge' });
    b.send(x);
    expect(reported(sel, a)).toEqual([EVENT_READ]);
    expect(reported(sel, a)).toEqual([]); // unread: level would report it again
    b.send(x);
    expect(reported(sel, a)).toEqual([EVENT_READ]);
    expect(reported(sel, a)).toEqual([]);
    expect(a.recv(1).toString()).toBe('x'); // a partial read is no new readiness
    expect(reported(sel, a)).toEqual([]);
  });

  itEdge('reports writability on an edge fd once, though it stays writable', () => {
    const sel = make();
    const [a] = pair();
    sel.register(a, EVENT_WRITE, undefined, { mode: 'edge' });
    expect(reported(sel, a)).toEqual([EVENT_WRITE]);
    expect(reported(sel, a)).toEqual([]);
    expect(reported(sel, a)).toEqual([]);
  });

  itEdge('reports an edge-oneshot fd once, ignores new data, and re-arms on modify', () => {
    const sel = make();
    const [a, b] = pair();
    const key = sel.register(a, EVENT_READ, undefined, { mode: 'edge-oneshot' });
    b.send(x);
    expect(reported(sel, a)).toEqual([EVENT_READ]);
    b.send(x);
    expect(reported(sel, a)).toEqual([]);
    expect(sel.getKey(a)).toBe(key);
    expect(sel.modify(a, EVENT_READ)).toBe(key);
    expect(reported(sel, a)).toEqual([EVENT_READ]); // still unread when re-armed
    expect(reported(sel, a)).toEqual([]);
  });

  itEdge('switches an edge fd to level on modify', () => {
    const sel = make();
    const [a, b] = pair();
    sel.register(a, EVENT_READ, undefined, { mode: 'edge' });
    b.send(x);
    expect(reported(sel, a)).toEqual([EVENT_READ]);
    expect(reported(sel, a)).toEqual([]);
    sel.modify(a, EVENT_READ, undefined, { mode: 'level' });
    expect(reported(sel, a)).toEqual([EVENT_READ]);
    expect(reported(sel, a)).toEqual([EVENT_READ]);
  });

  it.runIf(!edge)('refuses the edge modes with an Error naming the mode and the backend', () => {
    const sel = make();
    const [a] = pair();
    for (const mode of ['edge', 'edge-oneshot'] as const) {
      expect(() => sel.register(a, EVENT_READ, undefined, { mode })).toThrow(new RegExp(`'${mode}'.*${backend}`));
    }
    expect(sel.getMap()!.size).toBe(0);
    const key = sel.register(a, EVENT_READ);
    expect(() => sel.modify(a, EVENT_READ, undefined, { mode: 'edge' })).toThrow(/'edge'.*poll.*supportsEdge/);
    expect(sel.getKey(a)).toBe(key); // a refused mode is not a failed system call
  });

  it('rejects a mode that is not one of the four with a RangeError naming options.mode', () => {
    const sel = make();
    const [a] = pair();
    for (const mode of ['LEVEL', 'edge ', '', 1, null, true, {}, 'toString']) {
      expect(() => sel.register(a, EVENT_READ, undefined, { mode: mode as PollMode })).toThrow(RangeError);
      expect(() => sel.register(a, EVENT_READ, undefined, { mode: mode as PollMode })).toThrow(/options\.mode/);
    }
    sel.register(a, EVENT_READ);
    expect(() => sel.modify(a, EVENT_READ, undefined, { mode: 'once' as PollMode })).toThrow(/options\.mode/);
    expect(sel.getKey(a).mode).toBe('level');
  });

  it('rejects options that are not an object with a TypeError naming options', () => {
    const sel = make();
    const [a] = pair();
    for (const options of ['level', 5, null]) {
      expect(() => sel.register(a, EVENT_READ, undefined, options as never)).toThrow(TypeError);
      expect(() => sel.register(a, EVENT_READ, undefined, options as never)).toThrow(/options must be an object/);
    }
    expect(sel.getMap()!.size).toBe(0);
  });
});
