// The kqueue backend's logic (native/kqueue_logic.cc) against a scripted
// kernel, so that it is tested on every platform, without a BSD. The fake
// kernel follows the rules of XNU's and FreeBSD's kern_event.c for the
// calls the backend makes:
// - EV_ADD of a filter on an fd that is not open fails with EBADF; on an
//   existing filter it succeeds (and changes nothing here).
// - EV_DELETE fails with EBADF on an fd that is not open, with ENOENT when
//   the fd has no such filter.
// - close() drops every filter of the fd (knote_fdclose); a new file that
//   gets the number starts with none.
// - A scan delivers up to `nevents` active filters from the head of the
//   queue and queues each delivered one again at the tail while it stays
//   active. A level filter is active while its condition holds.
// - EV_CLEAR and EV_DISPATCH are read at EV_ADD of a new filter only; EV_ADD
//   of an existing one changes neither. An EV_CLEAR filter is active once
//   per activation: at EV_ADD or EV_ENABLE if its condition holds (f_event
//   at registration), and at each new readiness (more data, more room);
//   delivery clears it. EV_DISPATCH disables a filter once delivered;
//   EV_ENABLE enables it and activates it if its condition holds;
//   EV_DISABLE and EV_ENABLE fail with ENOENT on a filter that is not there.
// - A kevent() with changes applies them before it looks for events; a
//   change that fails is returned as an EV_ERROR entry (flags EV_ERROR, the
//   ident and filter kept), and then the call returns those entries only.
// - The read filter is active with data to read or at end of file (EV_EOF);
//   the write filter with room to send, and also, with EV_EOF, once nothing
//   more can be sent: after our own shutdown(SHUT_WR) or when the connection
//   is gone (which also sets EV_EOF on the read filter).
// - XNU rejects a timeout whose tv_sec is above INT32_MAX (EINVAL).
// The driver does what native/kqueue.cc's Wait does: ask the logic how many
// events to take, scan, and collect them into (fd, mask) entries.
import { describe, expect, it } from 'vitest';

import { native } from '../src/native.js';

const errnoOf = (name: string): number =>
  Number(Object.entries(native.errnoNames).find(([, n]) => n === name)![0]);
const EBADF = errnoOf('EBADF');
const ENOENT = errnoOf('ENOENT');
const EINVAL = errnoOf('EINVAL');
const ENOMEM = errnoOf('ENOMEM');

const EVFILT_READ = -1;
const EVFILT_WRITE = -2;
const EV_ADD = 0x1;
const EV_DELETE = 0x2;
const EV_ENABLE = 0x4;
const EV_DISABLE = 0x8;
const EV_CLEAR = 0x20;
const EV_DISPATCH = 0x80;
const EV_ERROR = 0x4000;
const EV_EOF = 0x8000;
const READ = 1;
const WRITE = 2;
// Trigger modes (native/backend.h).
const LEVEL = 0;
const EDGE = 1;
const ONESHOT = 2;
const EDGE_ONESHOT = 3;
const INT32_MAX = 2 ** 31 - 1;

type KEvent = [ident: number, filter: number, flags: number];

interface KqueueLogic {
  add(fd: number, events: number, mode?: number): number;
  modify(fd: number, oldEvents: number, events: number, oldMode?: number, mode?: number): number;
  remove(fd: number, events: number): number;
  eventSlots(capacity: number): number;
  disables(max: number): Array<[fd: number, filter: number]>;
  collect(events: KEvent[], capacity: number): Array<[fd: number, mask: number]>;
}
interface KqueueLogicClass {
  new (kernel: (fd: number, filter: number, flags: number) => number, readFilter?: number, writeFilter?: number): KqueueLogic;
  timeout(ns: number): [sec: number, nsec: number] | null;
}
const Logic = (native as unknown as { KqueueLogicForTests: KqueueLogicClass }).KqueueLogicForTests;

