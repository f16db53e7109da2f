// Worked examples with known answers: ByzFL's docstring values (REFERENCES.md) and small cases
// computed by hand (the derivation is in each comment).
import { describe, expect, it } from 'vitest';
import { createAggregator } from '../../src/aggregation/registry.js';
import { FedsecError } from '../../src/core/errors.js';
import { context, contributions } from './helpers.js';

const X = [
  [1, 2, 3],
  [4, 5, 6],
  [7, 8, 9],
];

function agg(spec: { name: string; [k: string]: unknown }, rows: readonly (readonly number[])[], f: number, extra = {}) {
  return createAggregator(spec).aggregate(contributions(rows), context(f, extra));
}

describe('ByzFL worked examples (x = [[1,2,3],[4,5,6],[7,8,9]], f = 1)', () => {
  it('trimmed mean → [4, 5, 6]', () => {
    expect(Array.from(agg({ name: 'trimmed-mean' }, X, 1).aggregate)).toEqual([4, 5, 6]);
  });

  it('Multi-Krum, ByzFL variant (n − f − 1 neighbours, average n − f) → [2.5, 3.5, 4.5]', () => {
    const r = agg({ name: 'multi-krum', variant: 'byzfl' }, X, 1);
    expect(Array.from(r.aggregate)).toEqual([2.5, 3.5, 4.5]);
    // All three scores tie at 27 (one neighbour each at squared distance 27); ties go to the smaller id.
    expect(r.diagnostics.map((d) => d.score)).toEqual([27, 27, 27]);
    expect(r.diagnostics.map((d) => d.accepted)).toEqual([true, true, false]);
  });

  it('Blanchard Krum refuses the same input: n = 3 is not > 2f + 2', () => {
    expect(() => agg({ name: 'multi-krum' }, X, 1)).toThrowError(/Multi-Krum needs n > 2f \+ 2 = 4 \(n = 3, f = 1\)/);
  });

  it('geometric median, smoothed Weiszfeld ν = 0.1, 3 iterations from 0 → [3.78788764, 4.78788764, 5.78788764]', () => {
    const r = agg({ name: 'geometric-median', nu: 0.1, maxIterations: 3, tolerance: 0, init: 'zero' }, X, 1);
    [3.78788764, 4.78788764, 5.78788764].forEach((e, i) => expect(r.aggregate[i]).toBeCloseTo(e, 5));
  });

  it('centered clipping with ByzFL defaults (τ = 100, L = 1, centre 0) → [4, 5, 6]', () => {
    const r = agg({ name: 'centered-clipping', tau: 100, iterations: 1, center: 'zero' }, X, 1);
    Array.from(r.aggregate).forEach((v, i) => expect(v).toBeCloseTo([4, 5, 6][i]!, 5));
  });
});

