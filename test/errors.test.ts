import { describe, expect, it } from 'vitest';

import {
  BlockingIOError, BrokenPipeError, ConnectionAbortedError, ConnectionError, ConnectionRefusedError,
  ConnectionResetError, errno, FileExistsError, FileNotFoundError, InterruptedError, KeyError,
  OSError, PermissionError, TimeoutError,
} from '../src/index.js';
import { errorFromErrno } from '../src/errors.js';

describe('errors', () => {
  it('maps errno values to the Python-named classes', () => {
    const table: Array<[string, Function]> = [
      ['EAGAIN', BlockingIOError], ['EINPROGRESS', BlockingIOError], ['EALREADY', BlockingIOError],
      ['EPIPE', BrokenPipeError], ['ECONNRESET', ConnectionResetError],
      ['ECONNREFUSED', ConnectionRefusedError], ['ECONNABORTED', ConnectionAbortedError],
      ['ENOENT', FileNotFoundError], ['EEXIST', FileExistsError], ['EACCES', PermissionError],
      ['EPERM', PermissionError], ['EINTR', InterruptedError], ['ETIMEDOUT', TimeoutError],
      ['EBADF', OSError], ['EINVAL', OSError],
    ];
    for (const [code, cls] of table) {
      const error = errorFromErrno(errno[code]!, 'send');
      expect(error.constructor, code).toBe(cls);
      expect(error).toBeInstanceOf(OSError);
      expect(error).toBeInstanceOf(Error);
      expect(error).toMatchObject({ errno: errno[code], code, syscall: 'send', name: cls.name });
      expect(error.message).toMatch(new RegExp(`^\\[Errno ${errno[code]}\\] .+ \\(send\\)$`));
    }
  });

  it('groups the connection errors under ConnectionError, as Python does', () => {
    for (const code of ['EPIPE', 'ECONNRESET', 'ECONNREFUSED', 'ECONNABORTED']) {
      expect(errorFromErrno(errno[code]!)).toBeInstanceOf(ConnectionError);
    }
  });

  it('TimeoutError is an OSError with code ETIMEDOUT, constructible without an errno', () => {
    const error = new TimeoutError('deadline passed');
    expect(error).toBeInstanceOf(OSError);
    expect(error).toMatchObject({ code: 'ETIMEDOUT', errno: errno.ETIMEDOUT, name: 'TimeoutError' });
    expect(error.message).toContain('deadline passed');
  });

  it('KeyError is a plain Error subclass with its own name', () => {
    const error = new KeyError('fd 3 is not registered');
    expect(error).toBeInstanceOf(Error);
    expect(error.name).toBe('KeyError');
  });

  it('errno values are positive and named', () => {
    expect(errno.EAGAIN).toBeGreaterThan(0);
    expect(Object.isFrozen(errno)).toBe(true);
    expect(new OSError(errno.ENOENT!).code).toBe('ENOENT');
  });
});
