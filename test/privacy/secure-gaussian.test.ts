import { afterEach, describe, expect, it, vi } from 'vitest';
import { FedsecError } from '../../src/core/errors.js';
import { addGaussianNoise, fillGaussian, gaussianNoise, secureNormal } from '../../src/privacy/secure-gaussian.js';
import { normalCdf } from '../../src/privacy/special.js';

const N = 100_000;

/** One-sample Kolmogorov–Smirnov statistic of `xs` against N(0, 1). */
function ksStatistic(xs: ArrayLike<number>): number {
  const sorted = Float64Array.from(xs).sort();
  const n = sorted.length;
  let d = 0;
  for (let i = 0; i < n; i++) {
    const f = normalCdf(sorted[i]!);
    d = Math.max(d, f - i / n, (i + 1) / n - f);
  }
  return d;
}

/**
 * DKW inequality: P(D > t) ≤ 2·exp(−2nt²). With n = 1e5 and t = 0.0086 a correct sampler fails
 * this test with probability < 8e−7; a sampler whose σ is 5% off (D ≈ 0.012) or shifted by 0.03σ
 * fails it almost surely (checked below).
 */
const KS_THRESHOLD = 0.0086;

function moments(xs: ArrayLike<number>): { mean: number; variance: number; skew: number; kurtosis: number } {
  const n = xs.length;
  let s = 0;
  for (let i = 0; i < n; i++) s += xs[i]!;
  const mean = s / n;
  let m2 = 0;
  let m3 = 0;
  let m4 = 0;
  for (let i = 0; i < n; i++) {
    const d = xs[i]! - mean;
    m2 += d * d;
    m3 += d * d * d;
    m4 += d * d * d * d;
  }
  m2 /= n;
  m3 /= n;
  m4 /= n;
  return { mean, variance: m2, skew: m3 / m2 ** 1.5, kurtosis: m4 / (m2 * m2) };
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe('secure Gaussian sampler', () => {
  it('has the moments of N(0, σ²) (5-standard-error bounds)', () => {
    const sigma = 2;
    const m = moments(fillGaussian(new Float64Array(N), sigma));
    expect(Math.abs(m.mean)).toBeLessThan((5 * sigma) / Math.sqrt(N));
    expect(Math.abs(m.variance / (sigma * sigma) - 1)).toBeLessThan(5 * Math.sqrt(2 / N));
    expect(Math.abs(m.skew)).toBeLessThan(5 * Math.sqrt(6 / N));
    expect(Math.abs(m.kurtosis - 3)).toBeLessThan(5 * Math.sqrt(24 / N));
  });

  it('passes Kolmogorov–Smirnov against the normal CDF', () => {
    expect(ksStatistic(fillGaussian(new Float64Array(N)))).toBeLessThan(KS_THRESHOLD);
    // The float32 path too (σ = 3, standardised).
    const v = gaussianNoise(N, 3);
    expect(ksStatistic(Float64Array.from(v, (x) => x / 3))).toBeLessThan(KS_THRESHOLD);
  });

  it('the KS test rejects slightly broken samplers (so it can fail)', () => {
    const z = fillGaussian(new Float64Array(N));
    expect(ksStatistic(z.map((x) => 1.05 * x))).toBeGreaterThan(KS_THRESHOLD); // σ off by 5%
    expect(ksStatistic(z.map((x) => x + 0.03))).toBeGreaterThan(KS_THRESHOLD); // biased by 0.03σ
    const uniform = Float64Array.from({ length: N }, (_, i) => (Math.sqrt(12) * (i + 0.5)) / N - Math.sqrt(3));
    expect(ksStatistic(uniform)).toBeGreaterThan(KS_THRESHOLD); // right mean and variance, wrong shape
  });

  it('never reuses randomness: across calls and across internal batches', () => {
    const a = fillGaussian(new Float64Array(1 << 16)); // spans two 16 Ki-pair batches
    const b = fillGaussian(new Float64Array(1 << 16));
    const seen = new Set<number>(a);
    expect(seen.size).toBe(a.length); // no repeats within a call (53-bit uniforms: collisions ~2^-20)
    let shared = 0;
    for (const x of b) if (seen.has(x)) shared++;
    expect(shared).toBe(0);
    // Consecutive calls are uncorrelated.
    let sab = 0;
    for (let i = 0; i < a.length; i++) sab += a[i]! * b[i]!;
    expect(Math.abs(sab / a.length)).toBeLessThan(5 / Math.sqrt(a.length));
  });

  it('does not touch Math.random', () => {
    const spy = vi.spyOn(Math, 'random');
    gaussianNoise(1000, 1);
    secureNormal();
    expect(spy).not.toHaveBeenCalled();
  });

  it('addGaussianNoise adds noise of the requested std and leaves the input alone', () => {
    const base = new Float32Array(N).fill(5);
    const out = addGaussianNoise(base, 0.5);
    expect(base[0]).toBe(5);
    const m = moments(out);
    expect(Math.abs(m.mean - 5)).toBeLessThan(5 * 0.5 / Math.sqrt(N));
    expect(Math.abs(Math.sqrt(m.variance) / 0.5 - 1)).toBeLessThan(0.01);
    expect(Array.from(addGaussianNoise(Float32Array.of(1, 2, 3), 0))).toEqual([1, 2, 3]);
  });

  it('fills odd lengths and empty arrays', () => {
    const odd = gaussianNoise(7, 1);
    expect(odd.every((x) => Number.isFinite(x))).toBe(true);
    expect(new Set(odd).size).toBe(7);
    expect(gaussianNoise(0, 1).length).toBe(0);
  });

  it('rejects bad σ and dimensions', () => {
    expect(() => gaussianNoise(10, -1)).toThrow(FedsecError);
    expect(() => gaussianNoise(10, Number.NaN)).toThrow(/finite number ≥ 0/);
    expect(() => addGaussianNoise(new Float32Array(2), Infinity)).toThrow(FedsecError);
    expect(() => gaussianNoise(1.5, 1)).toThrow(/whole number/);
  });
});
