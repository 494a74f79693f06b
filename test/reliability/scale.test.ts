// Scale: 10,000 concurrent connections to each example echo server
// (examples/selector-echo.ts, examples/loop-echo.ts), on loopback, from one
// C client on epoll. Every connection is confirmed by the echo of a ping;
// then 500 of them do round trips of random sizes while the other 9,500
// idle; then every one of the 10,000 sends a final ping and must get its
// echo back: all served, none dropped. The server's RSS is measured with no
// connections and with 10,000 idle ones.
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';

import {
  buildClient, ECHO_SERVERS, expectRunning, fdCount, fromProc, memory, MiB, removeClient, runClient, SEED, startServer, stopAll,
  waitUntil,
} from './support.js';

afterEach(stopAll);
afterAll(removeClient);

const CONNECTIONS = 10_000;
const ACTIVE = 500;
const ROUNDS = 20;

describe.each(ECHO_SERVERS)('examples/%s.ts at scale', (name) => {
  it(`serves ${CONNECTIONS} concurrent connections, ${ACTIVE} of them busy, and drops none`, async () => {
    // Server and client each need an fd per connection, and a few more.
    const hard = execFileSync('sh', ['-c', 'ulimit -Hn'], { encoding: 'utf8' }).trim();
    expect(hard === 'unlimited' || Number(hard) >= CONNECTIONS + 100,
      `this test needs RLIMIT_NOFILE's hard limit >= ${CONNECTIONS + 100} (ulimit -Hn: ${hard})`).toBe(true);
    buildClient();
    const server = await startServer(name, { nofile: 'hard' });
    const idleFds = await fromProc(server, fdCount);
    const idleRss = (await fromProc(server, memory)).rss;

    const run = runClient('scale', server, {
      conns: CONNECTIONS, active: ACTIVE, rounds: ROUNDS, maxmsg: 16384, inflight: 200, seed: SEED, timeout: 60,
    }, 100_000);
    const idle = await run.event('idle', 60_000);
    expect(idle.open, run.output()).toBe(CONNECTIONS);
    // Each connection's ping came back, so the server holds all of them now.
    expect(await fromProc(server, fdCount)).toBe(idleFds + CONNECTIONS);
    const rss = (await fromProc(server, memory)).rss;
    console.log(`[reliability] ${name}: ${CONNECTIONS} connections open in ${idle.seconds.toFixed(2)} s; ` +
      `server RSS ${(idleRss / MiB).toFixed(1)} MiB with none, ${(rss / MiB).toFixed(1)} MiB with ${CONNECTIONS} idle ` +
      `(+${((rss - idleRss) / CONNECTIONS / 1024).toFixed(2)} KiB each)`);
    // Bounded per connection: a Socket, a SelectorKey, and a Connection
    // object (selector-echo) or a task (loop-echo). Measured: about 2 KiB.
    expect(rss - idleRss).toBeLessThan(CONNECTIONS * 10 * 1024);

    run.proceed();
    const { code, result } = await run.result();
    expect(result.failures, `seed ${SEED}: ${run.output()}`).toEqual([]);
    expect(code).toBe(0);
    expect(result.ok).toBe(CONNECTIONS);
    expect(result.bytesVerified).toBe(result.bytesSent);
    console.log(`[reliability] ${name}: all ${result.ok} connections got their final echo; ` +
      `${(result.bytesVerified / MiB).toFixed(1)} MiB verified; ${run.stderr.trim()}`);

    let fds = -1;
    await waitUntil(async () => (fds = await fromProc(server, fdCount)) <= idleFds, 20_000,
      () => `${name} to close its ${CONNECTIONS} connections (fds now ${fds})`);
    expectRunning(server);
  }, 120_000);
});
