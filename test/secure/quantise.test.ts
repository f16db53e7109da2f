import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FedsecError } from '../../src/core/errors.js';
import { dequantiseSum, levelsPerParticipant, quantisationScale, quantiseUpdate, type QuantisationParams } from '../../src/secure/quantise.js';

describe('quantisation into Z_(2^m)', () => {
  it('uses floor((2^m − 1)/n) levels per participant', () => {
    expect(levelsPerParticipant(32, 10)).toBe(429496729);
    expect(levelsPerParticipant(32, 500)).toBe(8589934);
    expect(levelsPerParticipant(16, 100)).toBe(655);
  });

  it('never wraps: n participants at the extreme weight and value sum to at most 2^m − 1', () => {
    for (const [bits, n, W] of [
      [32, 10, 1],
      [32, 500, 1000],
      [16, 7, 3],
      [8, 3, 2],
    ] as const) {
      const p: QuantisationParams = { clip: 2, maxWeight: W, participants: n, modulusBits: bits };
      const q = quantiseUpdate(Float32Array.from([2, 1e9, -2, -1e9, 0]), W, p);
      const levels = levelsPerParticipant(bits, n);
      for (let i = 0; i < 5; i++) expect(q[i]!).toBeLessThanOrEqual(levels);
      expect(q[0]).toBe(levels); // +clip at full weight is exactly the top level
      expect(q[1]).toBe(levels); // clipped
      expect(q[2]).toBe(0);
      expect(q[3]).toBe(0);
      expect(n * levels).toBeLessThanOrEqual(2 ** bits - 1);
      expect(q[5]).toBe(W);
    }
  });

  it('dequantises the sum of weighted updates to Σw·x and Σw within the rounding bound', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 12 }),
        fc.integer({ min: 1, max: 30 }),
        fc.constantFrom(16, 24, 32),
        fc.integer({ min: 0, max: 1_000_000 }),
        (n, d, bits, seed) => {
          const maxWeight = Math.min(50, levelsPerParticipant(bits, n));
          const p: QuantisationParams = { clip: 1.5, maxWeight, participants: n, modulusBits: bits };
          let state = seed;
          const rand = () => ((state = (state * 1103515245 + 12345) % 2147483648) / 2147483648);
          const exact = new Float64Array(d);
          let weights = 0;
          const sum = new Uint32Array(d + 1);
          for (let u = 0; u < n; u++) {
            const x = Float32Array.from({ length: d }, () => (rand() * 2 - 1) * 2); // some get clipped
            const w = Math.floor(rand() * (maxWeight + 1));
            const q = quantiseUpdate(x, w, p);
            for (let i = 0; i <= d; i++) sum[i] = sum[i]! + q[i]!;
            for (let i = 0; i < d; i++) exact[i]! += w * Math.max(-1.5, Math.min(1.5, x[i]!));
            weights += w;
          }
          const out = dequantiseSum(sum, p);
          expect(out.totalWeight).toBe(weights);
          // Each participant's stochastic rounding is off by < 1 level = 1/s.
          const bound = n / quantisationScale(p) + 1e-6 * (1 + weights);
          for (let i = 0; i < d; i++) {
            expect(Math.abs(out.weightedSum[i]! - exact[i]!)).toBeLessThan(bound);
            if (weights > 0) expect(out.mean[i]).toBeCloseTo(out.weightedSum[i]! / weights, 4);
          }
        },
      ),
      { numRuns: 40 },
    );
  });

  it('rounds stochastically without bias (a deterministic rounding would be 0.45 levels off)', () => {
    // 8-bit field, 2 participants: L = 127, s = 127/2, so x = 0.3 maps to 82.55 levels.
    const p: QuantisationParams = { clip: 1, maxWeight: 1, participants: 2, modulusBits: 8 };
    const x = new Float32Array(20000).fill(0.3);
    const q = quantiseUpdate(x, 1, p);
    let total = 0;
    for (let i = 0; i < x.length; i++) total += q[i]!;
    const target = (Math.fround(0.3) + 1) * quantisationScale(p);
    expect(Math.abs(total / x.length - target)).toBeLessThan(0.02); // sd of the mean ≈ 0.0035
    const seen = new Set(q.subarray(0, x.length));
    expect([...seen].sort()).toEqual([82, 83]);
  });

  it('rejects non-finite values, bad weights and malformed sums with clear errors', () => {
    const p: QuantisationParams = { clip: 1, maxWeight: 4, participants: 3, modulusBits: 32 };
    expect(() => quantiseUpdate(Float32Array.from([0, NaN]), 1, p)).toThrow(/non-finite value at index 1/);
    expect(() => quantiseUpdate(Float32Array.from([0]), 5, p)).toThrow(/weight must be an integer in \[0, 4\]/);
    expect(() => quantiseUpdate(Float32Array.from([0]), 1.5, p)).toThrow(FedsecError);
    expect(() => dequantiseSum(new Uint32Array(1), p)).toThrow(/at least 2 words/);
    expect(() => dequantiseSum(Uint32Array.from([0, 13]), p)).toThrow(/exceeds n·maxWeight/);
  });

  it('gives a zero mean (not NaN) when the total weight is zero', () => {
    const p: QuantisationParams = { clip: 1, maxWeight: 1, participants: 3, modulusBits: 32 };
    const q = quantiseUpdate(Float32Array.from([0.5, -0.5]), 0, p);
    expect([...q]).toEqual([0, 0, 0]);
    expect([...dequantiseSum(q, p).mean]).toEqual([0, 0]);
  });
});
