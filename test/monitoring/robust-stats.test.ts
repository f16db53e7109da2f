import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { coordinateMedian, mad, median, robustZ } from '../../src/monitoring/robust-stats.js';

describe('robust statistics', () => {
  it('median and MAD of small samples', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([NaN, 5, Infinity, 1])).toBe(3); // non-finite values are ignored
    expect(median([])).toBeNaN();
    expect(mad([1, 2, 3, 4, 100])).toBe(1);
  });

  it('one deviant among equals scores high; the others score 0', () => {
    const z = robustZ([1, 1, 1, 1, 1, 50]);
    expect(z.slice(0, 5)).toEqual([0, 0, 0, 0, 0]);
    expect(z[5]).toBeGreaterThan(3.5);
    // all identical: no division by zero
    expect(robustZ([2, 2, 2]).every((v) => v === 0)).toBe(true);
  });

  it('a normal sample gives |z| ≤ 3.5 for almost all points; a planted outlier exceeds it', () => {
    // deterministic pseudo-normal sample (Box–Muller on a fixed grid)
    const xs = Array.from({ length: 200 }, (_, i) => Math.sqrt(-2 * Math.log((i + 0.5) / 200)) * Math.cos(2 * Math.PI * ((i * 0.618) % 1)));
    const z = robustZ([...xs, 12]);
    expect(z.filter((v) => Math.abs(v) > 3.5).length).toBeLessThanOrEqual(2);
    expect(z[200]).toBeGreaterThan(6);
  });

  it('z-scores are invariant to shifting and positive scaling (property)', () => {
    fc.assert(fc.property(
      fc.array(fc.integer({ min: -1000, max: 1000 }), { minLength: 3, maxLength: 30 }),
      fc.double({ min: -100, max: 100, noNaN: true }),
      fc.double({ min: 0.01, max: 100, noNaN: true }),
      (xs, shift, factor) => {
        const a = robustZ(xs);
        const b = robustZ(xs.map((x) => x * factor + shift));
        a.forEach((v, i) => expect(Math.abs(b[i]! - v)).toBeLessThan(1e-6 * Math.max(1, Math.abs(v))));
      },
    ), { numRuns: 100 });
  });

  it('coordinate-wise median matches a sort per coordinate (property) and ignores a minority of huge values', () => {
    fc.assert(fc.property(
      fc.integer({ min: 1, max: 9 }).chain((n) => fc.array(fc.array(fc.float({ min: -100, max: 100, noNaN: true }), { minLength: 4, maxLength: 4 }), { minLength: n, maxLength: n })),
      (rows) => {
        const got = coordinateMedian(rows.map((r) => Float32Array.from(r)));
        for (let i = 0; i < 4; i++) expect(got[i]).toBeCloseTo(Math.fround(median(rows.map((r) => Math.fround(r[i]!)))), 4);
      },
    ), { numRuns: 100 });
    const honest = [1, 2, 3].map((v) => Float32Array.from([v, -v]));
    expect(Array.from(coordinateMedian([...honest, Float32Array.from([1e9, 1e9])]))).toEqual([2.5, -1.5]);
    expect(() => coordinateMedian([])).toThrow(/at least one vector/);
    expect(() => coordinateMedian([new Float32Array(2), new Float32Array(3)])).toThrow(/length 3, expected 2/);
  });
});