interface File {
  readable: boolean;  // data past what was read
  writable: boolean;  // room in the send buffer
  readEof: boolean;   // nothing more will arrive
  writeEof: boolean;  // nothing more can be sent
}

interface Knote {
  clear: boolean;     // EV_CLEAR
  dispatch: boolean;  // EV_DISPATCH
  disabled: boolean;
  activated: boolean; // EV_CLEAR: a new readiness not yet delivered
}

class FakeKernel {
  readonly files = new Map<number, File>();
  // Registered filters, "fd/filter", in queue order (head first).
  queue: string[] = [];
  // Their state; a filter pushed on the queue by a test is level, enabled.
  readonly knotes = new Map<string, Knote>();
  readonly calls: Array<[fd: number, filter: number, flags: number]> = [];
  // Scripted failures: the next change of "fd/filter/flags" fails so.
  readonly failNext = new Map<string, number>();

  open(fd: number, file: Partial<File> = {}): File {
    expect(this.files.has(fd), `fd ${fd} is free`).toBe(false);
    const f: File = { readable: false, writable: true, readEof: false, writeEof: false, ...file };
    this.files.set(fd, f);
    return f;
  }

  close(fd: number): void {
    this.files.delete(fd);
    for (const key of this.queue.filter((k) => k.startsWith(`${fd}/`))) this.knotes.delete(key);
    this.queue = this.queue.filter((k) => !k.startsWith(`${fd}/`));
  }

  /** Data arrives for `fd` (sowakeup on the receive buffer): a new readiness. */
  arrive(fd: number): void {
    this.files.get(fd)!.readable = true;
    const kn = this.knotes.get(`${fd}/${EVFILT_READ}`);
    if (kn) kn.activated = true;
  }

  /** The filters registered for `fd`, as READ | WRITE. */
  filters(fd: number): number {
    return (this.queue.includes(`${fd}/${EVFILT_READ}`) ? READ : 0) |
      (this.queue.includes(`${fd}/${EVFILT_WRITE}`) ? WRITE : 0);
  }

  /** The filter `fd/filter` as the kernel has it, or undefined. */
  knote(fd: number, filter: number): Knote | undefined {
    const key = `${fd}/${filter}`;
    return this.queue.includes(key) ? this.knote_(key) : undefined;
  }

  private knote_(key: string): Knote {
    let kn = this.knotes.get(key);
    if (!kn) this.knotes.set(key, kn = { clear: false, dispatch: false, disabled: false, activated: false });
    return kn;
  }

  change = (fd: number, filter: number, flags: number): number => {
    this.calls.push([fd, filter, flags]);
    const scripted = this.failNext.get(`${fd}/${filter}/${flags}`);
    if (scripted !== undefined) {
      this.failNext.delete(`${fd}/${filter}/${flags}`);
      return scripted;
    }
    expect(filter === EVFILT_READ || filter === EVFILT_WRITE, 'a known filter').toBe(true);
    if (!this.files.has(fd)) return EBADF;
    const key = `${fd}/${filter}`;
    const exists = this.queue.includes(key);
    if (flags & EV_ADD) {
      expect(flags & ~(EV_ADD | EV_CLEAR | EV_DISPATCH), 'EV_ADD with mode flags only').toBe(0);
      if (!exists) {
        this.queue.push(key);
        this.knotes.set(key, {
          clear: (flags & EV_CLEAR) !== 0, dispatch: (flags & EV_DISPATCH) !== 0,
          disabled: false, activated: this.condition(key),
        });
      }
      return 0;
    }
    expect([EV_DELETE, EV_ENABLE, EV_DISABLE]).toContain(flags);
    if (!exists) return ENOENT;
    const kn = this.knote_(key);
    if (flags === EV_DELETE) {
      this.queue = this.queue.filter((k) => k !== key);
      this.knotes.delete(key);
    } else if (flags === EV_ENABLE) {
      kn.disabled = false;
      if (this.condition(key)) kn.activated = true;
    } else {
      kn.disabled = true;
    }
    return 0;
  };

