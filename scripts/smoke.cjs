// A smoke test of the built package (dist/ and the addon node-gyp-build
// finds) under whichever node runs it. CI runs it on every Node major the
// package claims, with the addon built once: the addon is Node-API, but it
// also calls libuv (runAsync's watch of the selector's fd) and one V8
// function (drainMicrotasks, for promises in a blocking loop), whose ABI
// Node-API does not promise; this touches both.
//
//   node scripts/smoke.cjs [PACKAGE_DIR]   prints "smoke ok on node vX (backend)"
//
// PACKAGE_DIR defaults to this checkout; CI also points it at the unpacked
// tarball, to load a prebuild (the arm64 one, under qemu-user).
//
// CommonJS on purpose: it also checks require() of the ES module package.
'use strict';
const assert = require('node:assert/strict');
const path = require('node:path');

const m = require(path.resolve(process.argv[2] ?? path.join(__dirname, '..')));

// A Selector and a socketpair echo.
const sel = new m.Selector();
const [a, b] = m.socketpair();
sel.register(a, m.EVENT_READ, 'a');
b.sendall(Buffer.from('ping'));
const ready = sel.select(1000);
assert.equal(ready.length, 1);
assert.equal(ready[0][0].data, 'a');
a.sendall(a.recv(16));
assert.equal(b.recv(16).toString(), 'ping');
sel.close();

// A blocking loop run: tasks, timers, socket coroutines, and a Promise
// settled by JavaScript (the V8 microtask checkpoint).
function* echoOnce(loop) {
  const data = yield* loop.sockRecv(a, 16);
  yield* loop.sockSendall(a, data);
}
const blocking = m.run(function* main() {
  const loop = m.getRunningLoop();
  a.setBlocking(false);
  b.setBlocking(false);
  const server = loop.createTask(echoOnce(loop));
  yield* loop.sockSendall(b, Buffer.from('pong'));
  const reply = yield* loop.sockRecv(b, 16);
  yield* server;
  const [slept, promised] = yield* m.gather(m.sleep(5, 'slept'), m.fromPromise(Promise.resolve('promised')));
  return `${reply} ${slept} ${promised}`;
});
assert.equal(blocking, 'pong slept promised');

// The same loop driven by Node's own (libuv watches the selector's fd).
const loop = new m.EventLoop();
loop
  .runAsync(
    (function* main() {
      const timer = new Promise((resolve) => setTimeout(resolve, 5, 'node timer'));
      return yield* m.fromPromise(timer);
    })(),
  )
  .then((value) => {
    assert.equal(value, 'node timer');
    loop.close();
    a.close();
    b.close();
    console.log(`smoke ok on node ${process.version} ${process.arch} (${m.defaultBackend})`);
  })
  .catch((error) => {
    console.error(error);
    process.exitCode = 1;
  });
