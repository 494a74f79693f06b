// Runs in a worker thread: wakes the main thread's Waker through the fd
// posted to it, once the main thread says it is about to block in select.
import { parentPort, workerData } from 'node:worker_threads';

import { Waker } from '../../src/index.js';

const { fd, go } = workerData as { fd: number; go: Int32Array };
const waker = Waker.fromFd(fd);
parentPort!.postMessage('ready');
Atomics.wait(go, 0, 0, 10_000);
waker.wake();
waker.close(); // must leave the main thread's fd open
parentPort!.postMessage('woke');
