// Beyond the chapter: fan-out with limits. Fetches many pages from an HTTP
// server at once, as a crawler would, with
// - a Semaphore, so that at most --concurrency requests are in flight
//   (the server, and our fd limit, are spared a thousand connections at once);
// - a timeout per request, so one server that hangs costs --timeout ms, not forever;
// - a taskGroup around the lot, so every request has finished (or been
//   cancelled) when it returns.
//
//   node --import tsx examples/http-hello.ts 127.0.0.1 8000 &
//   node --import tsx examples/crawler.ts 127.0.0.1 8000 --requests 200 --concurrency 10 --timeout 2000
//
// It prints one line per failure and then a summary:
// `fetched 200: 200 ok, 0 failed, 0 timed out; at most 10 at once`.
import {
  CancelledError, type Coro, run, Semaphore, type StreamReader, openConnection, taskGroup, TimeoutError, timeout,
} from '../src/index.js';
import { exampleOptions } from './support/cli.js';

const { host, port, values } = exampleOptions({ values: ['requests', 'concurrency', 'timeout'] });
const requests = Number(values.requests ?? 100);
const concurrency = Number(values.concurrency ?? 10);
const timeoutMs = Number(values.timeout ?? 2000);
for (const [name, value] of [['requests', requests], ['concurrency', concurrency], ['timeout', timeoutMs]] as const) {
  if (!Number.isInteger(value) || value < 1) {
    console.error(`--${name} must be a positive integer`);
    process.exit(2);
  }
}

interface Page {
  status: number;
  body: Buffer;
}

// Reads one HTTP/1.1 response with a Content-Length body (all http-hello.ts sends).
function* readResponse(reader: StreamReader): Coro<Page> {
  const head = (yield* reader.readuntil('\r\n\r\n')).toString('latin1');
  const [statusLine, ...fields] = head.split('\r\n');
  const status = /^HTTP\/1\.[01] (\d{3}) /.exec(statusLine!);
  if (status === null) throw new Error(`not an HTTP response: ${JSON.stringify(statusLine)}`);
  const length = fields.map((f) => /^content-length:\s*(\d+)\s*$/i.exec(f)).find((m) => m !== null);
  const body = length ? yield* reader.readexactly(Number(length[1])) : yield* reader.read();
  return { status: Number(status[1]), body };
}

function* fetch(path: string): Coro<Page> {
  const [reader, writer] = yield* openConnection([host, port]);
  try {
    writer.write(`GET ${path} HTTP/1.1\r\nHost: ${host}:${port}\r\nConnection: close\r\n\r\n`);
    yield* writer.drain();
    return yield* readResponse(reader);
  } finally {
    writer.close();
  }
}

function* main(): Coro<void> {
  const limit = new Semaphore(concurrency);
  let inFlight = 0;
  let most = 0;
  const counts = { ok: 0, failed: 0, timedOut: 0 };

  function* crawl(path: string): Coro<void> {
    // Wait for a permit first: the timeout covers the request, not the queue.
    yield* limit.hold(function* () {
      inFlight++;
      most = Math.max(most, inFlight);
      try {
        const page = yield* timeout(timeoutMs, () => fetch(path));
        if (page.status === 200) counts.ok++;
        else {
          counts.failed++;
          console.log(`${path}: HTTP ${page.status}`);
        }
      } catch (error) {
        if (error instanceof TimeoutError) {
          counts.timedOut++;
          console.log(`${path}: timed out after ${timeoutMs} ms`);
        } else if (error instanceof Error && !(error instanceof CancelledError)) {
          counts.failed++; // refused, reset, a bad response...
          console.log(`${path}: ${error.message}`);
        } else {
          throw error;
        }
      } finally {
        inFlight--;
      }
    });
  }

  yield* taskGroup(function* (tg) {
    for (let i = 0; i < requests; i++) tg.createTask(crawl(`/page/${i}`));
  });
  console.log(`fetched ${requests}: ${counts.ok} ok, ${counts.failed} failed, ${counts.timedOut} timed out; ` +
    `at most ${most} at once`);
}

run(main);