describe('hand-computed cases', () => {
  // 1-D points 0, 1, 2, 10, 100, f = 1. Squared distances from each to the others:
  //   0: 1, 4, 100, 10⁴     1: 1, 1, 81, 9801     2: 4, 1, 64, 9604     10: 100, 81, 64, 8100
  // Blanchard (2 neighbours): scores 5, 2, 5, 145, … → Krum picks 1; Multi-Krum (m = 4) averages 0,1,2,10.
  // ByzFL (3 neighbours): scores 105, 83, 69, 245, … → Krum picks 2.
  const line = [[0], [1], [2], [10], [100]];

  it('Krum (Blanchard) picks the point with the smallest 2-neighbour score', () => {
    const r = agg({ name: 'krum' }, line, 1);
    expect(Array.from(r.aggregate)).toEqual([1]);
    expect(r.diagnostics.slice(0, 4).map((d) => d.score)).toEqual([5, 2, 5, 145]);
    expect(r.diagnostics.map((d) => d.weight)).toEqual([0, 1, 0, 0, 0]);
  });

  it('Multi-Krum (Blanchard, m = n − f = 4) → mean of 0, 1, 2, 10 = 3.25', () => {
    expect(Array.from(agg({ name: 'multi-krum' }, line, 1).aggregate)).toEqual([3.25]);
    expect(Array.from(agg({ name: 'multi-krum', m: 2 }, line, 1).aggregate)).toEqual([0.5]);
  });

  it('Krum (ByzFL variant, 3 neighbours) picks 2', () => {
    expect(Array.from(agg({ name: 'krum', variant: 'byzfl' }, line, 1).aggregate)).toEqual([2]);
  });

  it('median of an even count averages the two middle values, per coordinate', () => {
    const r = agg({ name: 'median' }, [[1, 40], [2, 10], [3, 30], [10, 20]], 1);
    expect(Array.from(r.aggregate)).toEqual([2.5, 25]);
    // Middle values: coordinate 0 → p1 (2), p2 (3); coordinate 1 → p3 (20), p2 (30). Each carries ½ of
    // a coordinate's mean, so over 2 coordinates p2 has weight ½, p1 and p3 ¼, p0 none.
    expect(r.diagnostics.map((d) => d.weight)).toEqual([0, 0.25, 0.5, 0.25]);
    expect(r.diagnostics[0]!.reason).toMatch(/never the median/);
  });

  it('Bulyan: iterated Krum keeps the 5 honest points, then the 3 values closest to the median', () => {
    // n = 7, f = 1: θ = 5 selected, β = 3 per coordinate. Honest first coordinates 0, 1.9, 2, 5, 6
    // have median 2 and closest values 2, 1.9, 0 → 1.3 (a trimmed mean would give 2.967);
    // second coordinates 8…12 → 9, 10, 11 → 10. Checked against an independent numpy version.
    const rows = [[0, 10], [1.9, 11], [2, 9], [5, 12], [6, 8], [50, -30], [-40, 60]];
    const r = agg({ name: 'bulyan' }, rows, 1);
    expect(r.aggregate[0]).toBeCloseTo(1.3, 6);
    expect(r.aggregate[1]).toBe(10);
    // p3 (5, 12) and p4 (6, 8) are selected but never in a window: they end with weight 0.
    expect(r.diagnostics.map((d) => d.accepted)).toEqual([true, true, true, false, false, false, false]);
    expect(r.diagnostics[3]!.reason).toMatch(/selected by Krum but never among the β = 3/);
    expect(r.diagnostics[5]!.reason).toMatch(/not among the θ = 5/);
    // Weights: coordinate 0 window {p0, p1, p2}, coordinate 1 window {p0, p1, p2} → ⅓ each.
    r.diagnostics.slice(0, 3).forEach((d) => expect(d.weight).toBeCloseTo(1 / 3, 12));
  });

  it('refuses configurations that cannot tolerate f', () => {
    const rows = Array.from({ length: 10 }, (_, i) => [i]);
    expect(() => agg({ name: 'trimmed-mean', beta: 0.1 }, rows, 2)).toThrowError(/trims 1 per side but must tolerate f = 2 \(n = 10\) — raise beta/);
    expect(() => agg({ name: 'trimmed-mean', trim: 1 }, rows, 2)).toThrowError(/trims 1 per side but must tolerate f = 2/);
    expect(() => agg({ name: 'trimmed-mean', trim: 5 }, rows, 2)).toThrowError(/Trimmed mean needs n > 2·trim = 10 \(trim = 5 per side\) \(n = 10, f = 2\)/);
    expect(() => agg({ name: 'multi-krum', m: 9 }, rows, 2)).toThrowError(/m = 9 updates but needs m ≤ n − f = 8/);
  });

  it('Bulyan refuses n < 4f + 3 with the numbers in the message', () => {
    const rows = Array.from({ length: 10 }, (_, i) => [i]);
    expect(() => agg({ name: 'bulyan' }, rows, 2)).toThrowError(/Bulyan needs n ≥ 4f \+ 3 = 11 \(n = 10, f = 2\)/);
    try {
      agg({ name: 'bulyan' }, rows, 2);
    } catch (e) {
      expect(e).toBeInstanceOf(FedsecError);
      expect((e as FedsecError).code).toBe('precondition');
      expect((e as FedsecError).hint).toBe('add participants or lower byzantine');
    }
  });

  it('FLTrust: ReLU(cos) trust, updates rescaled to the reference norm', () => {
    // reference [1, 0]: [2, 0] → cos 1, rescaled [1, 0]; [0, 3] → cos 0; [−1, 0] → cos −1;
    // [1, 1] → cos 1/√2, rescaled [1/√2, 1/√2]. Aggregate = ([1,0] + (1/√2)[1/√2,1/√2]) / (1 + 1/√2).
    const s = Math.SQRT1_2;
    const r = agg({ name: 'fltrust' }, [[2, 0], [0, 3], [-1, 0], [1, 1]], 1, { reference: Float32Array.from([1, 0]) });
    expect(r.aggregate[0]).toBeCloseTo(1.5 / (1 + s), 6);
    expect(r.aggregate[1]).toBeCloseTo(0.5 / (1 + s), 6);
    expect(r.diagnostics.map((d) => d.accepted)).toEqual([true, false, false, true]);
    expect(r.diagnostics[2]!.reason).toMatch(/cosine -1\.000/);
    expect(r.diagnostics[0]!.weight).toBeCloseTo(1 / (1 + s), 9);
  });

  it('FLTrust without a reference, or when nobody is trusted', () => {
    expect(() => agg({ name: 'fltrust' }, X, 0)).toThrowError(/FLTrust needs the server reference update/);
    const r = agg({ name: 'fltrust' }, X, 0, { reference: Float32Array.from([-1, -1, -1]) });
    expect(Array.from(r.aggregate)).toEqual([0, 0, 0]);
    expect(r.diagnostics.every((d) => !d.accepted && d.weight === 0)).toBe(true);
  });

  it('norm bounding clips to M, then averages', () => {
    // [3, 4] has norm 5 → [0.6, 0.8]; [0, 0.5] is inside. Mean = [0.3, 0.65].
    const r = agg({ name: 'norm-bound', maxNorm: 1 }, [[3, 4], [0, 0.5]], 0);
    expect(r.aggregate[0]).toBeCloseTo(0.3, 6);
    expect(r.aggregate[1]).toBeCloseTo(0.65, 6);
    expect(r.diagnostics[0]!.reason).toMatch(/clipped from norm 5\.000 to 1/);
  });

  it('centered clipping moves at most τ/n per input per iteration', () => {
    // Centre 0, τ = 1: [10, 0] is clipped to [1, 0]; [0, 0.5] is inside. v = ([1, 0] + [0, 0.5]) / 2.
    const r = agg({ name: 'centered-clipping', tau: 1, iterations: 1, center: 'zero' }, [[10, 0], [0, 0.5]], 0);
    expect(r.aggregate[0]).toBeCloseTo(0.5, 6);
    expect(r.aggregate[1]).toBeCloseTo(0.25, 6);
  });

  it('centered clipping centred on the previous aggregate carries state across rounds', () => {
    const cc = createAggregator({ name: 'centered-clipping', tau: 1, iterations: 1, center: 'previous' });
    const first = cc.aggregate(contributions([[10, 0], [10, 0]]), context(0));
    expect(first.aggregate[0]).toBeCloseTo(1, 6); // from 0, clipped to radius 1
    const second = cc.aggregate(contributions([[10, 0], [10, 0]]), context(0));
    expect(second.aggregate[0]).toBeCloseTo(2, 6); // from the previous aggregate 1, one more τ
  });

  it('FedAvg weights by sample count', () => {
    const r = createAggregator({ name: 'fedavg' }).aggregate(contributions([[0], [10]], [3, 1]), context(0));
    expect(Array.from(r.aggregate)).toEqual([2.5]);
    expect(r.diagnostics.map((d) => d.weight)).toEqual([0.75, 0.25]);
  });

  it('NNM: each update becomes the mean of its n − f nearest, then the inner rule', () => {
    // 0, 1, 2, 100 with f = 1 keep 3 neighbours: 0, 1, 2 → 1 each; 100 → (100 + 2 + 1)/3.
    // Median of [1, 1, 1, 34.33] = 1. Only 0, 1, 2 feed the two middle mixed values.
    const r = agg({ name: 'nnm', inner: { name: 'median' } }, [[0], [1], [2], [100]], 1);
    expect(Array.from(r.aggregate)).toEqual([1]);
    expect(r.diagnostics[3]!.weight).toBe(0);
    const total = r.diagnostics.reduce((s, d) => s + d.weight, 0);
    expect(total).toBeCloseTo(1, 12);
  });
});