  private condition(key: string): boolean {
    const [fd, filter] = key.split('/').map(Number) as [number, number];
    const f = this.files.get(fd)!;
    return filter === EVFILT_READ ? f.readable || f.readEof : f.writable || f.writeEof;
  }

  private active(key: string): KEvent | null {
    const [fd, filter] = key.split('/').map(Number) as [number, number];
    const f = this.files.get(fd)!;
    const kn = this.knote_(key);
    if (kn.disabled || !this.condition(key) || (kn.clear && !kn.activated)) return null;
    return [fd, filter, (filter === EVFILT_READ ? f.readEof : f.writeEof) ? EV_EOF : 0];
  }

  /** kevent(kq, changes, n, events, nevents, timeout), the changes being EV_DISABLEs. */
  scan(nevents: number, timeout?: [number, number] | null, disables: Array<[number, number]> = []): KEvent[] {
    expect(nevents).toBeGreaterThan(0);
    if (timeout && timeout[0] > INT32_MAX) throw new Error('EINVAL: XNU refuses tv_sec > INT32_MAX');
    const errors: KEvent[] = [];
    for (const [fd, filter] of disables) {
      const err = this.change(fd, filter, EV_DISABLE);
      if (err !== 0) errors.push([fd, filter, EV_ERROR]);
    }
    if (errors.length > 0) return errors;
    const out: KEvent[] = [];
    const delivered: string[] = [];
    for (const key of this.queue) {
      if (out.length === nevents) break;
      const ev = this.active(key);
      if (ev) {
        out.push(ev);
        delivered.push(key);
        const kn = this.knote_(key);
        kn.activated = false;
        if (kn.dispatch) kn.disabled = true;
      }
    }
    this.queue = [...this.queue.filter((k) => !delivered.includes(k)), ...delivered];
    return out;
  }
}

/** A logic instance over a fresh fake kernel, and its Wait. */
function setup(): { kernel: FakeKernel; logic: KqueueLogic; wait(capacity: number): Array<[number, number]> } {
  const kernel = new FakeKernel();
  const logic = new Logic(kernel.change);
  const wait = (capacity: number): Array<[number, number]> => {
    const slots = logic.eventSlots(capacity);
    const entries = logic.collect(kernel.scan(slots, null, logic.disables(slots)), capacity);
    expect(entries.length).toBeLessThanOrEqual(capacity);
    for (const [fd, mask] of entries) expect(mask, `fd ${fd} has a mask`).not.toBe(0);
    expect(new Set(entries.map(([fd]) => fd)).size, 'one entry per fd').toBe(entries.length);
    return entries;
  };
  return { kernel, logic, wait };
}

const sorted = (entries: Array<[number, number]>): Array<[number, number]> => [...entries].sort((x, y) => x[0] - y[0]);

