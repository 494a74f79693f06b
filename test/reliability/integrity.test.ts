// Integrity under load: 200 concurrent clients send random payloads of 1 byte
// to 1 MiB, in writes of random sizes, reading their echo concurrently in
// reads of random sizes, through each example echo server. Every byte that
// comes back is compared with the byte sent at that position, and the hash of
// each connection's sent stream with that of its received stream: nothing
// may be lost, reordered, duplicated or added. (SEED=n reproduces a run.)
import { afterAll, afterEach, describe, expect, it } from 'vitest';

import {
  buildClient, ECHO_SERVERS, expectRunning, fdCount, MiB, removeClient, runClient, SEED, startServer, stopAll, waitUntil,
} from './support.js';

afterEach(stopAll);
afterAll(removeClient);

const CONNECTIONS = 200;

describe.each(ECHO_SERVERS)('examples/%s.ts under load', (name) => {
  it(`echoes ${CONNECTIONS} concurrent clients byte-exact (1 B to 1 MiB each, random splits)`, async () => {
    buildClient();
    const server = await startServer(name);
    const pid = server.child.pid!;
    const idleFds = fdCount(pid);

    const run = runClient('load', server, { conns: CONNECTIONS, min: 1, max: MiB, seed: SEED, timeout: 60 }, 70_000);
    const { code, result } = await run.result();
    expect(result.failures, `seed ${SEED}: ${run.output()}`).toEqual([]);
    expect(code).toBe(0);
    expect(result.ok).toBe(CONNECTIONS);
    expect(result.bytesVerified).toBe(result.bytesSent);
    console.log(`[reliability] ${name}: ${result.ok} connections, ${result.bytesVerified} bytes ` +
      `(${(result.bytesVerified / MiB).toFixed(1)} MiB) echoed and verified byte for byte in ` +
      `${result.seconds.toFixed(2)} s, seed ${SEED}`);

    // It closed every connection, and it is still here.
    await waitUntil(() => fdCount(pid) <= idleFds, 10_000, () => `${name} to close its connections (fds: ${fdCount(pid)}, idle: ${idleFds})`);
    expectRunning(server);
    expect(server.stderr).toBe('');
  }, 90_000);
});
