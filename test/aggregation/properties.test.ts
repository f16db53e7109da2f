// Invariants checked on random inputs (fast-check): the fast paths must agree with slow, obvious
// reference computations.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { medianRule, reduceColumns, selectInPlace, trimmedMeanRule } from '../../src/aggregation/coordinate-wise.js';
import { gramMatrix, pairwiseSquaredDistances } from '../../src/aggregation/pairwise-distances.js';
import { createAggregator } from '../../src/aggregation/registry.js';
import { SeededRng } from '../../src/core/rng.js';
import { context } from './helpers.js';

const value = fc.float({ min: -1000, max: 1000, noNaN: true, noDefaultInfinity: true });
/** n vectors of one dimension d. */
const matrix = (minN: number, maxN: number, maxD = 7) =>
  fc.integer({ min: 1, max: maxD }).chain((d) => fc.array(fc.array(value, { minLength: d, maxLength: d }), { minLength: minN, maxLength: maxN }));
const toRows = (m: number[][]) => m.map((r) => Float32Array.from(r));
const toContribs = (m: number[][]) => m.map((r, i) => ({ id: `p${String(i).padStart(3, '0')}`, update: Float32Array.from(r), weight: 1 }));
const column = (m: number[][], j: number) => m.map((r) => Math.fround(r[j]!)).sort((a, b) => a - b);

describe('selectInPlace (quickselect)', () => {
  it('puts the k-th smallest at k with ≤ before and ≥ after, including duplicates', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: -5, max: 5 }), { minLength: 1, maxLength: 80 }), fc.nat(), (xs, kRaw) => {
        const a = Float64Array.from(xs);
        const k = kRaw % xs.length;
        const v = selectInPlace(a, 0, a.length, k);
        const sorted = [...xs].sort((p, q) => p - q);
        expect(v).toBe(sorted[k]);
        for (let i = 0; i < k; i++) expect(a[i]!).toBeLessThanOrEqual(v);
        for (let i = k + 1; i < a.length; i++) expect(a[i]!).toBeGreaterThanOrEqual(v);
        expect([...a].sort((p, q) => p - q)).toEqual(sorted);
      }),
      { numRuns: 300 },
    );
  });

  it('stays correct on adversarial (sorted, reversed, constant) columns', () => {
    for (const xs of [
      Array.from({ length: 200 }, (_, i) => i),
      Array.from({ length: 200 }, (_, i) => 200 - i),
      Array.from({ length: 200 }, () => 7),
      Array.from({ length: 200 }, (_, i) => (i % 2 === 0 ? i : -i)),
    ]) {
      for (const k of [0, 1, 99, 100, 199]) {
        const a = Float64Array.from(xs);
        expect(selectInPlace(a, 0, a.length, k)).toBe([...xs].sort((p, q) => p - q)[k]);
      }
    }
  });
});