describe('kqueue logic against a scripted BSD kernel', () => {
  it('takes two events per fd, so every fd ready both ways is reported, every time', () => {
    const { kernel, logic, wait } = setup();
    const fds = Array.from({ length: 60 }, (_, i) => 10 + i);
    for (const fd of fds) {
      kernel.open(fd, { readable: true });
      expect(logic.add(fd, READ | WRITE)).toBe(0);
    }
    // As the Selector calls it: room for every key and the wake-up pipe.
    for (let round = 0; round < 10; round++) {
      expect(sorted(wait(64)), `round ${round}`).toEqual(fds.map((fd) => [fd, READ | WRITE]));
    }
  });

  it('with more ready fds than entries, takes no more events than fit and reaches every fd in turn', () => {
    const { kernel, logic } = setup();
    const fds = Array.from({ length: 10 }, (_, i) => 3 + i);
    for (const fd of fds) {
      kernel.open(fd, { readable: fd % 2 === 0 }); // one or two filters fire
      expect(logic.add(fd, READ | WRITE)).toBe(0);
    }
    const seen = new Set<number>();
    for (let round = 0; round < 5; round++) {
      const events = kernel.scan(logic.eventSlots(4));
      const entries = logic.collect(events, 4);
      expect(entries.length).toBeLessThanOrEqual(4);
      // Nothing taken from the kernel is lost: each event is in an entry.
      for (const [fd, filter] of events) {
        const entry = entries.find(([f]) => f === fd);
        expect(entry, `fd ${fd} was taken from the kernel`).toBeDefined();
        expect(entry![1] & (filter === EVFILT_READ ? READ : WRITE)).not.toBe(0);
      }
      for (const [fd] of entries) seen.add(fd);
    }
    expect([...seen].sort((x, y) => x - y)).toEqual(fds);
  });

  it('after our own shutdown(SHUT_WR), EV_EOF on the write filter reports WRITE only', () => {
    const { kernel, logic, wait } = setup();
    const file = kernel.open(5);
    expect(logic.add(5, READ | WRITE)).toBe(0);
    file.writeEof = true; // socantsendmore(): the write filter fires with EV_EOF
    expect(wait(4)).toEqual([[5, WRITE]]);
    file.readable = true;
    expect(wait(4)).toEqual([[5, READ | WRITE]]);
  });

  it('a hang-up fires both filters with EV_EOF: every registered event, and only those', () => {
    const { kernel, logic, wait } = setup();
    const both = kernel.open(5, { writable: false });
    const readOnly = kernel.open(6, { writable: false });
    expect(logic.add(5, READ | WRITE)).toBe(0);
    expect(logic.add(6, READ)).toBe(0);
    expect(wait(4)).toEqual([]);
    for (const f of [both, readOnly]) Object.assign(f, { readEof: true, writeEof: true });
    expect(sorted(wait(4))).toEqual([[5, READ | WRITE], [6, READ]]);
  });

  it('an EV_ERROR entry counts as every registered event of its fd', () => {
    const { kernel, logic } = setup();
    kernel.open(5);
    kernel.open(6);
    expect(logic.add(5, READ | WRITE)).toBe(0);
    expect(logic.add(6, WRITE)).toBe(0);
    expect(logic.collect([[5, EVFILT_READ, EV_ERROR]], 4)).toEqual([[5, READ | WRITE]]);
    expect(logic.collect([[6, EVFILT_WRITE, EV_ERROR | EV_EOF]], 4)).toEqual([[6, WRITE]]);
    // Nothing for an fd that is not watched, and nothing deleted for it.
    const before = kernel.calls.length;
    expect(logic.collect([[7, EVFILT_READ, EV_ERROR]], 4)).toEqual([]);
    expect(kernel.calls.length).toBe(before);
  });

  it('merges the two filters of an fd into one entry, whatever their order in the list', () => {
    const { kernel, logic } = setup();
    for (const fd of [5, 6]) {
      kernel.open(fd);
      expect(logic.add(fd, READ | WRITE)).toBe(0);
    }
    const events: KEvent[] = [[5, EVFILT_WRITE, 0], [6, EVFILT_READ, 0], [5, EVFILT_READ, EV_EOF], [6, EVFILT_WRITE, 0]];
    expect(logic.collect(events, 2)).toEqual([[5, READ | WRITE], [6, READ | WRITE]]);
    expect(logic.collect(events.slice(0, 2), 2)).toEqual([[5, WRITE], [6, READ]]);
  });

  it('modify after close and reuse of the fd number watches the new file and leaves no stale filter', () => {
    const { kernel, logic, wait } = setup();
    kernel.open(5);
    expect(logic.add(5, READ)).toBe(0);
    kernel.close(5); // drops the read filter
    kernel.open(5, { readable: true }); // another file gets the number
    // Adding WRITE succeeds on the new file; deleting READ meets ENOENT.
    expect(logic.modify(5, READ, WRITE)).toBe(0);
    expect(kernel.filters(5)).toBe(WRITE);
    expect(wait(4)).toEqual([[5, WRITE]]);
    expect(logic.remove(5, WRITE)).toBe(0);
    expect(kernel.queue).toEqual([]);
    expect(wait(4)).toEqual([]);
  });

  it('a modify whose add fails changes nothing in the kernel, and the remove that follows cleans up', () => {
    const { kernel, logic } = setup();
    kernel.open(5);
    expect(logic.add(5, READ)).toBe(0);
    kernel.close(5); // not reused: EV_ADD meets EBADF
    expect(logic.modify(5, READ, READ | WRITE)).toBe(-EBADF);
    expect(logic.remove(5, READ)).toBe(-EBADF); // nothing left to remove
    kernel.open(5);
    expect(logic.add(5, WRITE)).toBe(0);
    expect(kernel.queue).toEqual([`5/${EVFILT_WRITE}`]);
  });

  it('a modify whose delete fails for another reason undoes its add and reports the errno', () => {
    const { kernel, logic, wait } = setup();
    kernel.open(5);
    expect(logic.add(5, READ)).toBe(0);
    kernel.failNext.set(`5/${EVFILT_READ}/${EV_DELETE}`, ENOMEM);
    expect(logic.modify(5, READ, WRITE)).toBe(-ENOMEM);
    expect(kernel.filters(5)).toBe(READ); // the added WRITE is gone again
    expect(wait(4)).toEqual([]); // the fd is writable, but WRITE is not watched
    expect(logic.remove(5, READ)).toBe(0);
    expect(kernel.queue).toEqual([]);
  });

  it('an add whose second filter fails undoes the first', () => {
    const { kernel, logic } = setup();
    kernel.open(5);
    kernel.failNext.set(`5/${EVFILT_WRITE}/${EV_ADD}`, EINVAL);
    expect(logic.add(5, READ | WRITE)).toBe(-EINVAL);
    expect(kernel.queue).toEqual([]);
    expect(logic.add(5, READ | WRITE)).toBe(0);
    expect(kernel.filters(5)).toBe(READ | WRITE);
  });

  it('remove deletes each filter on its own, so one already gone does not keep the other', () => {
    const { kernel, logic, wait } = setup();
    kernel.open(5, { readable: true });
    expect(logic.add(5, READ | WRITE)).toBe(0);
    kernel.queue = kernel.queue.filter((k) => k !== `5/${EVFILT_READ}`); // the kernel dropped one
    expect(logic.remove(5, READ | WRITE)).toBe(0);
    expect(kernel.queue).toEqual([]);
    expect(wait(4)).toEqual([]);
  });

  it('a filter that fires for an fd that does not want it yields no entry and is deleted', () => {
    const { kernel, logic, wait } = setup();
    kernel.open(5);
    kernel.open(6);
    expect(logic.add(5, READ)).toBe(0);
    // Left by a change that failed half-way in some earlier version or kernel.
    kernel.queue.push(`5/${EVFILT_WRITE}`, `6/${EVFILT_WRITE}`);
    expect(wait(4)).toEqual([]);
    expect(kernel.queue).toEqual([`5/${EVFILT_READ}`]);
    expect(kernel.scan(8)).toEqual([]); // a blocking wait would now block, not spin
  });

  it('takes the filter codes it is given (NetBSD numbers them 0 and 1)', () => {
    const calls: number[][] = [];
    const logic = new Logic((fd, filter, action) => (calls.push([fd, filter, action]), 0), 0, 1);
    expect(logic.add(5, READ | WRITE)).toBe(0);
    expect(calls).toEqual([[5, 0, EV_ADD], [5, 1, EV_ADD]]);
    expect(logic.collect([[5, 1, EV_EOF], [5, -1, 0]], 4)).toEqual([[5, WRITE]]);
  });

  it('timeouts: none is NULL, and tv_sec never exceeds INT32_MAX (XNU refuses more)', () => {
    expect(Logic.timeout(-1)).toBeNull();
    expect(Logic.timeout(0)).toEqual([0, 0]);
    expect(Logic.timeout(1_500_000_000)).toEqual([1, 500_000_000]);
    expect(Logic.timeout((INT32_MAX - 1) * 1e9)).toEqual([INT32_MAX - 1, 0]);
    // select(3e12 ms), and the largest the selector passes (INT64_MAX / 2 ns)
    for (const ns of [3e12 * 1e6, 2 ** 62]) {
      const t = Logic.timeout(ns)!;
      expect(t).toEqual([INT32_MAX, 0]);
      const { kernel } = setup();
      expect(kernel.scan(1, t)).toEqual([]);
    }
  });
});

