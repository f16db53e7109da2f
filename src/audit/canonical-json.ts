/**
 * Canonical JSON for hashing: object keys sorted (by UTF-16 code units), no whitespace, numbers
 * and strings exactly as JSON.stringify writes them. Parsing a canonical line and serialising it
 * again gives the same bytes, so a verifier can recompute a hash from what it reads.
 */
import { fail } from '../core/errors.js';

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

export function canonicalJson(value: unknown): string {
  return encode(value, '$');
}

function encode(value: unknown, path: string): string {
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) fail('non-finite', `${path} is ${value}; audit entries hold finite numbers only`, 'record it as a string or null');
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) return `[${value.map((v, i) => encode(v, `${path}[${i}]`)).join(',')}]`;
  if (typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    const obj = value as Record<string, unknown>;
    const keys = Object.keys(obj).filter((k) => obj[k] !== undefined).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${encode(obj[k], `${path}.${k}`)}`).join(',')}}`;
  }
  return fail('data', `${path} is a ${typeof value === 'object' ? (value.constructor?.name ?? 'object') : typeof value}, not a JSON value`, 'convert it to plain objects, arrays, strings, finite numbers, booleans or null');
}
