// Runs an example from examples/ as a child process, the way a reader runs
// it, on a port the kernel picks (PORT=0), and waits for its first line,
// `listening on HOST:PORT` (or, for an example that is no server, the first
// line it prints when ready). By default with `node --import tsx`, so the
// pid is the server itself and a signal reaches it directly; `launcher`
// picks `npx tsx` or `npm start` instead, in a process group of their own,
// which `interrupt()` signals as a terminal's Ctrl-C does.
//
// Every process started here is remembered; `stopAllExamples()` (call it in
// afterEach) kills what is still running and waits until its pipes are
// closed, so no test leaves a process or an fd behind.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** How the example is started: `node --import tsx`, `npx tsx`, or `npm start` (selector-echo only). */
export type Launcher = 'node' | 'npx' | 'npm';

export interface StartOptions {
  /** Default 'node'; 'npx' and 'npm' start it in a process group of its own. */
  launcher?: Launcher;
  /** Extra environment (HOST defaults to 127.0.0.1, PORT to 0). */
  env?: Record<string, string>;
  args?: string[];
  /** How long the example may take to print its ready line (tsx compiles it first). */
  readyTimeoutMs?: number;
  /** Its first line when ready, for an example that does not listen (default: `listening on HOST:PORT`). */
  ready?: RegExp;
}

export class RunningExample {
  readonly child: ChildProcess;
  /** Complete stdout lines so far. */
  readonly lines: string[] = [];
  stderr = '';
  host = '';
  port = 0;
  /** Resolves when the process has exited and its pipes are closed. */
  readonly closed: Promise<Exit>;
  #partial = '';
  #waiters = new Set<() => void>();
  #exit: Exit | null = null;

  constructor(readonly name: string, child: ChildProcess, readonly group = false) {
    this.child = child;
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      const parts = (this.#partial + chunk).split('\n');
      this.#partial = parts.pop()!;
      this.lines.push(...parts);
      this.#wake();
    });
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
      this.stderr += chunk;
    });
    this.closed = new Promise<Exit>((resolve) => {
      child.once('close', (code, signal) => {
        if (this.#partial !== '') this.lines.push(this.#partial);
        this.#partial = '';
        this.#exit = { code, signal };
        this.#wake();
        resolve(this.#exit);
      });
    });
  }

  #wake(): void {
    for (const wake of this.#waiters) wake();
  }

  get exited(): boolean {
    return this.#exit !== null;
  }

  /**
   * The first stdout line at index >= `from` that matches `pattern`, waiting
   * for it up to `timeoutMs`. Rejects on timeout or when the process ends
   * without printing it, with its output in the message.
   */
  waitForLine(pattern: RegExp, { from = 0, timeoutMs = 5000 } = {}): Promise<{ index: number; match: RegExpExecArray }> {
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        for (let i = from; i < this.lines.length; i++) {
          const match = pattern.exec(this.lines[i]!);
          if (match) {
            done();
            resolve({ index: i, match });
            return true;
          }
        }
        if (this.#exit !== null) {
          done();
          reject(new Error(`${this.name} exited (${JSON.stringify(this.#exit)}) without printing ${pattern}\n${this.output()}`));
          return true;
        }
        return false;
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`${this.name} printed no ${pattern} within ${timeoutMs} ms\n${this.output()}`));
      }, timeoutMs);
      const wake = (): void => void check();
      const done = (): void => {
        clearTimeout(timer);
        this.#waiters.delete(wake);
      };
      if (!check()) this.#waiters.add(wake);
    });
  }

  /** Waits for the exit, up to `timeoutMs`; rejects (leaving it running) on timeout. */
  async waitForExit(timeoutMs = 5000): Promise<Exit> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${this.name} still running after ${timeoutMs} ms\n${this.output()}`)), timeoutMs);
    });
    try {
      return await Promise.race([this.closed, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Ctrl-C in a terminal: SIGINT to every process of the group, the
   * launcher's and the example's alike. (Without a group of its own, to the
   * example.)
   */
  interrupt(signal: NodeJS.Signals = 'SIGINT'): void {
    if (this.group) process.kill(-this.child.pid!, signal);
    else this.child.kill(signal);
  }

  /** Kills it (SIGKILL; with its launcher, the whole group) if it still runs, and waits until its pipes are closed. */
  async stop(): Promise<Exit> {
    if (this.group) {
      try {
        process.kill(-this.child.pid!, 'SIGKILL');
      } catch {
        // the group is gone already
      }
    } else if (this.#exit === null) {
      this.child.kill('SIGKILL');
    }
    return this.closed;
  }

  output(): string {
    return `--- stdout of ${this.name} ---\n${this.lines.join('\n')}${this.#partial}\n--- stderr ---\n${this.stderr}`;
  }
}

const running = new Set<RunningExample>();

/** Starts examples/NAME.ts and resolves once it prints `listening on HOST:PORT` (or `options.ready`). */
export async function startExample(name: string, options: StartOptions = {}): Promise<RunningExample> {
  const launcher = options.launcher ?? 'node';
  const args = options.args ?? [];
  if (launcher === 'npm' && name !== 'selector-echo') throw new Error('npm start runs selector-echo only');
  const [command, commandArgs] = {
    node: [process.execPath, ['--import', 'tsx', `examples/${name}.ts`, ...args]],
    npx: ['npx', ['tsx', `examples/${name}.ts`, ...args]],
    // --silent: without npm's two banner lines before the example's first.
    npm: ['npm', ['start', '--silent', ...(args.length > 0 ? ['--', ...args] : [])]],
  }[launcher] as [string, string[]];
  const group = launcher !== 'node';
  const child = spawn(command, commandArgs, {
    cwd: ROOT,
    env: { ...process.env, HOST: '127.0.0.1', PORT: '0', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: group,
  });
  const example = new RunningExample(name, child, group);
  running.add(example);
  void example.closed.then(() => running.delete(example));
  const { index, match } = await example.waitForLine(options.ready ?? /^listening on \[?([^\]]*?)\]?:(\d+)$/, {
    timeoutMs: options.readyTimeoutMs ?? 15_000,
  });
  if (index !== 0) throw new Error(`${name} printed other lines before its ready line\n${example.output()}`);
  if (options.ready === undefined) {
    example.host = match[1]!;
    example.port = Number(match[2]);
  }
  return example;
}

/** Kills every example still running and waits for them all to be gone. */
export async function stopAllExamples(): Promise<void> {
  await Promise.all([...running].map((example) => example.stop()));
}

/** The bytes of a string printed by the examples' showBytes: `"hi\r\n"` -> hi CR LF. */
export function unshowBytes(shown: string): Buffer {
  if (!shown.startsWith('"') || !shown.endsWith('"')) throw new Error(`not quoted bytes: ${shown}`);
  const bytes: number[] = [];
  const body = shown.slice(1, -1);
  for (let i = 0; i < body.length; i++) {
    if (body[i] !== '\\') {
      bytes.push(body.charCodeAt(i));
      continue;
    }
    const next = body[++i];
    if (next === 'r') bytes.push(0x0d);
    else if (next === 'n') bytes.push(0x0a);
    else if (next === 't') bytes.push(0x09);
    else if (next === 'x') {
      bytes.push(parseInt(body.slice(i + 1, i + 3), 16));
      i += 2;
    } else bytes.push(next!.charCodeAt(0));
  }
  return Buffer.from(bytes);
}
