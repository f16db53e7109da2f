import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AS241_COEFFICIENTS, inverseNormalCdf } from '../../src/attacks/inverse-normal.js';

/** Φ by Marsaglia's series Φ(z) = ½ + φ(z)·Σ z^(2k+1)/(1·3···(2k+1)): independent of AS 241. */
function normalCdf(z: number): number {
  let term = z;
  let sum = z;
  for (let k = 1; k < 500 && Math.abs(term) > 1e-18 * Math.abs(sum); k++) {
    term *= (z * z) / (2 * k + 1);
    sum += term;
  }
  return 0.5 + (Math.exp(-0.5 * z * z) / Math.sqrt(2 * Math.PI)) * sum;
}

describe('inverse normal CDF (AS 241)', () => {
  it('has the coefficients AS 241 publishes: its transcription hash sums match', () => {
    // Wichura lists, per table pair, the sum of the coefficients' mantissas (published to 20 digits:
    // 55.8831928806149014439, 49.33206503301610289036, 47.52583317549289671629).
    const mantissaSum = (xs: readonly number[]) => xs.reduce((s, x) => s + x / 10 ** Math.floor(Math.log10(x)), 0);
    const K = AS241_COEFFICIENTS;
    expect(mantissaSum([...K.A, ...K.B])).toBeCloseTo(55.88319288061490, 12);
    expect(mantissaSum([...K.C, ...K.D])).toBeCloseTo(49.33206503301610, 12);
    expect(mantissaSum([...K.E, ...K.F])).toBeCloseTo(47.52583317549290, 12);
  });

  it('matches standard normal quantiles in all three regions', () => {
    const cases: [number, number][] = [
      [0.5, 0],
      [0.6, 0.2533471031357997],
      [0.975, 1.959963984540054],
      [0.025, -1.959963984540054],
      [0.9, 1.2815515655446004],
      [0.99, 2.3263478740408408],
      [0.999, 3.090232306167813],
      [1e-5, -4.264890793922825],
      [1e-10, -6.361340902404056],
      [1e-300, -37.0470962993612],
    ];
    for (const [p, z] of cases) expect(Math.abs(inverseNormalCdf(p) - z)).toBeLessThanOrEqual(1e-14 * Math.max(1, Math.abs(z)));
  });

  it('inverts Φ, is odd around ½ and increasing', () => {
    fc.assert(
      fc.property(fc.double({ min: 1e-6, max: 1 - 1e-6, noNaN: true }), fc.double({ min: 1e-6, max: 1 - 1e-6, noNaN: true }), (p, q) => {
        const z = inverseNormalCdf(p);
        expect(normalCdf(z)).toBeCloseTo(p, 12);
        expect(inverseNormalCdf(1 - p)).toBeCloseTo(-z, 9);
        if (p < q) expect(inverseNormalCdf(p)).toBeLessThanOrEqual(inverseNormalCdf(q));
      }),
    );
  });

  it('gives ±∞ at 0 and 1 and refuses non-probabilities', () => {
    expect(inverseNormalCdf(0)).toBe(-Infinity);
    expect(inverseNormalCdf(1)).toBe(Infinity);
    for (const bad of [NaN, -0.1, 1.5]) expect(() => inverseNormalCdf(bad)).toThrowError(/needs a probability in \[0, 1\]/);
  });
});