describe('coordinate-wise rules', () => {
  it('median equals the sort-based median and lies between min and max on every coordinate', () => {
    fc.assert(
      fc.property(matrix(1, 30), (m) => {
        const d = m[0]!.length;
        const { aggregate } = reduceColumns(toRows(m), d, medianRule);
        for (let j = 0; j < d; j++) {
          const col = column(m, j);
          const h = col.length >> 1;
          const expected = col.length % 2 === 1 ? col[h]! : (col[h - 1]! + col[h]!) / 2;
          expect(aggregate[j]).toBe(Math.fround(expected));
          expect(aggregate[j]!).toBeGreaterThanOrEqual(col[0]!);
          expect(aggregate[j]!).toBeLessThanOrEqual(col[col.length - 1]!);
        }
      }),
    );
  });

  it('trimmed mean equals the sort-based trimmed mean; trim 0 is the plain mean', () => {
    fc.assert(
      fc.property(matrix(1, 30), fc.nat(), (m, tRaw) => {
        const d = m[0]!.length;
        const n = m.length;
        const trim = tRaw % Math.ceil(n / 2);
        const { aggregate, shares } = reduceColumns(toRows(m), d, trimmedMeanRule(trim));
        for (let j = 0; j < d; j++) {
          const kept = column(m, j).slice(trim, n - trim);
          expect(aggregate[j]!).toBeCloseTo(Math.fround(kept.reduce((s, x) => s + x, 0) / kept.length), 3);
        }
        expect(shares.reduce((s, x) => s + x, 0)).toBeCloseTo(d, 9);
        if (trim === 0) {
          for (let j = 0; j < d; j++) expect(aggregate[j]!).toBeCloseTo(m.reduce((s, r) => s + Math.fround(r[j]!), 0) / n, 3);
        }
      }),
    );
  });

  it('the trimmed-mean aggregator with beta = 0 is the unweighted mean', () => {
    fc.assert(
      fc.property(matrix(1, 20), (m) => {
        const r = createAggregator({ name: 'trimmed-mean', beta: 0 }).aggregate(toContribs(m), context(0));
        const mean = createAggregator({ name: 'fedavg', weighted: false }).aggregate(toContribs(m), context(0));
        r.aggregate.forEach((v, j) => expect(v).toBeCloseTo(mean.aggregate[j]!, 3));
      }),
    );
  });

  it("weights are each contribution's exact share: Σ wᵢ·xᵢ reproduces a 1-D trimmed mean", () => {
    fc.assert(
      fc.property(fc.array(value, { minLength: 3, maxLength: 25 }), (xs) => {
        const contribs = xs.map((x, i) => ({ id: `p${i}`, update: Float32Array.of(x), weight: 1 }));
        const r = createAggregator({ name: 'trimmed-mean', trim: 1 }).aggregate(contribs, context(1));
        const recon = r.diagnostics.reduce((s, d, i) => s + d.weight * contribs[i]!.update[0]!, 0);
        expect(recon).toBeCloseTo(r.aggregate[0]!, 2);
      }),
    );
  });
});

describe('pairwise distances via the Gram matrix', () => {
  it('match direct Σ(a − b)² and are symmetric with a zero diagonal', () => {
    fc.assert(
      fc.property(matrix(1, 11, 1500), (m) => {
        const rows = toRows(m);
        const n = rows.length;
        const d = pairwiseSquaredDistances(rows);
        const g = gramMatrix(rows);
        for (let i = 0; i < n; i++) {
          expect(d[i * n + i]).toBe(0);
          for (let j = 0; j < n; j++) {
            let direct = 0;
            let dot = 0;
            for (let k = 0; k < rows[i]!.length; k++) {
              direct += (rows[i]![k]! - rows[j]![k]!) ** 2;
              dot += rows[i]![k]! * rows[j]![k]!;
            }
            expect(d[i * n + j]).toBe(d[j * n + i]);
            expect(d[i * n + j]!).toBeGreaterThanOrEqual(0);
            expect(Math.abs(d[i * n + j]! - direct)).toBeLessThanOrEqual(1e-9 * (g[i * n + i]! + g[j * n + j]!) + 1e-9);
            expect(Math.abs(g[i * n + j]! - dot)).toBeLessThanOrEqual(1e-12 * Math.abs(g[i * n + i]! + g[j * n + j]!) + 1e-9);
          }
        }
      }),
      { numRuns: 60 },
    );
  });
});

