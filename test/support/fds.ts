// Open fds of this process, for leak checks.
import { readdirSync, readlinkSync } from 'node:fs';

const FD_DIR = process.platform === 'linux' ? '/proc/self/fd' : '/dev/fd';

/** fd number -> what it is ("socket:[123]", "pipe:[4]", ...). */
export function openFds(): Map<number, string> {
  const out = new Map<number, string>();
  for (const name of readdirSync(FD_DIR)) {
    const fd = Number(name);
    let target = '?';
    try {
      target = readlinkSync(`${FD_DIR}/${name}`);
    } catch {
      continue; // the directory's own fd, gone by now
    }
    out.set(fd, target);
  }
  return out;
}

// The kinds this library creates: sockets, selector fds and wake-up pipes.
const OURS = /^(socket:|pipe:|anon_inode:\[eventpoll\]|anon_inode:\[eventfd\])/;

/** fds of the kinds this library makes that are open now but were not in `before`. */
export function leakedSince(before: Map<number, string>): string[] {
  const leaked: string[] = [];
  for (const [fd, target] of openFds()) {
    if (before.get(fd) !== target && OURS.test(target)) leaked.push(`${fd} -> ${target}`);
  }
  return leaked;
}
