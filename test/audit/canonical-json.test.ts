import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalJson } from '../../src/audit/canonical-json.js';

describe('canonicalJson', () => {
  it('sorts keys at every depth and writes no whitespace', () => {
    expect(canonicalJson({ b: 1, a: { d: [3, { z: null, y: 'x' }], c: true } })).toBe('{"a":{"c":true,"d":[3,{"y":"x","z":null}]},"b":1}');
  });

  it('is independent of key insertion order and stable under parse → serialise', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        const text = canonicalJson(v);
        expect(canonicalJson(JSON.parse(text))).toBe(text);
        const reversed = JSON.parse(JSON.stringify(v), (_k, val: unknown) =>
          val !== null && typeof val === 'object' && !Array.isArray(val)
            ? Object.fromEntries(Object.entries(val as Record<string, unknown>).reverse())
            : val,
        ) as unknown;
        expect(canonicalJson(reversed)).toBe(text);
      }),
      { numRuns: 200 },
    );
  });

  it('refuses values JSON cannot carry faithfully', () => {
    expect(() => canonicalJson({ loss: Number.NaN })).toThrow(/\$\.loss is NaN/);
    expect(() => canonicalJson([Number.POSITIVE_INFINITY])).toThrow(/\$\[0\] is Infinity/);
    expect(() => canonicalJson({ at: new Date(0) })).toThrow(/\$\.at is a Date/);
    expect(() => canonicalJson({ big: 1n })).toThrow(/bigint/);
  });
});
