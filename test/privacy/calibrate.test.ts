import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FedsecError } from '../../src/core/errors.js';
import { calibrateNoiseMultiplier } from '../../src/privacy/calibrate.js';
import { RdpAccountant } from '../../src/privacy/rdp-accountant.js';

const epsAt = (z: number, q: number, steps: number, delta: number) =>
  new RdpAccountant().compose({ noiseMultiplier: z, samplingRate: q, steps }).epsilon(delta).epsilon;

describe('calibrateNoiseMultiplier', () => {
  it('recovers σ = 1.5 from the Opacus reference ε (q=0.04, 2250 steps, δ=1e-5)', () => {
    const c = calibrateNoiseMultiplier({ epsilon: 7.3293347, delta: 1e-5, samplingRate: 0.04, steps: 2250 });
    expect(Math.abs(c.noiseMultiplier - 1.5) / 1.5).toBeLessThan(2e-6);
    expect(c.epsilon).toBeLessThanOrEqual(7.3293347);
  });

  it('round trip: the result meets the target and is minimal within the stated 1e-6 relative tolerance', () => {
    fc.assert(
      fc.property(
        fc.double({ min: 0.3, max: 20, noNaN: true }),
        fc.double({ min: 1e-3, max: 0.2, noNaN: true }),
        fc.integer({ min: 1, max: 3000 }),
        fc.constantFrom(1e-5, 1e-6, 1e-3),
        (epsilon, q, steps, delta) => {
          const c = calibrateNoiseMultiplier({ epsilon, delta, samplingRate: q, steps });
          expect(epsAt(c.noiseMultiplier, q, steps, delta)).toBeLessThanOrEqual(epsilon);
          expect(c.epsilon).toBe(epsAt(c.noiseMultiplier, q, steps, delta));
          expect(epsAt(c.noiseMultiplier * (1 - 2e-6), q, steps, delta)).toBeGreaterThan(epsilon);
        },
      ),
      { numRuns: 12 },
    );
  });

  it('finds multipliers below 1 when the target is loose', () => {
    const c = calibrateNoiseMultiplier({ epsilon: 60, delta: 1e-5, samplingRate: 0.01, steps: 100 });
    expect(c.noiseMultiplier).toBeLessThan(1);
    expect(epsAt(c.noiseMultiplier, 0.01, 100, 1e-5)).toBeLessThanOrEqual(60);
    expect(epsAt(c.noiseMultiplier * (1 - 2e-6), 0.01, 100, 1e-5)).toBeGreaterThan(60);
  });

  it('needs no noise when nothing is released', () => {
    expect(calibrateNoiseMultiplier({ epsilon: 1, delta: 1e-5, samplingRate: 0, steps: 100 }).noiseMultiplier).toBe(0);
    expect(calibrateNoiseMultiplier({ epsilon: 1, delta: 1e-5, samplingRate: 0.1, steps: 0 }).noiseMultiplier).toBe(0);
  });

  it('says clearly when the target is impossible', () => {
    const attempt = () => calibrateNoiseMultiplier({ epsilon: 0.001, delta: 1e-5, samplingRate: 0.1, steps: 10 });
    expect(attempt).toThrow(FedsecError);
    expect(attempt).toThrow(/below 0\.003\d+, the smallest ε the RDP accountant can certify .* raise ε or δ/);
    expect(() => calibrateNoiseMultiplier({ epsilon: -1, delta: 1e-5, samplingRate: 0.1, steps: 10 })).toThrow(/positive/);
    expect(() => calibrateNoiseMultiplier({ epsilon: 1, delta: 2, samplingRate: 0.1, steps: 10 })).toThrow(/δ must be in/);
    expect(() => calibrateNoiseMultiplier({ epsilon: 1, delta: 1e-5, samplingRate: 0.1, steps: 1.5 })).toThrow(/whole number/);
  });
});
