// Property-based test of Selector against a small model of the contract
// (docs: /work/shared/API.md, CPython's selectors). fast-check generates
// sequences of calls -- register, unregister, modify, getKey, select(0),
// close -- on socket pairs and a regular file that are open, closed by the
// user, closed behind the selector's back, or whose fd number has been
// reused, mixed with hostile arguments, in every trigger mode; each call's
// result or error is checked against what the model says it must be, for
// every backend.
//
// Modes: a oneshot key is disarmed by its first report and re-armed by any
// modify; an edge key may only report a subset of what level would (when
// an edge is "new" depends on the kernel's wake-ups, not modelled).
//
// The model owns the key table and the error rules. Where the answer
// depends on the kernel, it asks the world as it is (which of our files
// holds an fd number now) and applies each backend's documented behaviour:
// epoll forgets a registration when its file closes (a later modify fails,
// EBADF or ENOENT once the number is reused), poll(2) keeps polling the
// number (a closed fd reports POLLNVAL: ready for every registered event).
//
// Deterministic: a fixed seed (FUZZ_SEED), FUZZ_RUNS sequences per backend
// (default 200) of up to 80 calls each. A longer run: FUZZ_RUNS=20000 npx vitest run test/fuzz
// No sleeps: only select(0) or a negative timeout, and AF_UNIX socket
// pairs, whose data and hang-ups are visible to the peer at once.
import { closeSync, fstatSync, openSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';

import {
  availableBackends, BlockingIOError, ConnectionResetError, EVENT_READ, EVENT_WRITE, KeyError, OSError, Selector, Socket,
  socketpair, type BackendName, type PollMode, type SelectorKey,
} from '../../src/index.js';

const SEED = Number(process.env.FUZZ_SEED ?? 0x5e1ec7);
const RUNS = Number(process.env.FUZZ_RUNS ?? 200);
// Generous: the default run takes well under a second per backend.
const TIMEOUT_MS = Math.max(60_000, RUNS * 50);

const FILE_PATH = join(tmpdir(), `ns-fuzz-selector-${process.pid}`);
afterAll(() => rmSync(FILE_PATH, { force: true }));

// --- the world: what is open, and what the peer of each socket has sent ---

interface Resource {
  kind: 'sock' | 'file';
  fd: number;          // the number it had: stale once closed
  open: boolean;
  sock: Socket | null;
  wrapper: { fileno(): number }; // a file object that keeps answering the old number
  pending: number;     // bytes the peer sent that were not read yet
  peer: Resource | null;
}

const PAIRS = 3;
const TARGETS = PAIRS * 2 + 1; // both ends of each pair, and the file
type Form = 'sock' | 'num' | 'wrap';

class World {
  readonly pairs: Array<[Resource, Resource] | null> = Array.from({ length: PAIRS }, () => null);
  file: Resource | null = null;
  readonly all: Resource[] = [];

  target(t: number): Resource | null {
    if (t === PAIRS * 2) return this.file;
    return this.pairs[t >> 1]?.[t & 1] ?? null;
  }

  openPair(slot: number): void {
    const current = this.pairs[slot];
    if (current && (current[0].open || current[1].open)) return;
    const socks = socketpair();
    const [a, b] = socks.map((sock) => {
      sock.setBlocking(false);
      const fd = sock.fileno();
      return this.track({ kind: 'sock', fd, open: true, sock, wrapper: { fileno: () => fd }, pending: 0, peer: null });
    }) as [Resource, Resource];
    a.peer = b;
    b.peer = a;
    this.pairs[slot] = [a, b];
  }

  openFile(): void {
    if (this.file?.open) return;
    const fd = openSync(FILE_PATH, 'w');
    this.file = this.track({ kind: 'file', fd, open: true, sock: null, wrapper: { fileno: () => fd }, pending: 0, peer: null });
  }

  private track(r: Resource): Resource {
    this.all.push(r);
    return r;
  }

  /** Which of our resources holds fd number `fd` now. */
  holder(fd: number): Resource | undefined {
    return this.all.find((r) => r.open && r.fd === fd);
  }

  /** 'closed' if no file has this number, 'ours' / 'foreign' otherwise. */
  state(fd: number): 'closed' | 'ours' | 'foreign' {
    if (this.holder(fd)) return 'ours';
    try {
      fstatSync(fd);
      return 'foreign';
    } catch {
      return 'closed';
    }
  }

  fileobj(r: Resource, form: Form): unknown {
    if (form === 'num') return r.fd;
    if (form === 'sock' && r.sock) return r.sock;
    return r.wrapper;
  }

  close(r: Resource, behindTheBack: boolean): void {
    if (!r.open) return;
    if (r.sock) {
      if (behindTheBack) closeSync(r.sock.detach());
      else r.sock.close();
    } else {
      closeSync(r.fd);
    }
    r.open = false;
  }

  closeAll(): void {
    for (const r of this.all) this.close(r, false);
  }
}

// --- the model of the selector ---

interface Entry<T> {
  key: SelectorKey<T>;
  registered: Resource; // the file the kernel registration (if any) belongs to
  armed: boolean;       // false: a oneshot key that has reported since its last (re-)arming
}

type Expected =
  | { ok: true }
  | { error: 'TypeError' | 'RangeError' | 'KeyError' | 'closed' | 'boom' | 'noEdge' }
  | { error: 'OSError'; code: string | null }; // null: any code

type FdOrError = { fd: number } | { error: 'TypeError' | 'RangeError' | 'boom' };

/** The contract's fileobj -> fd rule (CPython's _fileobj_to_fd). */
function toFd(fileobj: unknown): FdOrError {
  let fd: unknown = fileobj;
  if (typeof fileobj === 'object' && fileobj !== null && typeof (fileobj as { fileno?: unknown }).fileno === 'function') {
    try {
      fd = (fileobj as { fileno(): unknown }).fileno();
    } catch {
      return { error: 'boom' };
    }
    if (typeof fd !== 'number') return { error: 'TypeError' };
  } else if (typeof fileobj !== 'number') {
    return { error: 'TypeError' };
  }
  if (!Number.isInteger(fd) || (fd as number) < 0 || (fd as number) > 0x7fffffff) return { error: 'RangeError' };
  return { fd: fd as number };
}

function checkEvents(events: unknown): Expected | null {
  if (typeof events !== 'number') return { error: 'TypeError' };
  if (!Number.isInteger(events) || events < 1 || events > 3) return { error: 'RangeError' };
  return null;
}

const isOneshot = (mode: PollMode): boolean => mode === 'oneshot' || mode === 'edge-oneshot';
const isEdge = (mode: PollMode): boolean => mode === 'edge' || mode === 'edge-oneshot';

/** The contract's options.mode rule; undefined: no mode given. */
function checkModeOption(backend: BackendName, mode: unknown): Expected | null {
  if (mode === undefined) return null;
  if (typeof mode !== 'string' || !['level', 'edge', 'oneshot', 'edge-oneshot'].includes(mode)) return { error: 'RangeError' };
  if (backend === 'poll' && isEdge(mode as PollMode)) return { error: 'noEdge' };
  return null;
}

/** The kqueue backend does not map the non-level modes yet: give it level (and keep the hostile value). */
function modeFor(backend: BackendName, mode: PollMode | 'bad' | undefined): PollMode | 'bad' | undefined {
  return backend === 'kqueue' && mode !== undefined && mode !== 'bad' ? 'level' : mode;
}

function readiness(r: Resource): number | 'hangup' {
  if (r.kind === 'file') return EVENT_READ | EVENT_WRITE;
  if (!r.peer!.open) return 'hangup';
  return (r.pending > 0 ? EVENT_READ : 0) | EVENT_WRITE;
}

class Model<T> {
  readonly entries = new Map<number, Entry<T>>();
  closed = false;
  constructor(readonly backend: BackendName, readonly world: World) {}

  /** CPython's _fileobj_lookup: by fd, or, for an object whose fd is invalid, by identity. */
  lookup(fileobj: unknown): Entry<T> | Expected {
    const r = toFd(fileobj);
    if ('error' in r) {
      if (r.error === 'RangeError' && typeof fileobj === 'object') {
        for (const e of this.entries.values()) if (e.key.fileobj === fileobj) return e;
        return { error: 'KeyError' };
      }
      return { error: r.error };
    }
    return this.entries.get(r.fd) ?? { error: 'KeyError' };
  }

  /** What the OS says to registering fd: null = success. */
  addResult(fd: number): Expected | null | 'unknown' {
    const state = this.world.state(fd);
    if (state === 'closed') return { error: 'OSError', code: 'EBADF' };
    if (state === 'foreign') return 'unknown';
    if (this.world.holder(fd)!.kind === 'file' && this.backend === 'epoll') return { error: 'OSError', code: 'EPERM' };
    return null;
  }

  /** What the OS says to changing the events of a registered fd: null = success. */
  modifyResult(e: Entry<T>): Expected | null | 'unknown' {
    if (this.backend === 'poll') return null; // no kernel state to disagree with
    if (e.registered.open) return null;
    if (this.backend === 'kqueue') return 'unknown';
    // epoll dropped the registration when the file closed. The number may
    // since hold another file: epoll_ctl refuses a regular file before it
    // looks for the registration.
    const now = this.world.holder(e.key.fd);
    const code = now ? (now.kind === 'file' ? 'EPERM' : 'ENOENT') : this.world.state(e.key.fd) === 'closed' ? 'EBADF' : null;
    return { error: 'OSError', code };
  }

  /** The mask select(0) must report for an entry (0: not reported), or 'any'. */
  expectedMask(e: Entry<T>): number | 'any' {
    const { fd, events } = e.key;
    let ready: number | 'any' | 'hangup';
    if (this.backend === 'poll') {
      const now = this.world.holder(fd);
      if (now) ready = readiness(now);
      else ready = this.world.state(fd) === 'closed' ? 'hangup' : 'any'; // POLLNVAL
    } else if (!e.registered.open) {
      ready = this.backend === 'epoll' ? 0 : 'any'; // epoll forgot it; kqueue: not modelled
    } else {
      ready = readiness(e.registered);
      if (ready === 'hangup' && this.backend === 'kqueue') ready = 'any'; // EV_EOF per filter
    }
    if (ready === 'any') return 'any';
    if (ready === 'hangup') return events; // an error or hang-up is every registered event
    return ready & events;
  }
}

// --- operations ---

const DATA = fc.oneof(fc.constant(undefined), fc.integer({ min: 0, max: 3 }), fc.constantFrom('a', 'b'));
const EVENTS = fc.constantFrom(EVENT_READ, EVENT_WRITE, EVENT_READ | EVENT_WRITE);
// undefined: no options argument; 'bad': not a mode.
const MODE = fc.constantFrom<PollMode | 'bad' | undefined>(undefined, 'level', 'edge', 'oneshot', 'edge-oneshot', 'bad');
const FORM = fc.constantFrom<Form>('sock', 'num', 'wrap');
const TARGET = fc.integer({ min: 0, max: TARGETS - 1 });
const HOSTILE_FILEOBJ = (): unknown[] => ['3', null, undefined, {}, [], { fileno: () => '3' }, { fileno: 3 }, 10n,
  Symbol('s'), -1, 1.5, 2 ** 31, 2 ** 40, NaN, Infinity, -Infinity, -0.5, { fileno: () => -1 }, { fileno: () => 0.5 },
  { fileno: () => 2 ** 31 }, { fileno: () => NaN }, { fileno: () => { throw new Error('boom'); } }];
const HOSTILE_EVENTS: unknown[] = [0, 4, 7, 8, -1, -3, 1.5, NaN, Infinity, 2 ** 31 + 1, 2 ** 32 + 1, 2 ** 32 + 3,
  2 ** 53 + 2, '1', null, undefined, {}, 1n, true];
const HOSTILE_TIMEOUT: unknown[] = ['5', {}, [], NaN, 10n, true];

type Op =
  | { op: 'open'; slot: number }
  | { op: 'recycle'; slot: number; behindTheBack: boolean }
  | { op: 'openFile' }
  | { op: 'register'; t: number; form: Form; events: number; data: unknown; mode: PollMode | 'bad' | undefined }
  | { op: 'unregister'; t: number; form: Form }
  | { op: 'modify'; t: number; form: Form; events: number; data: unknown; mode: PollMode | 'bad' | undefined }
  | { op: 'getKey'; t: number; form: Form }
  | { op: 'select'; timeout: number }
  | { op: 'send'; t: number }
  | { op: 'drain'; t: number }
  | { op: 'close'; t: number; behindTheBack: boolean }
  | { op: 'hostileFileobj'; method: 'register' | 'unregister' | 'modify' | 'getKey'; i: number }
  | { op: 'hostileEvents'; method: 'register' | 'modify'; t: number; form: Form; i: number }
  | { op: 'hostileTimeout'; i: number }
  | { op: 'closeSelector'; really: boolean };

const OP: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ op: fc.constant('open' as const), slot: fc.integer({ min: 0, max: PAIRS - 1 }) }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('recycle' as const), slot: fc.integer({ min: 0, max: PAIRS - 1 }), behindTheBack: fc.boolean() }) },
  { weight: 1, arbitrary: fc.constant({ op: 'openFile' as const }) },
  { weight: 10, arbitrary: fc.record({ op: fc.constant('register' as const), t: TARGET, form: FORM, events: EVENTS, data: DATA, mode: MODE }) },
  { weight: 5, arbitrary: fc.record({ op: fc.constant('unregister' as const), t: TARGET, form: FORM }) },
  { weight: 6, arbitrary: fc.record({ op: fc.constant('modify' as const), t: TARGET, form: FORM, events: EVENTS, data: DATA, mode: MODE }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('getKey' as const), t: TARGET, form: FORM }) },
  { weight: 6, arbitrary: fc.record({ op: fc.constant('select' as const), timeout: fc.constantFrom(0, -1, -0.5, -Infinity) }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('send' as const), t: TARGET }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('drain' as const), t: TARGET }) },
  { weight: 4, arbitrary: fc.record({ op: fc.constant('close' as const), t: TARGET, behindTheBack: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('hostileFileobj' as const),
    method: fc.constantFrom('register' as const, 'unregister' as const, 'modify' as const, 'getKey' as const),
    i: fc.nat({ max: HOSTILE_FILEOBJ().length - 1 }) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('hostileEvents' as const),
    method: fc.constantFrom('register' as const, 'modify' as const), t: TARGET, form: FORM,
    i: fc.nat({ max: HOSTILE_EVENTS.length - 1 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('hostileTimeout' as const), i: fc.nat({ max: HOSTILE_TIMEOUT.length - 1 }) }) },
  // Rare (1 in 4 of a rare op), so that most sequences keep the selector open.
  { weight: 1, arbitrary: fc.record({ op: fc.constant('closeSelector' as const), really: fc.nat({ max: 3 }).map((n) => n === 0) }) },
);

/** Runs `call`, and checks its error (or success) against `expected`. */
function expectOutcome<R>(what: string, call: () => R, expected: Expected | 'unknown'): R | undefined {
  let result: R;
  try {
    result = call();
  } catch (error) {
    if (expected === 'unknown') {
      expect(error, what).toBeInstanceOf(OSError);
      return undefined;
    }
    if ('ok' in expected) throw new Error(`${what}: expected success, got ${String(error)}`);
    const e = error as Error;
    switch (expected.error) {
      case 'TypeError': expect(e, what).toBeInstanceOf(TypeError); break;
      case 'RangeError': expect(e, what).toBeInstanceOf(RangeError); break;
      case 'KeyError': expect(e, what).toBeInstanceOf(KeyError); break;
      case 'boom': expect(e.message, what).toBe('boom'); break;
      case 'noEdge':
        expect(e.constructor, what).toBe(Error);
        expect(e.message, what).toMatch(/edge.*poll/);
        break;
      case 'closed':
        expect(e, what).toBeInstanceOf(Error);
        expect(e.message, what).toMatch(/closed/);
        break;
      case 'OSError':
        expect(e, what).toBeInstanceOf(OSError);
        if (expected.code) expect((e as OSError).code, what).toBe(expected.code);
        expect((e as OSError).errno, what).toBeGreaterThan(0);
        break;
    }
    return undefined;
  }
  if (expected !== 'unknown' && !('ok' in expected)) {
    throw new Error(`${what}: expected ${expected.error}${'code' in expected ? ` ${expected.code}` : ''}, but it succeeded`);
  }
  return result;
}

function runSequence(backend: BackendName, ops: Op[]): void {
  const world = new World();
  const sel = new Selector<unknown>({ backend });
  const model = new Model<unknown>(backend, world);
  const closedIf = (e: Expected | 'unknown'): Expected | 'unknown' => (model.closed ? { error: 'closed' } : e);
  try {
    for (let slot = 0; slot < PAIRS; slot++) world.openPair(slot);
    world.openFile();
    for (const [step, o] of ops.entries()) {
      const what = `step ${step}: ${JSON.stringify(o)}`;
      const r = 't' in o ? world.target(o.t) : null;
      switch (o.op) {
        case 'open': world.openPair(o.slot); break;
        case 'recycle': {
          // Close a pair and open a new one: it gets the same (lowest free) fd numbers.
          const old = world.pairs[o.slot];
          for (const end of old ?? []) world.close(end, o.behindTheBack);
          world.openPair(o.slot);
          break;
        }
        case 'openFile': world.openFile(); break;
        case 'send':
          if (r?.kind === 'sock' && r.open && r.peer!.open) {
            expect(r.sock!.send(Buffer.from('x'))).toBe(1);
            r.peer!.pending++;
          }
          break;
        case 'drain':
          if (r?.kind === 'sock' && r.open) {
            for (;;) {
              try {
                if (r.sock!.recv(4096).length === 0) break; // EOF
              } catch (error) {
                // ECONNRESET: the peer closed with bytes of ours unread (Linux AF_UNIX).
                if (error instanceof BlockingIOError || error instanceof ConnectionResetError) break;
                throw error;
              }
            }
            r.pending = 0;
          }
          break;
        case 'close': if (r) world.close(r, o.behindTheBack); break;

        case 'register': {
          if (!r) break;
          const fileobj = world.fileobj(r, o.form);
          const mode = modeFor(backend, o.mode);
          let expected: Expected | 'unknown' = { ok: true };
          const fd = toFd(fileobj);
          const modeError = checkModeOption(backend, mode);
          if (modeError) expected = modeError;
          else if ('error' in fd) expected = { error: fd.error };
          else if (model.entries.has(fd.fd)) expected = { error: 'KeyError' };
          else expected = model.addResult(fd.fd) ?? { ok: true };
          expected = closedIf(expected);
          const key = expectOutcome(what, () => (mode === undefined
            ? sel.register(fileobj as number, o.events, o.data)
            : sel.register(fileobj as number, o.events, o.data, { mode: mode as PollMode })), expected);
          if (key) {
            expect(key, what).toEqual({ fileobj, fd: (fd as { fd: number }).fd, events: o.events, data: o.data, mode: mode ?? 'level' });
            expect(Object.isFrozen(key)).toBe(true);
            model.entries.set(key.fd, { key, registered: world.holder(key.fd)!, armed: true });
          }
          break;
        }

        case 'unregister':
        case 'getKey': {
          if (!r) break;
          const fileobj = world.fileobj(r, o.form);
          const found = model.lookup(fileobj);
          const expected = closedIf('key' in found ? { ok: true } : found);
          const key = expectOutcome(what, () => (o.op === 'unregister' ? sel.unregister(fileobj as number) : sel.getKey(fileobj as number)), expected);
          if (key) {
            expect(key, what).toBe((found as Entry<unknown>).key);
            if (o.op === 'unregister') model.entries.delete(key.fd);
          }
          break;
        }

        case 'modify': {
          if (!r) break;
          const fileobj = world.fileobj(r, o.form);
          const mode = modeFor(backend, o.mode);
          const found = model.lookup(fileobj);
          const modeError = checkModeOption(backend, mode);
          let expected: Expected | 'unknown' = modeError ?? ('key' in found ? { ok: true } : found);
          // A system call when events or mode change, and always on a oneshot key (it re-arms).
          const newMode = 'key' in found ? (mode as PollMode | undefined) ?? found.key.mode : 'level';
          const syscall = 'key' in found && !modeError &&
            (o.events !== found.key.events || newMode !== found.key.mode || isOneshot(newMode));
          if (syscall) expected = model.modifyResult(found as Entry<unknown>) ?? { ok: true };
          expected = closedIf(expected);
          let threw = true;
          const key = expectOutcome(what, () => {
            const k = mode === undefined
              ? sel.modify(fileobj as number, o.events, o.data)
              : sel.modify(fileobj as number, o.events, o.data, { mode: mode as PollMode });
            threw = false;
            return k;
          }, expected);
          if (key) {
            const entry = found as Entry<unknown>;
            if (o.events === entry.key.events && o.data === entry.key.data && newMode === entry.key.mode) expect(key, what).toBe(entry.key);
            else expect(key, what).toEqual({ fileobj: entry.key.fileobj, fd: entry.key.fd, events: o.events, data: o.data, mode: newMode });
            entry.key = key;
            entry.armed = true;
          } else if (threw && !model.closed && syscall) {
            // A failed system call leaves the fd unregistered, as in CPython.
            model.entries.delete(found.key.fd);
          }
          break;
        }

        case 'select': {
          const result = expectOutcome(what, () => sel.select(o.timeout), closedIf({ ok: true }));
          if (!result) break;
          const got = new Map<number, number>();
          for (const [key, mask] of result) {
            expect(got.has(key.fd), `${what}: fd ${key.fd} reported twice`).toBe(false);
            const entry = model.entries.get(key.fd);
            expect(entry, `${what}: fd ${key.fd} is not registered`).toBeDefined();
            expect(key, what).toBe(entry!.key);
            got.set(key.fd, mask);
          }
          for (const entry of model.entries.values()) {
            const want = model.expectedMask(entry);
            const mask = got.get(entry.key.fd) ?? 0;
            if (!entry.armed) expect(mask, `${what}: fd ${entry.key.fd} is a spent oneshot`).toBe(0);
            else if (want === 'any') expect(mask & ~entry.key.events, what).toBe(0);
            else if (isEdge(entry.key.mode)) expect(mask & ~want, `${what}: edge mask of fd ${entry.key.fd}`).toBe(0);
            else expect(mask, `${what}: mask of fd ${entry.key.fd}`).toBe(want);
            if (mask !== 0 && isOneshot(entry.key.mode)) entry.armed = false;
          }
          break;
        }

        case 'hostileFileobj': {
          const value = HOSTILE_FILEOBJ()[o.i];
          let expected: Expected;
          if (o.method === 'register') {
            const fd = toFd(value);
            expected = 'error' in fd ? { error: fd.error } : { error: 'KeyError' };
          } else {
            const found = model.lookup(value);
            expected = 'key' in found ? { ok: true } : found;
          }
          const call = {
            register: () => sel.register(value as number, EVENT_READ),
            unregister: () => sel.unregister(value as number),
            modify: () => sel.modify(value as number, EVENT_READ),
            getKey: () => sel.getKey(value as number),
          }[o.method];
          expectOutcome(what, call, closedIf(expected));
          break;
        }

        case 'hostileEvents': {
          const value = HOSTILE_EVENTS[o.i];
          // Events are checked before the file object, so any target will do.
          const fileobj = r ? world.fileobj(r, o.form) : 0;
          const call = o.method === 'register'
            ? () => sel.register(fileobj as number, value as number)
            : () => sel.modify(fileobj as number, value as number);
          expectOutcome(what, call, closedIf(checkEvents(value)!));
          break;
        }

        case 'hostileTimeout': {
          const value = HOSTILE_TIMEOUT[o.i];
          expectOutcome(what, () => sel.select(value as number),
            closedIf(typeof value === 'number' ? { error: 'RangeError' } : { error: 'TypeError' }));
          break;
        }

        case 'closeSelector':
          if (!o.really) break;
          sel.close();
          model.closed = true;
          model.entries.clear();
          break;
      }

      // After every step: the live map is exactly the model's table.
      const map = sel.getMap();
      if (model.closed) {
        expect(map, what).toBeNull();
        expect(() => sel.fileno()).toThrow(/closed/);
      } else {
        expect(map!.size, what).toBe(model.entries.size);
        for (const [fd, entry] of model.entries) expect(map!.get(fd), what).toBe(entry.key);
      }
    }
  } finally {
    sel.close();
    world.closeAll();
  }
}

describe.each(availableBackends.map((b) => [b]))('Selector (%s) against the model', (backend) => {
  it(`agrees with the model over ${RUNS} random call sequences (seed ${SEED})`, () => {
    fc.assert(
      fc.property(fc.array(OP, { minLength: 1, maxLength: 80, size: 'max' }), (ops) => runSequence(backend as BackendName, ops)),
      { seed: SEED, numRuns: RUNS },
    );
  }, TIMEOUT_MS);
});
