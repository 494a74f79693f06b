// Runs in a worker thread: a selector and a socket pair of its own.
import { parentPort } from 'node:worker_threads';

import { EVENT_READ, Selector, socketpair } from '../../src/index.js';

const sel = new Selector<string>();
const [a, b] = socketpair();
sel.register(a, EVENT_READ, 'pong');
b.send(Buffer.from('ping'));
const ready = sel.select(5000).map(([key, mask]) => [key.data, mask]);
const received = a.recv(16).toString();
sel.close();
a.close();
b.close();
parentPort!.postMessage({ ready, received });