describe('kqueue trigger modes against the scripted kernel', () => {
  /** The changes made by `act`, as [fd, filter, flags]. */
  const changesOf = (kernel: FakeKernel, act: () => void): Array<[number, number, number]> => {
    const before = kernel.calls.length;
    act();
    return kernel.calls.slice(before);
  };

  it('adds each filter with the flags of its mode: none, EV_CLEAR, EV_DISPATCH, both', () => {
    const flags: Array<[number, number]> = [[LEVEL, 0], [EDGE, EV_CLEAR], [ONESHOT, EV_DISPATCH], [EDGE_ONESHOT, EV_DISPATCH | EV_CLEAR]];
    for (const [mode, f] of flags) {
      const { kernel, logic } = setup();
      kernel.open(5);
      expect(changesOf(kernel, () => expect(logic.add(5, READ | WRITE, mode)).toBe(0)), `mode ${mode}`)
        .toEqual([[5, EVFILT_READ, EV_ADD | f], [5, EVFILT_WRITE, EV_ADD | f]]);
    }
  });

  it('reports an edge fd once per new readiness, not while it stays ready (EV_CLEAR)', () => {
    const { kernel, logic, wait } = setup();
    kernel.open(5, { readable: true });
    expect(logic.add(5, READ | WRITE, EDGE)).toBe(0);
    expect(wait(4)).toEqual([[5, READ | WRITE]]);
    expect(wait(4)).toEqual([]);
    kernel.arrive(5);
    expect(wait(4)).toEqual([[5, READ]]);
    expect(wait(4)).toEqual([]);
  });

  it('reports a oneshot fd once, and modify re-arms its kept filters with EV_ENABLE alone', () => {
    for (const mode of [ONESHOT, EDGE_ONESHOT]) {
      const { kernel, logic, wait } = setup();
      kernel.open(5, { readable: true });
      expect(logic.add(5, READ, mode)).toBe(0);
      expect(wait(4)).toEqual([[5, READ]]);
      kernel.arrive(5);
      expect(wait(4), `mode ${mode}: nothing until re-armed`).toEqual([]);
      expect(changesOf(kernel, () => expect(logic.modify(5, READ, READ, mode, mode)).toBe(0)))
        .toEqual([[5, EVFILT_READ, EV_ENABLE]]);
      // Still readable: EV_ENABLE activates it again (f_event at registration).
      expect(wait(4)).toEqual([[5, READ]]);
      expect(wait(4)).toEqual([]);
    }
  });

  it('modify in the same level or edge mode adds and deletes only the filters that change', () => {
    for (const [mode, f] of [[LEVEL, 0], [EDGE, EV_CLEAR]] as const) {
      const { kernel, logic } = setup();
      kernel.open(5);
      expect(logic.add(5, READ, mode)).toBe(0);
      expect(changesOf(kernel, () => expect(logic.modify(5, READ, READ | WRITE, mode, mode)).toBe(0)))
        .toEqual([[5, EVFILT_WRITE, EV_ADD | f]]);
      expect(changesOf(kernel, () => expect(logic.modify(5, READ | WRITE, READ | WRITE, mode, mode)).toBe(0)))
        .toEqual([]);
      expect(changesOf(kernel, () => expect(logic.modify(5, READ | WRITE, WRITE, mode, mode)).toBe(0)))
        .toEqual([[5, EVFILT_READ, EV_DELETE]]);
    }
  });

  it('modify into another mode deletes each kept filter and adds it again with the new flags', () => {
    const { kernel, logic, wait } = setup();
    kernel.open(5, { readable: true });
    expect(logic.add(5, READ | WRITE, LEVEL)).toBe(0);
    expect(changesOf(kernel, () => expect(logic.modify(5, READ | WRITE, READ, LEVEL, EDGE)).toBe(0))).toEqual([
      [5, EVFILT_READ, EV_DELETE], [5, EVFILT_READ, EV_ADD | EV_CLEAR], [5, EVFILT_WRITE, EV_DELETE],
    ]);
    expect(kernel.knote(5, EVFILT_READ)).toMatchObject({ clear: true, dispatch: false });
    expect(wait(4)).toEqual([[5, READ]]);
    expect(wait(4)).toEqual([]); // edge now: once
    expect(changesOf(kernel, () => expect(logic.modify(5, READ, READ | WRITE, EDGE, ONESHOT)).toBe(0))).toEqual([
      [5, EVFILT_WRITE, EV_ADD | EV_DISPATCH], [5, EVFILT_READ, EV_DELETE], [5, EVFILT_READ, EV_ADD | EV_DISPATCH],
    ]);
    expect(wait(4)).toEqual([[5, READ | WRITE]]);
    expect(wait(4)).toEqual([]);
    expect(logic.modify(5, READ | WRITE, READ | WRITE, ONESHOT, LEVEL)).toBe(0);
    expect(kernel.knote(5, EVFILT_READ)).toMatchObject({ clear: false, dispatch: false, disabled: false });
    expect(wait(4)).toEqual([[5, READ | WRITE]]);
    expect(wait(4)).toEqual([[5, READ | WRITE]]);
  });

  it('a mode change whose re-add fails reports the errno and leaves no filter the fd did not have', () => {
    const { kernel, logic } = setup();
    kernel.open(5);
    expect(logic.add(5, READ, LEVEL)).toBe(0);
    kernel.failNext.set(`5/${EVFILT_READ}/${EV_ADD | EV_CLEAR}`, ENOMEM);
    expect(logic.modify(5, READ, READ | WRITE, LEVEL, EDGE)).toBe(-ENOMEM);
    expect(kernel.filters(5) & ~READ).toBe(0); // the added WRITE is gone again
  });

  it('a oneshot fd watched both ways is reported once as a whole: the other filter is disabled on the next wait', () => {
    for (const mode of [ONESHOT, EDGE_ONESHOT]) {
      const { kernel, logic, wait } = setup();
      kernel.open(5); // writable, not readable
      expect(logic.add(5, READ | WRITE, mode)).toBe(0);
      expect(wait(4)).toEqual([[5, WRITE]]);
      // EV_DISPATCH disabled WRITE; READ is owed an EV_DISABLE, which the
      // next wait sends ahead of its scan, in the same kevent() call.
      const sent = changesOf(kernel, () => expect(wait(4)).toEqual([]));
      expect(sent, `mode ${mode}`).toEqual([[5, EVFILT_READ, EV_DISABLE]]);
      kernel.arrive(5);
      expect(wait(4)).toEqual([]);
      expect(kernel.scan(8), 'a blocking wait would block, not spin').toEqual([]);
      expect(logic.modify(5, READ | WRITE, READ | WRITE, mode, mode)).toBe(0);
      expect(wait(4)).toEqual([[5, READ | WRITE]]);
      expect(wait(4)).toEqual([]);
      expect(logic.disables(8)).toEqual([]); // both fired: nothing owed
    }
  });

  it('without the disable, a oneshot fd whose other filter fires later is still not reported again', () => {
    const { kernel, logic } = setup();
    kernel.open(5);
    expect(logic.add(5, READ | WRITE, ONESHOT)).toBe(0);
    expect(logic.collect([[5, EVFILT_WRITE, 0]], 4)).toEqual([[5, WRITE]]);
    expect(logic.collect([[5, EVFILT_READ, 0]], 4)).toEqual([]);
    expect(logic.collect([[5, EVFILT_READ, EV_ERROR]], 4)).toEqual([]);
    expect(logic.modify(5, READ | WRITE, READ | WRITE, ONESHOT, ONESHOT)).toBe(0);
    expect(logic.collect([[5, EVFILT_READ, 0]], 4)).toEqual([[5, READ]]);
  });

  it('merges both filters of a oneshot fd firing in one batch into one entry, and owes nothing', () => {
    const { kernel, logic, wait } = setup();
    kernel.open(5, { readable: true });
    expect(logic.add(5, READ | WRITE, ONESHOT)).toBe(0);
    expect(wait(4)).toEqual([[5, READ | WRITE]]);
    expect(logic.disables(8)).toEqual([]);
    expect(wait(4)).toEqual([]);
  });

  it('modify and remove drop a disable still owed; a level fd never owes one', () => {
    const { kernel, logic } = setup();
    for (const fd of [5, 6, 7]) kernel.open(fd);
    expect(logic.add(5, READ | WRITE, ONESHOT)).toBe(0);
    expect(logic.add(6, READ | WRITE, ONESHOT)).toBe(0);
    expect(logic.add(7, READ | WRITE, LEVEL)).toBe(0);
    expect(sorted(logic.collect([[5, EVFILT_WRITE, 0], [6, EVFILT_WRITE, 0], [7, EVFILT_WRITE, 0]], 4)))
      .toEqual([[5, WRITE], [6, WRITE], [7, WRITE]]);
    expect(logic.modify(5, READ | WRITE, READ | WRITE, ONESHOT, ONESHOT)).toBe(0);
    expect(logic.remove(6, READ | WRITE)).toBe(0);
    expect(logic.disables(8)).toEqual([]);
  });

  it('sends no more disables than it is asked for, and keeps the rest for the next wait', () => {
    const { kernel, logic } = setup();
    for (const fd of [5, 6, 7]) {
      kernel.open(fd);
      expect(logic.add(fd, READ | WRITE, ONESHOT)).toBe(0);
    }
    expect(logic.collect([[5, EVFILT_WRITE, 0], [6, EVFILT_WRITE, 0], [7, EVFILT_WRITE, 0]], 4)).toHaveLength(3);
    expect(logic.disables(2)).toEqual([[5, EVFILT_READ], [6, EVFILT_READ]]);
    expect(logic.disables(2)).toEqual([[7, EVFILT_READ]]);
    expect(logic.disables(2)).toEqual([]);
  });

  it('a disable that meets a closed fd comes back as an EV_ERROR entry and reports nothing', () => {
    const { kernel, logic, wait } = setup();
    kernel.open(5);
    kernel.open(6, { readable: true });
    expect(logic.add(5, READ | WRITE, ONESHOT)).toBe(0);
    expect(logic.add(6, READ, LEVEL)).toBe(0);
    expect(sorted(wait(4))).toEqual([[5, WRITE], [6, READ]]);
    kernel.close(5); // closed while registered: its filters are gone
    expect(wait(4)).toEqual([]); // only the EV_ERROR entry came back
    expect(wait(4)).toEqual([[6, READ]]);
    expect(logic.remove(5, READ | WRITE)).toBe(-EBADF);
  });
});
