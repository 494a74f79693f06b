// The Python-named error classes and the one errno -> class mapping.
import { native } from './native.js';

/** An operating-system error, as Python's `OSError`: `errno` is positive. */
export class OSError extends Error {
  /** The C errno value (positive). */
  readonly errno: number;
  /** The errno's symbolic name, e.g. `'ECONNRESET'`. */
  readonly code: string;
  /** The system call that failed, when known. */
  readonly syscall: string | undefined;
  /** The path concerned (an AF_UNIX address), as Python's `OSError.filename`. */
  readonly filename: string | undefined;

  constructor(errno: number, message?: string, syscall?: string, filename?: string) {
    const code = native.errnoNames[errno] ?? `Unknown system error ${errno}`;
    const text = message ?? native.strerror(errno);
    const path = filename === undefined ? '' : `: ${JSON.stringify(filename)}`;
    super(`[Errno ${errno}] ${text}${path}${syscall ? ` (${syscall})` : ''}`);
    this.errno = errno;
    this.code = code;
    this.syscall = syscall;
    this.filename = filename;
  }
}

/** An operation on a non-blocking socket would block (EAGAIN, EINPROGRESS...). */
export class BlockingIOError extends OSError {}
/** Base of the connection errors, as in Python. */
export class ConnectionError extends OSError {}
export class BrokenPipeError extends ConnectionError {}
export class ConnectionAbortedError extends ConnectionError {}
export class ConnectionRefusedError extends ConnectionError {}
export class ConnectionResetError extends ConnectionError {}
export class FileExistsError extends OSError {}
export class FileNotFoundError extends OSError {}
export class InterruptedError extends OSError {}
export class PermissionError extends OSError {}

/**
 * A timeout: errno ETIMEDOUT from the kernel, or a deadline that ran out in
 * `createConnection` or the loop's `waitFor` (Python 3.11+ has one class).
 */
export class TimeoutError extends OSError {
  constructor(message?: string, syscall?: string, filename?: string) {
    super(errnoOf('ETIMEDOUT'), message, syscall, filename);
  }
}

/**
 * A name the resolver could not turn into an address (Python's
 * `socket.gaierror`): `code` is the resolver's name for the failure
 * (`'EAI_NONAME'`, `'EAI_AGAIN'`, ...) and `errno` its number, as Python
 * reports it (negative on Linux).
 */
export class GaiError extends OSError {
  constructor(errno: number, code: string, message: string) {
    super(errno, message, 'getaddrinfo');
    (this as { code: string }).code = code;
  }
}

/** A fileobj that is not registered, or registered already (Python's `KeyError`). */
export class KeyError extends Error {}

for (const cls of [OSError, BlockingIOError, ConnectionError, BrokenPipeError,
  ConnectionAbortedError, ConnectionRefusedError, ConnectionResetError, FileExistsError,
  FileNotFoundError, InterruptedError, PermissionError, TimeoutError, GaiError, KeyError]) {
  Object.defineProperty(cls.prototype, 'name', { value: cls.name, configurable: true, writable: true });
}

const numberOf = new Map<string, number>(
  Object.entries(native.errnoNames).map(([errno, name]) => [name, Number(errno)]),
);

function errnoOf(name: string): number {
  return numberOf.get(name) ?? 0;
}

type OSErrorClass = new (errno: number, message?: string, syscall?: string, filename?: string) => OSError;

// Python's table (Objects/exceptions.c), by name so it holds on every OS.
const classByName: Record<string, OSErrorClass> = {
  EAGAIN: BlockingIOError, EWOULDBLOCK: BlockingIOError, EALREADY: BlockingIOError,
  EINPROGRESS: BlockingIOError,
  EPIPE: BrokenPipeError, ESHUTDOWN: BrokenPipeError,
  ECONNABORTED: ConnectionAbortedError, ECONNREFUSED: ConnectionRefusedError,
  ECONNRESET: ConnectionResetError,
  EEXIST: FileExistsError, ENOENT: FileNotFoundError, EINTR: InterruptedError,
  EACCES: PermissionError, EPERM: PermissionError,
};
const classByErrno = new Map<number, OSErrorClass>();
for (const [name, cls] of Object.entries(classByName)) {
  const errno = numberOf.get(name);
  if (errno !== undefined) classByErrno.set(errno, cls);
}

/**
 * The right OSError subclass for an errno (the native calls' `-errno`
 * negated); `filename` is the path concerned, if any.
 */
export function errorFromErrno(errno: number, syscall?: string, filename?: string): OSError {
  if (errno === errnoOf('ETIMEDOUT')) return new TimeoutError(undefined, syscall, filename);
  const cls = classByErrno.get(errno) ?? OSError;
  return new cls(errno, undefined, syscall, filename);
}

/** errno numbers by name for this platform, e.g. `errno.EAGAIN`. */
export const errno: Readonly<Record<string, number>> = Object.freeze(Object.fromEntries(numberOf));