describe('aggregator invariants', () => {
  it('Krum returns one of its inputs, Multi-Krum the mean of m of them', () => {
    fc.assert(
      fc.property(matrix(5, 12), (m) => {
        const r = createAggregator({ name: 'krum' }).aggregate(toContribs(m), context(1));
        expect(m.some((row) => row.every((x, j) => Math.fround(x) === r.aggregate[j]))).toBe(true);
        expect(r.diagnostics.filter((d) => d.accepted)).toHaveLength(1);
        const multi = createAggregator({ name: 'multi-krum' }).aggregate(toContribs(m), context(1));
        const chosen = m.filter((_, i) => multi.diagnostics[i]!.accepted);
        expect(chosen).toHaveLength(m.length - 1);
        multi.aggregate.forEach((v, j) => expect(v).toBeCloseTo(chosen.reduce((s, row) => s + Math.fround(row[j]!), 0) / chosen.length, 3));
      }),
    );
  });

  it('the geometric median does not score worse than the best input point', () => {
    // Weiszfeld decreases the objective Σ‖z − xᵢ‖; the minimum over inputs is an upper bound on the optimum.
    fc.assert(
      fc.property(matrix(3, 12), (m) => {
        const rows = toRows(m);
        const objective = (z: Float32Array) =>
          rows.reduce((s, x) => s + Math.sqrt(x.reduce((t, v, k) => t + (v - z[k]!) ** 2, 0)), 0);
        const r = createAggregator({ name: 'geometric-median', maxIterations: 500, tolerance: 1e-10, init: 'mean' }).aggregate(toContribs(m), context(1));
        const best = Math.min(...rows.map(objective));
        expect(objective(r.aggregate)).toBeLessThanOrEqual(best * (1 + 1e-4) + 1e-3);
      }),
      { numRuns: 60 },
    );
  });

  it('norm bounding never outputs more than M', () => {
    fc.assert(
      fc.property(matrix(1, 10), fc.double({ min: 0.01, max: 100, noNaN: true }), (m, M) => {
        const r = createAggregator({ name: 'norm-bound', maxNorm: M }).aggregate(toContribs(m), context(0));
        expect(Math.hypot(...r.aggregate)).toBeLessThanOrEqual(M * (1 + 1e-5));
      }),
    );
  });

  it('bucketing with bucket size 1 equals its (permutation-invariant) inner rule', () => {
    fc.assert(
      fc.property(matrix(3, 12), (m) => {
        const a = createAggregator({ name: 'bucketing', bucketSize: 1, inner: { name: 'median' } }).aggregate(toContribs(m), context(1));
        const b = createAggregator({ name: 'median' }).aggregate(toContribs(m), context(1));
        // (x + 0 maps −0 to +0: a bucket mean of one −0 is +0, which is the same number.)
        expect(Array.from(a.aggregate, (x) => x + 0)).toEqual(Array.from(b.aggregate, (x) => x + 0));
        // With equal values the median's tie-break follows ids, which bucketing renames: compare
        // weights only when every column is free of ties.
        const distinct = m[0]!.every((_, j) => new Set(m.map((r) => Math.fround(r[j]!))).size === m.length);
        if (distinct) a.diagnostics.forEach((d, i) => expect(d.weight).toBeCloseTo(b.diagnostics[i]!.weight, 12));
      }),
    );
  });

  it('bucketing depends on the round seed, not on arrival order', () => {
    const m = Array.from({ length: 9 }, (_, i) => [i * i, (7 * i) % 5]);
    const run = (seed: string, rows: number[][], ids: string[]) =>
      createAggregator({ name: 'bucketing', bucketSize: 3, inner: { name: 'median' } }).aggregate(
        rows.map((r, i) => ({ id: ids[i]!, update: Float32Array.from(r), weight: 1 })),
        { ...context(1), rng: SeededRng.from(seed) },
      );
    const ids = m.map((_, i) => `p${i}`);
    const reasons = (seed: string) => run(seed, m, ids).diagnostics.map((d) => d.reason);
    const seeds = ['a', 'b', 'c', 'd', 'e'];
    expect(new Set(seeds.map((s) => JSON.stringify(reasons(s)))).size).toBeGreaterThan(1);
    const reversed = run('a', [...m].reverse(), [...ids].reverse());
    const forward = run('a', m, ids);
    expect(Array.from(reversed.aggregate)).toEqual(Array.from(forward.aggregate));
    expect([...reversed.diagnostics].reverse().map((d) => d.reason)).toEqual(forward.diagnostics.map((d) => d.reason));
  });
});
