// Loaded into every Node.js process of a sanitizer run (NODE_OPTIONS=--require),
// set up by scripts/sanitize.sh. In a vitest fork worker it runs
// LeakSanitizer once the worker's test file is done: vitest kills its
// workers with SIGTERM (then SIGKILL after 500 ms), which skips the at-exit
// leak check, so the check happens just before the worker says "stopped".
// Every other process (vitest itself, examples spawned by e2e tests) keeps
// the ordinary at-exit check.
'use strict';

const helper = process.env.NS_SANITIZE_LSAN_HELPER;
const isForkWorker = /vitest[\\/]dist[\\/]workers[\\/]forks\.js$/.test(process.argv[1] ?? '');

if (helper && isForkWorker && typeof process.send === 'function') {
  const { appendFileSync } = require('node:fs');
  const { leakCheck } = require(helper);
  const send = process.send;
  // vitest binds process.send when its worker module loads, after this file.
  process.send = function sendAfterLeakCheck(message, ...rest) {
    if (message !== null && typeof message === 'object' && message.type === 'stopped') {
      // Drop what is already garbage, so pending finalizers have run where
      // they can; anything still alive stays reachable and is not a leak.
      globalThis.gc?.();
      const start = performance.now();
      const found = leakCheck();
      const ms = Math.round(performance.now() - start);
      // A record per check, so the summary can prove that checks ran.
      const record = process.env.NS_SANITIZE_CHECKS;
      if (record) appendFileSync(record, `${process.pid} ${found} ${ms}\n`);
    }
    return send.call(this, message, ...rest);
  };
}
