// LOOP_IO=io_uring runs every test with loops in the io_uring mode (those
// that name no mode): CI runs test/loop a second time so.
import { setDefaultIo } from '../../src/loop/uring.js';

const io = process.env.LOOP_IO;
if (io !== undefined && io !== '') {
  if (io !== 'selector' && io !== 'io_uring') throw new Error(`LOOP_IO must be selector or io_uring, got ${io}`);
  setDefaultIo(io);
}
