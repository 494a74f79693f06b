// Argument checks for the public API: each throws a TypeError (wrong type)
// or RangeError (right type, bad value) whose message names the argument,
// before anything reaches native code.

export function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}...` : value);
  if (typeof value === 'bigint') return `${value}n`;
  if (typeof value === 'function') return 'a function';
  if (value === null || typeof value !== 'object') return String(value);
  if (Array.isArray(value)) return 'an array';
  return value.constructor?.name ? `a ${value.constructor.name}` : 'an object';
}

/** An integer within [min, max]. */
export function checkInt(value: unknown, name: string, min: number, max: number): number {
  if (typeof value !== 'number') {
    throw new TypeError(`${name} must be an integer, got ${describe(value)}`);
  }
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`${name} must be an integer from ${min} to ${max}, got ${describe(value)}`);
  }
  return value;
}

export const INT32_MAX = 0x7fffffff;

/** An fd: a non-negative 32-bit integer. */
export function checkFd(value: unknown, name: string): number {
  return checkInt(value, name, 0, INT32_MAX);
}

/** A timeout in ms: null/undefined mean none (-1); NaN is refused. */
export function checkTimeout(value: unknown, name: string): number {
  if (value === undefined || value === null) return -1;
  if (typeof value !== 'number') {
    throw new TypeError(`${name} must be a number of milliseconds or null, got ${describe(value)}`);
  }
  if (Number.isNaN(value)) throw new RangeError(`${name} must not be NaN`);
  if (value === Infinity) return -1;
  return value <= 0 ? 0 : value;
}

export function checkBytes(value: unknown, name: string): Uint8Array {
  if (!(value instanceof Uint8Array)) {
    throw new TypeError(`${name} must be a Buffer or Uint8Array, got ${describe(value)}`);
  }
  return value;
}

export function checkFunction(value: unknown, name: string): (...args: never[]) => unknown {
  if (typeof value !== 'function') throw new TypeError(`${name} must be a function, got ${describe(value)}`);
  return value as (...args: never[]) => unknown;
}
