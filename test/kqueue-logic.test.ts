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
// - Filters are level-triggered (no EV_CLEAR): a scan delivers up to
//   `nevents` active filters from the head of the queue and queues each
//   delivered one again at the tail while it stays active.
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
const EV_ERROR = 0x4000;
const EV_EOF = 0x8000;
const READ = 1;
const WRITE = 2;
const INT32_MAX = 2 ** 31 - 1;

type KEvent = [ident: number, filter: number, flags: number];

interface KqueueLogic {
  add(fd: number, events: number): number;
  modify(fd: number, oldEvents: number, events: number): number;
  remove(fd: number, events: number): number;
  eventSlots(capacity: number): number;
  collect(events: KEvent[], capacity: number): Array<[fd: number, mask: number]>;
}
interface KqueueLogicClass {
  new (kernel: (fd: number, filter: number, action: number) => number, readFilter?: number, writeFilter?: number): KqueueLogic;
  timeout(ns: number): [sec: number, nsec: number] | null;
}
const Logic = (native as unknown as { KqueueLogicForTests: KqueueLogicClass }).KqueueLogicForTests;

interface File {
  readable: boolean;  // data past what was read
  writable: boolean;  // room in the send buffer
  readEof: boolean;   // nothing more will arrive
  writeEof: boolean;  // nothing more can be sent
}

class FakeKernel {
  readonly files = new Map<number, File>();
  // Registered filters, "fd/filter", in queue order (head first).
  queue: string[] = [];
  readonly calls: Array<[fd: number, filter: number, action: number]> = [];
  // Scripted failures: the next change of "fd/filter/action" fails so.
  readonly failNext = new Map<string, number>();

  open(fd: number, file: Partial<File> = {}): File {
    expect(this.files.has(fd), `fd ${fd} is free`).toBe(false);
    const f: File = { readable: false, writable: true, readEof: false, writeEof: false, ...file };
    this.files.set(fd, f);
    return f;
  }

  close(fd: number): void {
    this.files.delete(fd);
    this.queue = this.queue.filter((k) => !k.startsWith(`${fd}/`));
  }

  /** The filters registered for `fd`, as READ | WRITE. */
  filters(fd: number): number {
    return (this.queue.includes(`${fd}/${EVFILT_READ}`) ? READ : 0) |
      (this.queue.includes(`${fd}/${EVFILT_WRITE}`) ? WRITE : 0);
  }

  change = (fd: number, filter: number, action: number): number => {
    this.calls.push([fd, filter, action]);
    const scripted = this.failNext.get(`${fd}/${filter}/${action}`);
    if (scripted !== undefined) {
      this.failNext.delete(`${fd}/${filter}/${action}`);
      return scripted;
    }
    expect(filter === EVFILT_READ || filter === EVFILT_WRITE, 'a known filter').toBe(true);
    if (!this.files.has(fd)) return EBADF;
    const key = `${fd}/${filter}`;
    if (action === EV_ADD) {
      if (!this.queue.includes(key)) this.queue.push(key);
      return 0;
    }
    expect(action).toBe(EV_DELETE);
    if (!this.queue.includes(key)) return ENOENT;
    this.queue = this.queue.filter((k) => k !== key);
    return 0;
  };

  private active(key: string): KEvent | null {
    const [fd, filter] = key.split('/').map(Number) as [number, number];
    const f = this.files.get(fd)!;
    if (filter === EVFILT_READ) return f.readable || f.readEof ? [fd, filter, f.readEof ? EV_EOF : 0] : null;
    return f.writable || f.writeEof ? [fd, filter, f.writeEof ? EV_EOF : 0] : null;
  }

  /** kevent(kq, NULL, 0, events, nevents, timeout). */
  scan(nevents: number, timeout?: [number, number] | null): KEvent[] {
    expect(nevents).toBeGreaterThan(0);
    if (timeout && timeout[0] > INT32_MAX) throw new Error('EINVAL: XNU refuses tv_sec > INT32_MAX');
    const out: KEvent[] = [];
    const delivered: string[] = [];
    for (const key of this.queue) {
      if (out.length === nevents) break;
      const ev = this.active(key);
      if (ev) {
        out.push(ev);
        delivered.push(key);
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
    const entries = logic.collect(kernel.scan(slots), capacity);
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
